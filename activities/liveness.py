"""Heartbeats for activities that have no progress to report, so that a killed worker is noticed in seconds.

Temporal learns that a worker died only from a missed heartbeat or, failing that, from the attempt's
start-to-close timeout, which is minutes for the billing activities: a SIGKILLed worker in the middle of a
ledger post left the invoice unposted for two minutes. These activities are short database or ledger writes,
so the beat comes from a side task that lives exactly as long as the activity coroutine. The first beat waits
a third of the timeout: a write that finishes sooner (nearly all of them) costs no heartbeat call at all.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Awaitable, Callable
from typing import ParamSpec, TypeVar

from temporalio import activity

P = ParamSpec("P")
R = TypeVar("R")


def heartbeating(fn: Callable[P, Awaitable[R]]) -> Callable[P, Awaitable[R]]:
    """Beat three times per heartbeat timeout while ``fn`` runs; without a timeout (or outside Temporal, as
    when a test calls the method directly), call ``fn`` as it is."""

    @functools.wraps(fn)
    async def beating(*args: P.args, **kwargs: P.kwargs) -> R:
        timeout = activity.info().heartbeat_timeout if activity.in_activity() else None
        if not timeout:
            return await fn(*args, **kwargs)
        beat = asyncio.create_task(_beat_every(timeout.total_seconds() / 3))
        try:
            return await fn(*args, **kwargs)
        finally:
            beat.cancel()

    return beating


async def _beat_every(seconds: float) -> None:
    while True:
        await asyncio.sleep(seconds)
        activity.heartbeat()
