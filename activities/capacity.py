"""Capacity-plan activities: build the instance, solve it with heartbeats, record the outcome.

``solve_capacity_plan`` runs the CPU-bound ``scheduling.solve`` in a thread of its own pool while the
activity coroutine stays on the worker's event loop: every second it heartbeats (progress plus the solve
time spent so far), every few seconds it stores the progress and, when the solver hands over a better plan,
a checkpoint on the plan row. Three ways it ends:

* normally: plan, checker report (and diff for what-ifs) are stored, status ``done``;
* the workflow was cancelled: the solver is told to stop (``should_stop``), returns its best plan promptly,
  which is stored with status ``cancelled``; the activity completes normally;
* the worker goes away: either it is shutting down (the solver is stopped, the activity fails and is
  retried) or it died (heartbeats stop, Temporal retries after the heartbeat timeout). The retry reads the
  time already spent from the last heartbeat, starts from the checkpoint and uses the time that is left.

Every write is conditional on the plan still being queued or solving, so redelivered or late attempts
cannot overwrite a finished plan.
"""

from __future__ import annotations

import asyncio
import functools
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import msgspec
from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.capacity_instance import build_from_request, build_what_if, decode_instance
from activities.data_errors import data_errors_not_retried
from activities.liveness import heartbeating
from core.settings import Settings
from persistence.db import tenant_session
from persistence.models import CapacityPlan
from persistence.models.capacity_plan import ACTIVE_STATUSES
from scheduling import (
    Allocation,
    InstanceError,
    Plan,
    Progress,
    SolveOptions,
    check_plan,
    diff_plans,
    solve,
)
from workflows import names
from workflows.capacity_inputs import (
    CapacityFinish,
    CapacityPlanInput,
    CapacitySolveOutcome,
    PlanRequest,
    SolveHeartbeat,
    SolveSettings,
    WhatIfRequest,
)

PERSIST_EVERY_S = 2.0
"""How often progress is written to the plan row (heartbeats go every second)."""
MIN_RESUME_S = 3.0
"""A resumed solve gets at least this long even if the earlier attempts used up the time limit."""


def _builtins(value: Any) -> Any:
    return msgspec.to_builtins(value)


def _instance_error(exc: InstanceError) -> ApplicationError:
    return ApplicationError("\n".join(exc.errors), type="InstanceError", non_retryable=True)


