"""Metering housekeeping as durable workflows.

``MeteringWorkflow`` (one per cluster, id ``agencyflow/metering``) keeps the usage rollups folded and the
budgets evaluated: its ``compact_usage`` activity loops for up to ``max_seconds`` (heartbeating), folding
committed ingest batches and firing budget thresholds; it returns early with the webhook deliveries it
created, which the workflow starts as child workflows (abandoned on continue-as-new, id per delivery, so a
delivery is never run twice at once). It continues as new every ``RUNS_PER_HISTORY`` activity runs.

``WebhookDeliveryWorkflow`` delivers one webhook: the activity signs and POSTs it and logs every attempt;
Temporal retries it with exponential backoff; when the attempts are exhausted the delivery is marked failed.
"""

from __future__ import annotations

import contextlib
from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy, WorkflowIDReusePolicy
from temporalio.exceptions import ActivityError, WorkflowAlreadyStartedError
from temporalio.workflow import ParentClosePolicy

from workflows.liveness import HEARTBEAT_TIMEOUT
from workflows.names import (
    COMPACT_USAGE,
    DELIVER_WEBHOOK,
    FAIL_WEBHOOK_DELIVERY,
    METERING_WORKFLOW,
    WEBHOOK_DELIVERY_WORKFLOW,
    webhook_delivery_id,
)

RUNS_PER_HISTORY = 200
COMPACT_SECONDS = 60.0
MAX_BATCHES = 200
DELIVERY_ATTEMPTS = 12
FIRST_RETRY_S = 5.0
MAX_RETRY_INTERVAL = timedelta(hours=1)


@workflow.defn(name=WEBHOOK_DELIVERY_WORKFLOW)
class WebhookDeliveryWorkflow:
    @workflow.run
    async def run(
        self,
        org_id: str,
        delivery_id: str,
        first_retry_s: float = FIRST_RETRY_S,
        max_attempts: int = DELIVERY_ATTEMPTS,
    ) -> str:
        try:
            outcome: str = await workflow.execute_activity(
                DELIVER_WEBHOOK,
                args=[org_id, delivery_id],
                start_to_close_timeout=timedelta(seconds=60),
                heartbeat_timeout=HEARTBEAT_TIMEOUT,
                retry_policy=RetryPolicy(
                    initial_interval=timedelta(seconds=first_retry_s),
                    backoff_coefficient=2.0,
                    maximum_interval=MAX_RETRY_INTERVAL,
                    maximum_attempts=max_attempts,
                    non_retryable_error_types=["WebhookGone"],
                ),
            )
            return outcome
        except ActivityError as exc:
            reason = str(exc.cause or exc)
            await workflow.execute_activity(
                FAIL_WEBHOOK_DELIVERY,
                args=[org_id, delivery_id, reason],
                start_to_close_timeout=timedelta(seconds=30),
                heartbeat_timeout=HEARTBEAT_TIMEOUT,
                retry_policy=RetryPolicy(maximum_interval=timedelta(minutes=1)),
            )
            return "failed"


@workflow.defn(name=METERING_WORKFLOW)
class MeteringWorkflow:
    @workflow.run
    async def run(self, max_seconds: float = COMPACT_SECONDS, max_batches: int = MAX_BATCHES) -> None:
        for _ in range(RUNS_PER_HISTORY):
            deliveries: list[list[str]] = await workflow.execute_activity(
                COMPACT_USAGE,
                args=[max_seconds, max_batches],
                start_to_close_timeout=timedelta(seconds=max_seconds + 120),
                heartbeat_timeout=timedelta(seconds=30),
                retry_policy=RetryPolicy(maximum_interval=timedelta(minutes=1)),
            )
            for org_id, delivery_id in deliveries:
                # Already running or done (a redelivered activity result): nothing to do.
                with contextlib.suppress(WorkflowAlreadyStartedError):
                    await workflow.start_child_workflow(
                        WEBHOOK_DELIVERY_WORKFLOW,
                        args=[org_id, delivery_id],
                        id=webhook_delivery_id(delivery_id),
                        parent_close_policy=ParentClosePolicy.ABANDON,
                        id_reuse_policy=WorkflowIDReusePolicy.ALLOW_DUPLICATE_FAILED_ONLY,
                    )
        workflow.continue_as_new(args=[max_seconds, max_batches])
