"""The ceiling of bench/month_close.py: a workflow that runs one activity that does nothing.

In its own module so Temporal's sandbox can import it by name.
"""

from __future__ import annotations

import threading
from datetime import timedelta

from temporalio import activity, workflow

NOOP_ACTIVITY = "bench_noop"


class _Counter:
    def __init__(self) -> None:
        self.value = 0
        self._lock = threading.Lock()

    def bump(self) -> None:
        with self._lock:
            self.value += 1


noop_counter = _Counter()


@activity.defn(name=NOOP_ACTIVITY)
async def noop_activity(name: str) -> None:
    noop_counter.bump()


@workflow.defn(name="BenchNoop")
class NoopWorkflow:
    @workflow.run
    async def run(self, name: str) -> None:
        await workflow.execute_activity(name, name, start_to_close_timeout=timedelta(seconds=30))
