"""One contract's billing for one period, from grace period to approved, numbered, ledger-bound invoice.

Steps: wait out the grace period for late usage → gather inputs (activity) → rate with the pure engine →
write the draft idempotently (the period and revision are the key) → reconcile against the live view and
block on a mismatch → wait for finance (approve / reject / adjust Updates), reminding and escalating on
timers → on approval the activity numbers the invoice gaplessly and locks the period → start the ledger sync.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy, SearchAttributeKey, TypedSearchAttributes
from temporalio.exceptions import ApplicationError

from workflows import visibility

with workflow.unsafe.imports_passed_through():
    import billing
    from core.permissions import Role
    from core.search_attributes import CLIENT, ORG, STATUS
    from workflows import names
    from workflows.collection_inputs import CollectionStart
    from workflows.inputs import (
        CycleGathered,
        CycleInput,
        CycleResult,
        Decision,
        DecisionOutcome,
        DecisionRecord,
        DraftWrite,
        FiledDraft,
        InvoiceRef,
        LedgerSyncInput,
        NotifyRequest,
        Reconciliation,
    )
    from workflows.liveness import HEARTBEAT_TIMEOUT
    from workflows.update_checks import FieldProblem, decimal_problems, refuse, text_problems

ORG_KEY = SearchAttributeKey.for_keyword(ORG)
CLIENT_KEY = SearchAttributeKey.for_keyword(CLIENT)
STATUS_KEY = SearchAttributeKey.for_keyword(STATUS)

COLLECTION_PATCH = "invoice-collection"
DB_RETRY = RetryPolicy(initial_interval=timedelta(seconds=1), maximum_interval=timedelta(minutes=1))
DECIDERS = frozenset({Role.FINANCE.value, Role.OWNER.value})
# The columns a decision lands in (invoices.decision_reason, decided_by; the API's own body limits).
DECISION_LIMITS = {"reason": 1000, "actor_id": 64, "actor_role": 64, "invoice_id": 64, "description": 300}
MAX_ADJUSTMENTS = 50


def decision_problems(decision: Decision) -> list[FieldProblem]:
    """What in a finance decision the database could not store; pointers match the API's request body."""
    problems = text_problems(decision, limits=DECISION_LIMITS)
    problems += decimal_problems(
        (f"/adjustments/{i}/amount", a.amount, "amount") for i, a in enumerate(decision.adjustments)
    )
    if len(decision.adjustments) > MAX_ADJUSTMENTS:
        problems.append(FieldProblem("/adjustments", f"at most {MAX_ADJUSTMENTS} adjustment lines at once"))
    return problems


def search_attributes(
    org_id: str, client_id: str, status: str, *, client_key: str = "", period: str | None = None
) -> TypedSearchAttributes:
    """Kept here for its callers; the attributes and their backfill live in ``workflows.visibility``."""
    return visibility.search_attributes(org_id, client_id, status, client_key=client_key, period=period)


