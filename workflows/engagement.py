"""A client engagement: one long-running workflow per contract that closes every period of it.

Periods are calendar months in the client's time zone (``billing.period_bounds``, DST-safe). At each period
end the engagement starts the period's BillingCycleWorkflow and waits for it, so a cycle always rates on
its predecessor's approved carried state. Amendments take effect at the next period boundary; pause skips
the periods that pass entirely while paused; terminate bills a final, prorated cycle. The history is handed on with
continue-as-new before it grows large.
"""

from __future__ import annotations

import contextlib
from datetime import datetime, timedelta
from decimal import Decimal

from temporalio import workflow
from temporalio.common import RetryPolicy

with workflow.unsafe.imports_passed_through():
    import billing
    from billing.loader import bound_problems
    from core.permissions import Role
    from workflows import names, visibility
    from workflows.billing_cycle import STATUS_KEY, search_attributes
    from workflows.inputs import (
        Amendment,
        AmendmentStored,
        CycleInput,
        CycleResult,
        EngagementInput,
        EngagementStatus,
        Termination,
    )
    from workflows.liveness import HEARTBEAT_TIMEOUT
    from workflows.update_checks import FieldProblem, refuse, text_problem, text_problems

CYCLES_PER_RUN = 12
DB_RETRY = RetryPolicy(initial_interval=timedelta(seconds=1), maximum_interval=timedelta(minutes=1))
MANAGERS = frozenset({Role.FINANCE.value, Role.OWNER.value, Role.ADMIN.value})
# Column and API limits of what an amendment or termination carries into the database and the audit log.
ACTOR_LIMITS = {"actor_id": 64, "actor_role": 64, "reason": 1000}
MILESTONE_ID_LIMIT = 64


def amendment_problems(amendment: Amendment) -> list[FieldProblem]:
    """Text the database cannot store and decimals outside their kind's bounds, anywhere in the new version."""
    problems = text_problems(amendment, limits=ACTOR_LIMITS)
    bounds = bound_problems(amendment.version, billing.ContractVersion, "/version")
    problems += [FieldProblem(p.path, p.message) for p in bounds]
    return problems


