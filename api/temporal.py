"""A lazily connected, shared Temporal client: the API starts even while Temporal is still coming up."""

from __future__ import annotations

import asyncio

from temporalio.client import Client

from workflows.converter import DATA_CONVERTER


class TemporalClientProvider:
    def __init__(self, address: str, namespace: str) -> None:
        self.address = address
        self.namespace = namespace
        self._client: Client | None = None
        self._lock = asyncio.Lock()

    async def __call__(self) -> Client:
        if self._client is not None:
            return self._client
        async with self._lock:
            if self._client is None:
                self._client = await Client.connect(
                    self.address, namespace=self.namespace, data_converter=DATA_CONVERTER
                )
            return self._client
