"""One capacity plan (or what-if) solved durably.

1. ``prepare_capacity_plan`` builds the ``scheduling`` instance (from the org's people and the request, or
   by applying a what-if to the base plan's instance) and stores it on the plan row.
2. ``solve_capacity_plan`` runs ``scheduling.solve`` in a worker thread, heartbeating every second. If the
   worker dies, the heartbeat timeout makes Temporal retry the activity on another worker, which resumes
   from the best plan checkpointed so far with the time budget that is left. Cancelling the workflow
   cancels the activity: the solver stops and the best plan so far is stored with status ``cancelled``.
3. Anything that cannot succeed (invalid instance, retries spent) is recorded by ``finish_capacity_plan``.

Every write happens in the activities; the workflow only orders them and carries two ids, so histories stay
small whatever the size of the plan.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Literal

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, CancelledError

with workflow.unsafe.imports_passed_through():
    from workflows import names
    from workflows.capacity_inputs import CapacityFinish, CapacityPlanInput, CapacitySolveOutcome
    from workflows.liveness import HEARTBEAT_TIMEOUT

PREPARE_RETRY = RetryPolicy(
    initial_interval=timedelta(milliseconds=300),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(seconds=10),
    maximum_attempts=8,
    non_retryable_error_types=["InstanceError", "PlanNotFound"],
)
SOLVE_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(seconds=30),
    maximum_attempts=5,
    non_retryable_error_types=["InstanceError", "PlanNotFound"],
)
FINISH_RETRY = RetryPolicy(maximum_interval=timedelta(seconds=30))


def _cause(error: BaseException) -> str:
    """The root cause's text, made storable: a NUL or lone surrogate in it would make the plan's failure
    itself fail to record (``finish_capacity_plan`` writes it to a text column)."""
    while error.__cause__ is not None:
        error = error.__cause__
    return str(error).replace("\x00", "\\0").encode("utf-8", "replace").decode("utf-8")


@workflow.defn(name=names.CAPACITY_PLAN_WORKFLOW)
class CapacityPlanWorkflow:
    def __init__(self) -> None:
        self._stage = "queued"

    @workflow.query(name=names.QUERY_CAPACITY_STAGE)
    def stage(self) -> str:
        return self._stage

    @workflow.run
    async def run(self, inp: CapacityPlanInput) -> CapacitySolveOutcome:
        try:
            self._stage = "preparing"
            await workflow.execute_activity(
                names.PREPARE_CAPACITY_PLAN,
                inp,
                start_to_close_timeout=timedelta(minutes=2),
                heartbeat_timeout=HEARTBEAT_TIMEOUT,
                retry_policy=PREPARE_RETRY,
            )
            self._stage = "solving"
            outcome: CapacitySolveOutcome = await workflow.execute_activity(
                names.SOLVE_CAPACITY_PLAN,
                inp,
                result_type=CapacitySolveOutcome,
                start_to_close_timeout=timedelta(seconds=2 * inp.time_limit_s + 300),
                heartbeat_timeout=HEARTBEAT_TIMEOUT,
                retry_policy=SOLVE_RETRY,
                # A cancelled solve still returns (and stores) its best plan so far: wait for it.
                cancellation_type=workflow.ActivityCancellationType.WAIT_CANCELLATION_COMPLETED,
            )
        except asyncio.CancelledError:
            return await self._finish(inp, "cancelled", "cancelled before a plan was found")
        except ActivityError as err:
            if isinstance(err.cause, CancelledError):
                return await self._finish(inp, "cancelled", "cancelled before a plan was found")
            return await self._finish(inp, "failed", _cause(err))
        self._stage = outcome.status
        return outcome

    async def _finish(
        self, inp: CapacityPlanInput, status: Literal["cancelled", "failed"], message: str
    ) -> CapacitySolveOutcome:
        self._stage = status
        finish = CapacityFinish(org_id=inp.org_id, plan_id=inp.plan_id, status=status, message=message)
        await workflow.execute_activity(
            names.FINISH_CAPACITY_PLAN,
            finish,
            start_to_close_timeout=timedelta(seconds=30),
            heartbeat_timeout=HEARTBEAT_TIMEOUT,
            retry_policy=FINISH_RETRY,
        )
        return CapacitySolveOutcome(status=status, message=message)
