"""Housekeeping that must happen forever and exactly once per cluster: expiring idempotency keys.

A single long-lived workflow (fixed id, so starting it twice is a no-op) sleeps durably between runs and
continues as new each day so its history stays small.
"""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy

from workflows.liveness import HEARTBEAT_TIMEOUT
from workflows.names import MAINTENANCE_WORKFLOW, PURGE_IDEMPOTENCY_KEYS

RETENTION_HOURS = 24
RUN_EVERY = timedelta(hours=1)
RUNS_PER_HISTORY = 24


@workflow.defn(name=MAINTENANCE_WORKFLOW)
class MaintenanceWorkflow:
    @workflow.run
    async def run(self, retention_hours: int = RETENTION_HOURS) -> None:
        for _ in range(RUNS_PER_HISTORY):
            await workflow.execute_activity(
                PURGE_IDEMPOTENCY_KEYS,
                retention_hours,
                start_to_close_timeout=timedelta(minutes=5),
                heartbeat_timeout=HEARTBEAT_TIMEOUT,
                retry_policy=RetryPolicy(maximum_interval=timedelta(minutes=5)),
            )
            await workflow.sleep(RUN_EVERY)
        workflow.continue_as_new(retention_hours)