class _Live:
    """What the solver thread hands to the activity coroutine (latest progress and checkpoint)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.progress: Progress | None = None
        self.checkpoint: tuple[list[Allocation], float, float] | None = None

    def on_progress(self, progress: Progress) -> None:
        with self._lock:
            self.progress = progress

    def on_checkpoint(self, allocations: list[Allocation], objective: float) -> None:
        elapsed = self.progress.elapsed_s if self.progress else 0.0
        with self._lock:
            self.checkpoint = (allocations, objective, elapsed)

    def take_checkpoint(self) -> tuple[list[Allocation], float, float] | None:
        with self._lock:
            taken, self.checkpoint = self.checkpoint, None
        return taken


class CapacityActivities:
    def __init__(self, sessionmaker: async_sessionmaker[AsyncSession], settings: Settings) -> None:
        self.sessionmaker = sessionmaker
        self.settings = settings
        # Solves are CPU-bound: at most two at a time per worker process, beside the event loop.
        self.executor = ThreadPoolExecutor(max_workers=2, thread_name_prefix="capacity-solve")

    def all(self) -> list[Any]:
        return [self.prepare_capacity_plan, self.solve_capacity_plan, self.finish_capacity_plan]

    async def _load(self, session: AsyncSession, plan_id: str, *, lock: bool = False) -> CapacityPlan | None:
        query = select(CapacityPlan).where(CapacityPlan.id == uuid.UUID(plan_id))
        if lock:
            query = query.with_for_update()
        return (await session.execute(query)).scalar_one_or_none()

    async def _update(self, inp: CapacityPlanInput, **values: Any) -> bool:
        """Conditional update: only while the plan is still queued or solving."""
        async with tenant_session(self.sessionmaker, uuid.UUID(inp.org_id)) as session:
            result = await session.execute(
                update(CapacityPlan)
                .where(CapacityPlan.id == uuid.UUID(inp.plan_id), CapacityPlan.status.in_(ACTIVE_STATUSES))
                .values(updated_at=func.now(), **values)
            )
            return bool(result.rowcount)  # type: ignore[attr-defined]

    # ---- 1. the instance ------------------------------------------------------------------------------
    @activity.defn(name=names.PREPARE_CAPACITY_PLAN)
    @heartbeating
    @data_errors_not_retried
    async def prepare_capacity_plan(self, inp: CapacityPlanInput) -> None:
        async with tenant_session(self.sessionmaker, uuid.UUID(inp.org_id)) as session:
            plan = await self._load(session, inp.plan_id, lock=True)
            if plan is None:
                # The API starts the workflow inside its transaction; the row appears when it commits.
                raise ApplicationError(f"capacity plan {inp.plan_id} is not visible yet", type="PlanNotVisible")
            if plan.instance is not None or plan.status not in ACTIVE_STATUSES:
                return  # already prepared (a retry) or finished
            try:
                if plan.kind == "what_if":
                    assert plan.base_plan_id is not None
                    base = await self._load(session, str(plan.base_plan_id))
                    if base is None or base.instance is None:
                        raise InstanceError([f"base plan {plan.base_plan_id} has no instance"])
                    built = await build_what_if(session, plan, base)
                    project_ids = list(dict.fromkeys([*base.project_ids, *built.project_ids]))
                else:
                    built = await build_from_request(session, plan)
                    project_ids = built.project_ids
            except InstanceError as exc:
                raise _instance_error(exc) from exc
            plan.instance = _builtins(built.instance)
            plan.start_date = built.instance.start
            plan.weeks = built.instance.weeks
            plan.project_ids = project_ids
            plan.notes = [*plan.notes, *built.notes]

    # ---- 2. the solve ---------------------------------------------------------------------------------
    @activity.defn(name=names.SOLVE_CAPACITY_PLAN)
    @data_errors_not_retried
    async def solve_capacity_plan(self, inp: CapacityPlanInput) -> CapacitySolveOutcome:
        info = activity.info()
        earlier: SolveHeartbeat | None = None
        if info.heartbeat_details:
            try:
                earlier = msgspec.convert(info.heartbeat_details[0], SolveHeartbeat, strict=False)
            except (msgspec.ValidationError, TypeError):
                earlier = None
        async with tenant_session(self.sessionmaker, uuid.UUID(inp.org_id)) as session:
            plan = await self._load(session, inp.plan_id, lock=True)
            if plan is None:
                raise ApplicationError(
                    f"capacity plan {inp.plan_id} not found", type="PlanNotFound", non_retryable=True
                )
            if plan.status not in ACTIVE_STATUSES:
                return _outcome_of(plan)
            if plan.instance is None:
                raise ApplicationError("capacity plan has no instance", type="PlanNotFound", non_retryable=True)
            try:
                instance = decode_instance(plan.instance)
            except InstanceError as exc:
                raise _instance_error(exc) from exc
            settings = _solve_settings(plan)
            base_plan: Plan | None = None
            if plan.kind == "what_if" and plan.base_plan_id is not None:
                base = await self._load(session, str(plan.base_plan_id))
                if base is not None and base.result is not None:
                    base_plan = msgspec.convert(base.result, Plan, strict=False)
            start_from: list[Allocation] | Plan | None = base_plan
            spent = earlier.elapsed_s if earlier else 0.0
            resumed_note: str | None = None
            if plan.checkpoint:
                start_from = msgspec.convert(plan.checkpoint["allocations"], list[Allocation], strict=False)
                spent = max(spent, float(plan.checkpoint.get("elapsed_s", 0.0)))
                resumed_note = (
                    f"attempt {info.attempt} resumed after {spent:.1f} s of solving from a checkpoint "
                    f"with objective {float(plan.checkpoint['objective']):,.2f}"
                )
            plan.status = "solving"
            plan.attempts = plan.attempts + 1
            if plan.started_at is None:
                plan.started_at = func.now()
            if resumed_note:
                plan.notes = [*plan.notes, resumed_note]

        time_limit = max(settings.time_limit_s - spent, min(settings.time_limit_s, MIN_RESUME_S))
        options = SolveOptions(
            time_limit_s=time_limit,
            relative_gap_limit=settings.relative_gap_limit,
            progress_interval_s=1.0,
            checkpoint_interval_s=5.0,
        )
        live = _Live()
        stop = threading.Event()
        loop = asyncio.get_running_loop()
        task = loop.run_in_executor(
            self.executor,
            functools.partial(
                solve,
                instance,
                options,
                live.on_progress,
                stop.is_set,
                start_from=start_from,
                checkpoint=live.on_checkpoint,
            ),
        )
        checkpoint_objective = plan.checkpoint.get("objective") if plan.checkpoint else None
        last_persist = 0.0
        try:
            while True:
                done, _ = await asyncio.wait({task}, timeout=1.0)
                if done:
                    break
                saved = live.take_checkpoint()
                if saved is not None:
                    allocations, objective, elapsed = saved
                    await self._update(
                        inp,
                        checkpoint={
                            "objective": objective,
                            "elapsed_s": spent + elapsed,
                            "allocations": _builtins(allocations),
                        },
                    )
                    checkpoint_objective = objective
                progress = live.progress
                activity.heartbeat(_heartbeat(progress, spent, checkpoint_objective))
                if progress is not None and time.monotonic() - last_persist >= PERSIST_EVERY_S:
                    last_persist = time.monotonic()
                    await self._update(inp, progress=_progress_doc(progress, spent, info.attempt))
        except asyncio.CancelledError:
            stop.set()
            details = activity.cancellation_details()
            if details is None or not details.cancel_requested:
                # Worker shutdown (or the activity timed out): leave the plan to the retry.
                await asyncio.shield(asyncio.wait({task}))
                raise ApplicationError("solve interrupted (worker shutting down); it resumes on retry") from None
            # The workflow was cancelled: the solver returns its best plan promptly; store it.
            result = await asyncio.shield(task)
            return await asyncio.shield(self._store(inp, instance, result, base_plan, spent, info.attempt))
        except BaseException:
            stop.set()
            raise
        try:
            result = task.result()
        except InstanceError as exc:
            raise _instance_error(exc) from exc
        return await self._store(inp, instance, result, base_plan, spent, info.attempt)

    async def _store(
        self,
        inp: CapacityPlanInput,
        instance: Any,
        result: Plan,
        base_plan: Plan | None,
        spent: float,
        attempt: int,
    ) -> CapacitySolveOutcome:
        report = check_plan(instance, result)
        status = "cancelled" if result.status == "cancelled" else "done"
        final = Progress(
            phase="done",
            elapsed_s=result.stats.wall_seconds,
            best_objective=result.objective,
            bound=result.bound,
            gap=result.gap,
            solutions=result.stats.model_solutions,
            message=result.stop_reason,
        )
        stored = await self._update(
            inp,
            status=status,
            result=_builtins(result),
            check_report={"ok": report.ok, **_builtins(report)},
            diff=_builtins(diff_plans(base_plan, result)) if base_plan is not None else None,
            progress=_progress_doc(final, spent, attempt),
            checkpoint=None,
            finished_at=func.now(),
        )
        if not stored:
            async with tenant_session(self.sessionmaker, uuid.UUID(inp.org_id)) as session:
                plan = await self._load(session, inp.plan_id)
                assert plan is not None
                return _outcome_of(plan)
        return CapacitySolveOutcome(status=status, objective=result.objective, gap=result.gap)

    # ---- 3. failures and early cancellation -----------------------------------------------------------
    @activity.defn(name=names.FINISH_CAPACITY_PLAN)
    @heartbeating
    @data_errors_not_retried
    async def finish_capacity_plan(self, inp: CapacityFinish) -> None:
        async with tenant_session(self.sessionmaker, uuid.UUID(inp.org_id)) as session:
            plan = await self._load(session, inp.plan_id, lock=True)
            if plan is None or plan.status not in ACTIVE_STATUSES:
                return
            plan.status = inp.status
            plan.finished_at = func.now()
            plan.checkpoint = None
            if inp.status == "failed":
                plan.error = inp.message
            else:
                plan.notes = [*plan.notes, inp.message]


def _solve_settings(plan: CapacityPlan) -> SolveSettings:
    if plan.kind == "what_if" and plan.scenario is not None:
        scenario = msgspec.convert(plan.scenario, WhatIfRequest, strict=False)
        if scenario.solve is not None:
            return scenario.solve
        return SolveSettings(time_limit_s=plan.time_limit_s)
    return msgspec.convert(plan.request, PlanRequest, strict=False).solve


def _heartbeat(progress: Progress | None, spent: float, checkpoint_objective: float | None) -> SolveHeartbeat:
    if progress is None:
        return SolveHeartbeat(phase="starting", elapsed_s=spent, checkpoint_objective=checkpoint_objective)
    return SolveHeartbeat(
        phase=progress.phase,
        elapsed_s=spent + progress.elapsed_s,
        best_objective=progress.best_objective,
        bound=progress.bound,
        gap=progress.gap,
        checkpoint_objective=checkpoint_objective,
    )


def _progress_doc(progress: Progress, spent: float, attempt: int) -> dict[str, Any]:
    doc: dict[str, Any] = _builtins(progress)
    doc["elapsed_s"] = round(spent + progress.elapsed_s, 3)
    doc["attempt"] = attempt
    return doc


def _outcome_of(plan: CapacityPlan) -> CapacitySolveOutcome:
    result = plan.result or {}
    return CapacitySolveOutcome(
        status=plan.status, objective=result.get("objective"), gap=result.get("gap"), message=plan.error or ""
    )
