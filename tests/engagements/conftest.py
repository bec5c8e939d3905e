"""A real worker (every workflow and activity of the product) and an API bound to it, per test module."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import msgspec
import pytest
from temporalio.client import Client
from temporalio.worker import Worker

from activities.registry import build_activities
from api.app import create_app
from cli.worker import sandbox_runner
from core.settings import Settings, load_settings
from tests.conftest import asgi_client
from workflows.registry import WORKFLOWS


@dataclass
class Stack:
    settings: Settings
    client: httpx.AsyncClient
    temporal: object


@asynccontextmanager
async def product_stack(
    temporal_client: Client, sessionmaker, app_database_url: str, ledger_dir: Path, queue_prefix: str
) -> AsyncIterator[tuple[Settings, httpx.AsyncClient]]:
    """Every workflow and activity of the product on a worker of its own, and an API bound to it."""
    settings = msgspec.structs.replace(
        load_settings(),
        task_queue=f"{queue_prefix}-{uuid.uuid4().hex[:8]}",
        ledger_dir=ledger_dir,
        temporal_address=temporal_client.service_client.config.target_host,
    )
    worker = Worker(
        temporal_client,
        task_queue=settings.task_queue,
        workflows=WORKFLOWS,
        activities=build_activities(sessionmaker=sessionmaker, settings=settings),
        workflow_runner=sandbox_runner(),
    )
    running = asyncio.create_task(worker.run())
    try:
        async with asgi_client(create_app(settings, database_url=app_database_url)) as client:
            yield settings, client
    finally:
        await worker.shutdown()
        await running


@pytest.fixture(scope="module")
async def stack(temporal_env, sessionmaker, app_database_url, tmp_path_factory) -> AsyncIterator[Stack]:
    ledger_dir: Path = tmp_path_factory.mktemp("ledgers")
    async with product_stack(temporal_env.client, sessionmaker, app_database_url, ledger_dir, "engagements") as (
        settings,
        client,
    ):
        yield Stack(settings=settings, client=client, temporal=temporal_env.client)


async def eventually(probe, *, timeout: float = 30.0, interval: float = 0.1):  # type: ignore[no-untyped-def]
    """Poll ``probe`` (async, returns a value or None) until it returns something truthy."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        value = await probe()
        if value:
            return value
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"condition not met within {timeout} s")
        await asyncio.sleep(interval)


HISTORIES = Path(__file__).parent.parent / "histories"


async def record_histories(temporal_client, workflow_ids: dict[str, str]) -> None:
    """With AGENCYFLOW_RECORD_HISTORIES=1, save the histories of a finished scenario under tests/histories/
    so the replay test catches any workflow change that would break running engagements."""
    import os

    if os.environ.get("AGENCYFLOW_RECORD_HISTORIES") != "1":
        return
    HISTORIES.mkdir(exist_ok=True)
    for name, workflow_id in workflow_ids.items():
        history = await temporal_client.get_workflow_handle(workflow_id).fetch_history()
        (HISTORIES / f"{name}.json").write_text(history.to_json())