@workflow.defn(name=names.BILLING_CYCLE_WORKFLOW)
class BillingCycleWorkflow:
    @workflow.init
    def __init__(self, inp: CycleInput) -> None:
        self.status = "waiting_grace"
        self.invoice: InvoiceRef | None = None
        self.draft: billing.InvoiceDraft | None = None
        self.decision: DecisionOutcome | None = None
        self.redraft_requested = False
        self.resolution: str | None = None
        self._decide_lock = asyncio.Lock()
        # Set here, not in ``run``: an Update in the first activation runs before ``run`` starts.
        self._input: CycleInput | None = inp
        self._visible_changes = 0  # names each status upsert for the search-attribute backfill

    # ---- run -----------------------------------------------------------------------------------
    @workflow.run
    async def run(self, inp: CycleInput) -> CycleResult:
        # The grace period for late usage runs from the end of the period, not from when the cycle starts:
        # a cycle started long after its period closed (catch-up, demo, resume) does not wait again.
        _, period_end = billing.period_bounds(inp.period, inp.timezone)
        if inp.terminated_on is not None:
            # A final cycle closes when the last day of service ends, not at the end of its month.
            service_end = billing.periods.local_midnight_utc(inp.terminated_on + timedelta(days=1), inp.timezone)
            period_end = min(period_end, service_end)
        grace_left = (period_end + timedelta(seconds=inp.config.grace_s) - workflow.now()).total_seconds()
        if grace_left > 0:
            await workflow.sleep(timedelta(seconds=grace_left))
        revisions = 0
        while True:
            revisions += 1
            reconciliation = await self._draft(inp)
            if not await self._reconciled(inp, reconciliation):
                continue
            await self._await_decision(inp)
            assert self.decision is not None
            if self.decision.status == "approved":
                break
            # Rejected: wait until someone asks for a new draft (after fixing the source data).
            self._set_status("rejected")
            await workflow.wait_condition(lambda: self.redraft_requested)
        await workflow.start_child_workflow(
            names.LEDGER_SYNC_WORKFLOW,
            LedgerSyncInput(org_id=inp.org_id, invoice_id=self.decision.invoice_id),
            id=names.ledger_sync_id(inp.org_id, self.decision.invoice_id),
            parent_close_policy=workflow.ParentClosePolicy.ABANDON,
            search_attributes=search_attributes(
                inp.org_id, inp.client_id, "ledger_sync", client_key=inp.client_key, period=inp.period
            ),
        )
        if workflow.patched(COLLECTION_PATCH):
            # Overdue and dunning run on their own timers, long after this cycle has returned: a workflow of
            # its own (started by an activity, so it is no child of this one), idempotent on its id.
            await workflow.execute_activity(
                names.START_INVOICE_COLLECTION,
                CollectionStart(
                    org_id=inp.org_id,
                    invoice_id=self.decision.invoice_id,
                    client_id=inp.client_id,
                    client_key=inp.client_key,
                    period=inp.period,
                ),
                start_to_close_timeout=timedelta(seconds=60),
                retry_policy=DB_RETRY,
            )
        assert self.draft is not None
        return CycleResult(
            invoice_id=self.decision.invoice_id,
            number=self.decision.number or "",
            period=inp.period,
            currency=self.draft.currency,
            total=self.decision.total if self.decision.total is not None else self.draft.total,
            revisions=revisions,
        )

    async def _draft(self, inp: CycleInput) -> Reconciliation:
        """Gather (activity) → rate (here, deterministically) → file: write, reconcile, announce (activity)."""
        self._set_status("drafting", visible=False)
        self.redraft_requested = False
        self.decision = None
        gathered: CycleGathered = await workflow.execute_activity(
            names.GATHER_CYCLE_INPUTS,
            inp,
            result_type=CycleGathered,
            start_to_close_timeout=timedelta(minutes=2),
            heartbeat_timeout=HEARTBEAT_TIMEOUT,
            retry_policy=DB_RETRY,
        )
        draft, state_after = billing.rate(gathered.terms, gathered.inputs, gathered.state, inp.period)
        self.draft = draft
        self._set_status("reconciling", visible=False)
        filed: FiledDraft = await workflow.execute_activity(
            names.FILE_DRAFT_INVOICE,
            args=[
                DraftWrite(
                    org_id=inp.org_id,
                    contract_id=inp.contract_id,
                    client_id=inp.client_id,
                    period=inp.period,
                    workflow_id=workflow.info().workflow_id,
                    draft=draft,
                    inputs=gathered.inputs,
                    state_before=gathered.state,
                    state_after=state_after,
                ),
                inp,
            ],
            result_type=FiledDraft,
            start_to_close_timeout=timedelta(minutes=2),
            heartbeat_timeout=HEARTBEAT_TIMEOUT,
            retry_policy=DB_RETRY,
        )
        self.invoice = filed.invoice
        return filed.reconciliation

    async def _reconciled(self, inp: CycleInput, result: Reconciliation) -> bool:
        """The draft matched the live running-period view, or the cycle blocks until finance resolves it."""
        if result.ok:
            self._set_status("awaiting_approval")
            return True
        self._set_status("blocked")
        if inp.config.auto_redraft_on_mismatch:
            return False
        self.resolution = None
        await workflow.wait_condition(lambda: self.resolution is not None or self.redraft_requested)
        return self.resolution == "accept" and not self.redraft_requested

    async def _await_decision(self, inp: CycleInput) -> None:
        remind_at = workflow.now() + timedelta(seconds=inp.config.remind_after_s)
        escalate_at = workflow.now() + timedelta(seconds=inp.config.escalate_after_s)
        reminded = escalated = False
        while self.decision is None or self.decision.status == "draft":
            deadline = escalate_at if reminded else remind_at
            timeout = max((deadline - workflow.now()).total_seconds(), 0.0)
            try:
                await workflow.wait_condition(
                    lambda: self.decision is not None and self.decision.status != "draft",
                    timeout=None if escalated else timedelta(seconds=timeout),
                )
            except TimeoutError:
                if not reminded:
                    reminded = True
                    await self._notify(inp, "reminder", Role.FINANCE, f"invoice for {inp.period} awaits approval")
                elif not escalated:
                    escalated = True
                    await self._notify(
                        inp, "escalation", Role.ADMIN, f"invoice for {inp.period} still unapproved; escalated"
                    )

    # ---- finance Updates -------------------------------------------------------------------------
    def _validate(self, decision: Decision, *, reason_required: bool) -> None:
        refuse(decision_problems(decision), "decision")
        if decision.actor_role not in DECIDERS:
            raise ValueError(f"role {decision.actor_role} may not decide invoices (finance or owner only)")
        # The filing activity commits the draft before the workflow hears back; an Update arriving in that
        # window waits (in the handler) for the result instead of being refused.
        if self.status == "reconciling":
            pass
        elif self.invoice is None or self.status != "awaiting_approval":
            raise ValueError(f"invoice is not awaiting approval (cycle is {self.status})")
        elif decision.invoice_id != self.invoice.invoice_id:
            raise ValueError(f"invoice {decision.invoice_id} is not this cycle's current draft")
        if reason_required and not decision.reason.strip():
            refuse([FieldProblem("/reason", "a reason is required")], "decision")

    @workflow.update(name=names.UPDATE_APPROVE)
    async def approve(self, decision: Decision) -> DecisionOutcome:
        return await self._decide("approve", decision)

    @approve.validator
    def _validate_approve(self, decision: Decision) -> None:
        self._validate(decision, reason_required=False)

    @workflow.update(name=names.UPDATE_REJECT)
    async def reject(self, decision: Decision) -> DecisionOutcome:
        return await self._decide("reject", decision)

    @reject.validator
    def _validate_reject(self, decision: Decision) -> None:
        self._validate(decision, reason_required=True)

    @workflow.update(name=names.UPDATE_ADJUST)
    async def adjust(self, decision: Decision) -> DecisionOutcome:
        return await self._decide("adjust", decision)

    @adjust.validator
    def _validate_adjust(self, decision: Decision) -> None:
        self._validate(decision, reason_required=True)
        if not decision.adjustments:
            raise ValueError("an adjustment needs at least one adjustment line")
        if self.draft is not None and self.status == "awaiting_approval":
            self._adjusted(decision)  # an amount the currency cannot carry, an unknown tax rate: refused here

    def _adjusted(self, decision: Decision) -> billing.InvoiceDraft:
        """The draft with the decision's adjustments (pure: the current draft is not touched). A RatingError
        raised in the handler would fail the workflow task, not the Update, and retry it forever."""
        assert self.draft is not None
        try:
            return billing.apply_adjustments(self.draft, list(decision.adjustments))
        except billing.RatingError as exc:
            refuse([FieldProblem(p.path or "/", p.message) for p in exc.problems], "adjustment")
            raise

    async def _decide(self, action: str, decision: Decision) -> DecisionOutcome:
        """Serialised: two finance users deciding at once → the first wins, the second is refused."""
        await workflow.wait_condition(lambda: self.status != "reconciling")
        async with self._decide_lock:
            if self.invoice is None or self.status != "awaiting_approval":
                raise ApplicationError(
                    f"invoice is no longer awaiting approval ({self.status})", type="Conflict", non_retryable=True
                )
            if decision.invoice_id != self.invoice.invoice_id:
                raise ApplicationError(
                    f"invoice {decision.invoice_id} is not this cycle's current draft",
                    type="Conflict",
                    non_retryable=True,
                )
            assert self._input is not None and self.draft is not None
            adjusted = None
            if action == "adjust":
                adjusted = self._adjusted(decision)
            outcome: DecisionOutcome = await workflow.execute_activity(
                names.RECORD_DECISION,
                DecisionRecord(
                    org_id=self._input.org_id,
                    invoice_id=self.invoice.invoice_id,
                    action=action,
                    actor_id=decision.actor_id,
                    actor_role=decision.actor_role,
                    actor_type=decision.actor_type,
                    actor_user_id=decision.actor_user_id,
                    reason=decision.reason,
                    adjusted_draft=adjusted,
                    adjustments=list(decision.adjustments),
                    issue_date=workflow.now().date(),
                ),
                result_type=DecisionOutcome,
                start_to_close_timeout=timedelta(minutes=1),
                heartbeat_timeout=HEARTBEAT_TIMEOUT,
                retry_policy=DB_RETRY,
            )
            if adjusted is not None:
                self.draft = adjusted
            self.decision = outcome
            if outcome.status == "approved":
                self._set_status("approved")
            elif outcome.status == "rejected":
                self._set_status("rejected")
            return outcome

    @workflow.update(name=names.UPDATE_REDRAFT)
    async def redraft(self, actor_role: str) -> str:
        self.redraft_requested = True
        return self.status

    @redraft.validator
    def _validate_redraft(self, actor_role: str) -> None:
        if actor_role not in DECIDERS:
            raise ValueError("only finance may request a new draft")
        if self.status not in ("rejected", "blocked"):
            raise ValueError(
                f"a new draft is only possible after a rejection or a blocked reconciliation ({self.status})"
            )

    @workflow.update(name=names.UPDATE_RESOLVE)
    async def resolve(self, decision: Decision) -> str:
        """Finance accepts the reconciliation difference (with a reason); the draft goes back to review."""
        assert self._input is not None and self.invoice is not None
        await workflow.execute_activity(
            names.RECORD_DECISION,
            DecisionRecord(
                org_id=self._input.org_id,
                invoice_id=self.invoice.invoice_id,
                action="unblock",
                actor_id=decision.actor_id,
                actor_role=decision.actor_role,
                actor_type=decision.actor_type,
                actor_user_id=decision.actor_user_id,
                reason=decision.reason,
            ),
            result_type=DecisionOutcome,
            start_to_close_timeout=timedelta(minutes=1),
            heartbeat_timeout=HEARTBEAT_TIMEOUT,
            retry_policy=DB_RETRY,
        )
        self.resolution = "accept"
        return "accepted"

    @resolve.validator
    def _validate_resolve(self, decision: Decision) -> None:
        refuse(decision_problems(decision), "decision")
        if decision.actor_role not in DECIDERS:
            raise ValueError("only finance may accept a reconciliation difference")
        if self.status != "blocked":
            raise ValueError("the cycle is not blocked on reconciliation")
        if not decision.reason.strip():
            refuse([FieldProblem("/reason", "a reason is required to accept a reconciliation difference")], "decision")

    @workflow.query(name=names.QUERY_STATUS)
    def query_status(self) -> dict[str, str | None]:
        return {
            "status": self.status,
            "invoice_id": self.invoice.invoice_id if self.invoice else None,
            "period": self._input.period if self._input else None,
        }

    # ---- helpers ---------------------------------------------------------------------------------
    def _set_status(self, status: str, *, visible: bool = True) -> None:
        """``visible`` states are mirrored to the search attribute (each upsert is a visibility write)."""
        self.status = status
        if visible:
            assert self._input is not None
            self._visible_changes += 1
            visibility.backfill(
                f"cycle-status-{self._visible_changes}",
                [STATUS_KEY.value_set(status)],
                self._input.client_key,
                self._input.period,
            )

    async def _notify(self, inp: CycleInput, kind: str, role: Role, message: str) -> None:
        await workflow.execute_activity(
            names.NOTIFY,
            NotifyRequest(
                org_id=inp.org_id,
                invoice_id=self.invoice.invoice_id if self.invoice else None,
                kind=kind,
                recipient_role=role.value,
                message=message,
            ),
            start_to_close_timeout=timedelta(seconds=30),
            heartbeat_timeout=HEARTBEAT_TIMEOUT,
            retry_policy=DB_RETRY,
        )