@workflow.defn(name=names.ENGAGEMENT_WORKFLOW)
class EngagementWorkflow:
    @workflow.init
    def __init__(self, inp: EngagementInput) -> None:
        """State comes from the input here, not in ``run``: an Update or signal delivered in the very first
        activation runs before ``run`` starts and must already see it."""
        self.inp: EngagementInput | None = inp
        self.next_period = inp.next_period
        self.paused = inp.paused
        self.paused_at: datetime | None = inp.paused_at
        self.pause_windows: list[tuple[datetime, datetime]] = [(w[0], w[1]) for w in inp.pause_windows]
        self.terms_versions = inp.terms_versions
        self.cycles = inp.cycles
        self.totals: dict[str, Decimal] = dict(inp.totals)
        self.skipped: list[str] = list(inp.skipped_periods)
        self.last_invoice_id: str | None = inp.last_invoice_id
        self.milestones: list[billing.MilestoneAcceptance] = list(inp.pending_milestones)
        self.termination: Termination | None = None
        self.state = "running"

    @workflow.run
    async def run(self, inp: EngagementInput) -> EngagementStatus:
        cycles_this_run = 0
        while True:
            period = billing.Period.parse(self.next_period)
            if inp.end_period is not None and period > billing.Period.parse(inp.end_period):
                self.state = "ended"
                await self._set_contract_status("ended")
                break
            start, end = billing.period_bounds(period, inp.timezone)
            if self.paused and workflow.now() >= start:
                self.state = "paused"
                await workflow.wait_condition(lambda: not self.paused or self.termination is not None)
                self.state = "running"
            if self.termination is None and self._paused_throughout(start, end):
                # The whole period passed while paused: nothing is billed for it.
                self.skipped.append(self.next_period)
                self.next_period = str(period.shift(1))
                continue
            remaining = (end - workflow.now()).total_seconds()
            if remaining > 0:
                await self._sleep_until_end_or_termination(period, remaining)
            final = self._terminates_in(period)
            await self._run_cycle(period, final)
            self.next_period = str(period.shift(1))
            cycles_this_run += 1
            if final:
                self.state = "terminated"
                await self._set_contract_status("terminated")
                break
            if cycles_this_run >= CYCLES_PER_RUN or workflow.info().is_continue_as_new_suggested():
                await workflow.wait_condition(workflow.all_handlers_finished)
                workflow.continue_as_new(self._carry_over())
        return self.status()

    async def _sleep_until_end_or_termination(self, period: billing.Period, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            await workflow.wait_condition(lambda: self._terminates_in(period), timeout=timedelta(seconds=seconds))

    async def _run_cycle(self, period: billing.Period, final: bool) -> None:
        assert self.inp is not None
        next_first_day = period.shift(1).first_day
        due = [m for m in self.milestones if final or m.accepted_on < next_first_day]
        self.milestones = [m for m in self.milestones if m not in due]
        # An engagement started before the client-key attribute existed gets it here (workflows.visibility).
        visibility.backfill(f"engagement-cycle-{period}", [], self.inp.client_key)
        result: CycleResult = await workflow.execute_child_workflow(
            names.BILLING_CYCLE_WORKFLOW,
            CycleInput(
                org_id=self.inp.org_id,
                contract_id=self.inp.contract_id,
                client_id=self.inp.client_id,
                client_key=self.inp.client_key,
                period=str(period),
                timezone=self.inp.timezone,
                config=self.inp.config,
                milestones=due,
                terminated_on=self.termination.effective_on if final and self.termination else None,
            ),
            id=names.billing_cycle_id(self.inp.org_id, self.inp.contract_id, str(period)),
            result_type=CycleResult,
            search_attributes=search_attributes(
                self.inp.org_id,
                self.inp.client_id,
                "waiting_grace",
                client_key=self.inp.client_key,
                period=str(period),
            ),
        )
        self.cycles += 1
        self.totals[result.currency] = self.totals.get(result.currency, Decimal(0)) + result.total
        self.last_invoice_id = result.invoice_id

    def _paused_throughout(self, start: datetime, end: datetime) -> bool:
        return any(paused <= start and resumed >= end for paused, resumed in self.pause_windows)

    def _terminates_in(self, period: billing.Period) -> bool:
        if self.termination is None:
            return False
        return billing.Period.of_date(self.termination.effective_on) <= period

    def _carry_over(self) -> EngagementInput:
        assert self.inp is not None
        return EngagementInput(
            org_id=self.inp.org_id,
            contract_id=self.inp.contract_id,
            client_id=self.inp.client_id,
            client_key=self.inp.client_key,
            timezone=self.inp.timezone,
            next_period=self.next_period,
            end_period=self.inp.end_period,
            config=self.inp.config,
            paused=self.paused,
            paused_at=self.paused_at,
            pause_windows=[w for w in self.pause_windows if w[1] >= workflow.now() - timedelta(days=400)],
            terms_versions=self.terms_versions,
            cycles=self.cycles,
            skipped_periods=self.skipped[-24:],
            totals=self.totals,
            last_invoice_id=self.last_invoice_id,
            pending_milestones=self.milestones,
        )

    async def _set_contract_status(self, status: str) -> None:
        assert self.inp is not None
        await workflow.execute_activity(
            names.SET_CONTRACT_STATUS,
            args=[self.inp.org_id, self.inp.contract_id, status],
            start_to_close_timeout=timedelta(seconds=30),
            heartbeat_timeout=HEARTBEAT_TIMEOUT,
            retry_policy=DB_RETRY,
        )
        visibility.backfill(f"engagement-status-{status}", [STATUS_KEY.value_set(status)], self.inp.client_key)

    def _boundary(self) -> str:
        """The next period boundary: the first period that has not started yet."""
        assert self.inp is not None
        current = billing.period_of_instant(workflow.now(), self.inp.timezone)
        return str(max(current.shift(1), billing.Period.parse(self.next_period)))

    # ---- Updates and signals ---------------------------------------------------------------------
    @workflow.update(name=names.UPDATE_AMEND)
    async def amend(self, amendment: Amendment) -> AmendmentStored:
        assert self.inp is not None
        effective_from = self._boundary()
        stored: AmendmentStored = await workflow.execute_activity(
            names.STORE_AMENDMENT,
            args=[self.inp.org_id, self.inp.contract_id, effective_from, amendment],
            result_type=AmendmentStored,
            start_to_close_timeout=timedelta(seconds=30),
            heartbeat_timeout=HEARTBEAT_TIMEOUT,
            retry_policy=RetryPolicy(maximum_attempts=3, non_retryable_error_types=["InvalidTerms"]),
        )
        self.terms_versions = stored.terms_versions
        return stored

    @amend.validator
    def _validate_amend(self, amendment: Amendment) -> None:
        refuse(amendment_problems(amendment), "amendment")
        if amendment.actor_role not in MANAGERS:
            raise ValueError(f"role {amendment.actor_role} may not amend contracts")
        if self.state in ("terminated", "ended"):
            raise ValueError(f"the engagement has {self.state}")

    @workflow.signal(name=names.SIGNAL_PAUSE)
    def pause(self) -> None:
        if not self.paused:
            self.paused = True
            self.paused_at = workflow.now()

    @workflow.signal(name=names.SIGNAL_RESUME)
    def resume(self) -> None:
        if self.paused:
            self.paused = False
            self.pause_windows.append((self.paused_at or workflow.now(), workflow.now()))
            self.paused_at = None

    @workflow.update(name=names.UPDATE_TERMINATE)
    async def terminate(self, termination: Termination) -> str:
        self.termination = termination
        return str(billing.Period.of_date(termination.effective_on))

    @terminate.validator
    def _validate_terminate(self, termination: Termination) -> None:
        assert self.inp is not None
        refuse(text_problems(termination, limits=ACTOR_LIMITS), "termination")
        if termination.actor_role not in MANAGERS:
            raise ValueError(f"role {termination.actor_role} may not terminate contracts")
        if self.termination is not None or self.state in ("terminated", "ended"):
            raise ValueError("the engagement is already terminating or over")
        if billing.Period.of_date(termination.effective_on) < billing.Period.parse(self.next_period):
            raise ValueError(f"{termination.effective_on} falls in a period that is already closed")

    @workflow.signal(name=names.SIGNAL_MILESTONE_ACCEPTED)
    def milestone_accepted(self, acceptance: billing.MilestoneAcceptance) -> None:
        """A signal cannot be refused: an id no database column could hold is logged and dropped, never
        carried into the next cycle's inputs (where it would fail the draft's write on every retry)."""
        problem = text_problem(acceptance.id, MILESTONE_ID_LIMIT)
        if problem is not None:
            workflow.logger.warning("milestone acceptance ignored: its id %s", problem)
            return
        if all(m.id != acceptance.id for m in self.milestones):
            self.milestones.append(acceptance)

    @workflow.query(name=names.QUERY_STATUS)
    def status(self) -> EngagementStatus:
        return EngagementStatus(
            contract_id=self.inp.contract_id if self.inp else "",
            state="paused" if self.paused and self.state == "running" else self.state,
            next_period=self.next_period if self.state not in ("terminated", "ended") else None,
            terms_versions=self.terms_versions,
            cycles=self.cycles,
            totals=self.totals,
            skipped_periods=self.skipped,
            last_invoice_id=self.last_invoice_id,
            terminated_on=self.termination.effective_on if self.termination else None,
        )
