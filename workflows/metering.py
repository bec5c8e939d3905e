"""Metering housekeeping as durable workflows.

``MeteringWorkflow`` (one per cluster, id ``agencyflow/metering``) keeps the usage rollups folded, the
budgets evaluated and the webhook deliveries started, in a loop of two activities: ``fold_usage`` folds
committed ingest batches and fires budget thresholds for up to ``max_seconds`` (returning early when alerts
fired), then ``dispatch_webhook_deliveries`` starts the delivery workflows that are due. Folding never waits
on a delivery: a target that fails for hours only keeps its own deliveries retrying in their own workflows,
while every org's usage goes on being folded (issue 13). The loop's history is a constant handful of events
per round whatever the deliveries do, and the workflow continues as new every ``runs_per_history`` rounds
(or sooner if Temporal suggests it).

Runs started before the dispatcher existed replay their recorded ``compact_usage`` + child-start loop
(``workflow.patched(DISPATCHER_PATCH)`` is false for them) until they continue as new; ``compact_usage`` no
longer returns old pending deliveries, so those runs fold too.

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
    DISPATCH_WEBHOOKS,
    FAIL_WEBHOOK_DELIVERY,
    FOLD_USAGE,
    METERING_WORKFLOW,
    WEBHOOK_DELIVERY_WORKFLOW,
    webhook_delivery_id,
)

RUNS_PER_HISTORY = 200
MAX_HISTORY_EVENTS = 5_000
"""Continue as new past this many events even before ``runs_per_history`` rounds (a safety net: a round
adds about a dozen)."""
DISPATCH_SECONDS = 30.0
DISPATCHER_PATCH = "metering-dispatcher"
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
    async def run(
        self,
        max_seconds: float = COMPACT_SECONDS,
        max_batches: int = MAX_BATCHES,
        runs_per_history: int = RUNS_PER_HISTORY,
    ) -> None:
        if not workflow.patched(DISPATCHER_PATCH):
            await self._run_before_dispatcher(max_seconds, max_batches)
            return
        for _ in range(runs_per_history):
            await workflow.execute_activity(
                FOLD_USAGE,
                args=[max_seconds, max_batches],
                start_to_close_timeout=timedelta(seconds=max_seconds + 120),
                heartbeat_timeout=timedelta(seconds=30),
                retry_policy=RetryPolicy(maximum_interval=timedelta(minutes=1)),
            )
            try:
                await workflow.execute_activity(
                    DISPATCH_WEBHOOKS,
                    args=[DISPATCH_SECONDS],
                    start_to_close_timeout=timedelta(seconds=DISPATCH_SECONDS + 60),
                    heartbeat_timeout=HEARTBEAT_TIMEOUT,
                    retry_policy=RetryPolicy(maximum_attempts=3, maximum_interval=timedelta(seconds=10)),
                )
            except ActivityError:
                # Temporal or the database refusing starts: the claimed rows come due again by themselves,
                # and the next round tries again. Folding goes on meanwhile.
                workflow.logger.warning("webhook dispatch failed; retried next round")
            info = workflow.info()
            if info.is_continue_as_new_suggested() or info.get_current_history_length() > MAX_HISTORY_EVENTS:
                break
        workflow.continue_as_new(args=[max_seconds, max_batches, runs_per_history])

    async def _run_before_dispatcher(self, max_seconds: float, max_batches: int) -> None:
        """The loop of runs recorded before the dispatcher, kept command for command so they replay."""
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
