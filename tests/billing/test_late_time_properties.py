"""Every approved billable hour and re-billable expense is billed exactly once, whatever order time,
expenses and invoices move in.

A hypothesis state machine interleaves what staff, project managers and finance do — log time, submit,
approve or reject a week, record an expense and approve or reject it, draft an invoice, approve, reject and
redraft it — against the real database and the real billing seam: ``gather_cycle_inputs`` (what an invoice
bills), the pure engine, ``file_draft_invoice`` and ``record_invoice_decision`` (which claims the time and
expenses it bills), i.e. the billing cycle's own activities,
called without a Temporal server so 500 interleavings stay affordable. At the end every open period is
invoiced and approved; then the approved billable minutes equal the minutes billed across all invoices, each
entry is on exactly one invoice, at the rate card in force on its work date, and time approved after its
period was invoiced is on a traced late line of a later invoice. Likewise every approved re-billable expense
in the contract's currency is on exactly one approved invoice at its billable amount (late ones on late
lines), and one in another currency on none.

Before the fix, gathering read only the time dated in the invoice's own period, so an entry approved after
its period's invoice was never billed, and this test fails; and before expenses were gathered, no
approved re-billable expense was ever billed, which fails it too.
"""

from __future__ import annotations

import asyncio
import uuid
from collections import Counter
from datetime import UTC, date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

import msgspec
import pytest
from hypothesis import HealthCheck, event, settings
from hypothesis import strategies as st
from hypothesis.stateful import Bundle, RuleBasedStateMachine, precondition, rule, run_state_machine_as_test
from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

import billing
from activities.billing import BillingActivities, builtins
from core.ids import new_id
from core.settings import load_settings
from insights.expenses import billable_amount
from persistence.db import make_engine, make_sessionmaker, tenant_session
from persistence.models import Client, Contract, Expense, Invoice, Org, Person, Project, TimeEntry, Timesheet
from persistence.time_store import date_locked
from workflows.inputs import CycleInput, DecisionRecord, DraftWrite

LAST_DAY = date(2026, 3, 31)  # time is logged from January to March 2026
LAST_PERIOD = billing.Period.parse("2026-04")  # one more invoice after the last day anyone can log
MINUTES = [Decimal(m) for m in ("15", "30", "45", "60", "90", "120", "480")]
# Rate cards (developer): 100 from the start, 120 from 16 February, 150 from 16 March.
CARDS = [(date(2026, 1, 1), Decimal("100")), (date(2026, 2, 16), Decimal("120")), (date(2026, 3, 16), Decimal("150"))]
TERMS = """
contract_id: lt
currency: USD
timezone: UTC
start_date: 2026-01-01
default_site: main
versions:
  - effective_from: 2026-01
    sites: [{id: main}]
    time_and_materials:
      rate_cards:
        - effective_from: 2026-01-01
          roles: {developer: "100"}
        - effective_from: 2026-02-16
          roles: {developer: "120"}
        - effective_from: 2026-03-16
          roles: {developer: "150"}
"""
FINANCE = {"actor_id": "finance-key", "actor_role": "finance"}
EXPENSE_AMOUNTS = [Decimal(a) for a in ("12.50", "80.00", "199.99")]
MARKUPS = [Decimal(m) for m in ("0", "0.1", "0.15")]


def rate_on(day: date) -> Decimal:
    return [rate for start, rate in CARDS if start <= day][-1]


class World(msgspec.Struct, kw_only=True):
    org_id: uuid.UUID
    client_id: uuid.UUID
    project_id: uuid.UUID
    project_code: str
    person_id: uuid.UUID
    contract_id: uuid.UUID


async def make_world(sessionmaker: async_sessionmaker[AsyncSession], org_id: uuid.UUID) -> World:
    """A client (UTC) with one T&M project, one developer and a contract from 1 January 2026."""
    terms = billing.load_terms(TERMS.encode())
    async with tenant_session(sessionmaker, org_id) as session:
        client = Client(
            org_id=org_id, name="Late Co", external_key=f"late-{uuid.uuid4().hex[:8]}", currency="USD", timezone="UTC"
        )
        person = Person(
            org_id=org_id,
            name="Dev",
            email=f"dev-{uuid.uuid4().hex[:8]}@x.example",
            role="developer",
            cost_rate=Decimal("40"),
            cost_currency="USD",
            weekly_capacity_hours=Decimal("40"),
        )
        session.add_all([client, person])
        await session.flush()
        code = f"LT-{uuid.uuid4().hex[:8]}"
        project = Project(org_id=org_id, client_id=client.id, code=code, name="Late time", billing_mode="t_and_m")
        contract_id = new_id()
        contract = Contract(
            id=contract_id,
            org_id=org_id,
            client_id=client.id,
            code=f"LT-{uuid.uuid4().hex[:6]}",
            name="Late time",
            terms=builtins(msgspec.structs.replace(terms, contract_id=str(contract_id))),
            start_period="2026-01",
            workflow_id=f"engagement/{org_id}/{contract_id}",
        )
        session.add_all([project, contract])
        await session.flush()
        return World(
            org_id=org_id,
            client_id=client.id,
            project_id=project.id,
            project_code=code,
            person_id=person.id,
            contract_id=contract.id,
        )


class Harness:
    """The database, the billing activities and one event loop, shared by every example."""

    def __init__(self, database_url: str) -> None:
        # A loop of its own, never installed as the thread's current loop: pytest-asyncio's stays untouched.
        self.loop = asyncio.new_event_loop()
        self.engine = make_engine(database_url, pool_size=2, max_overflow=2)
        self.sessionmaker = make_sessionmaker(self.engine)
        self.acts = BillingActivities(self.sessionmaker, load_settings())
        self.org_id = new_id()
        self.run(self._make_org())

    async def _make_org(self) -> None:
        async with tenant_session(self.sessionmaker, self.org_id) as session:
            slug = f"late-{self.org_id.hex[-10:]}"
            session.add(Org(id=self.org_id, name="Late Org", slug=slug, default_currency="USD", timezone="UTC"))

    def run(self, coro: Any) -> Any:
        return self.loop.run_until_complete(coro)

    def close(self) -> None:
        self.run(self.engine.dispose())
        self.loop.close()


HARNESS: Harness | None = None
EXAMPLES_WITH_LATE_TIME = 0
EXAMPLES_WITH_LATE_EXPENSES = 0


class LateTime(RuleBasedStateMachine):
    weeks_with_time = Bundle("weeks_with_time")

    def __init__(self) -> None:
        super().__init__()
        assert HARNESS is not None
        self.h = HARNESS
        self.w: World = self.h.run(make_world(self.h.sessionmaker, self.h.org_id))
        self.weeks: dict[date, str] = {}
        self.period = billing.Period.parse("2026-01")  # the next period to invoice
        self.pending: tuple[str, str] | None = None  # (invoice id, "draft" | "rejected")
        self.late_approvals = 0  # entries approved after their period's invoice (the case under test)
        self.late_expenses = 0  # billable expenses approved after their period's invoice
        self.expenses: dict[uuid.UUID, str] = {}  # expense id -> status (submitted, approved, rejected)
        self.approvals = 0  # weeks approved so far
        self.drafted_after = 0  # weeks approved before the pending draft was gathered
        self.billed_through = 0  # weeks approved before the last approved invoice was gathered

    def inp(self) -> CycleInput:
        return CycleInput(
            org_id=str(self.w.org_id),
            contract_id=str(self.w.contract_id),
            client_id=str(self.w.client_id),
            period=self.period.key,
        )

    # ---- people -----------------------------------------------------------------------------------
    @rule(
        target=weeks_with_time,
        day=st.integers(0, 45),
        minutes=st.sampled_from(MINUTES),
        billable=st.sampled_from([True] * 4 + [False]),
    )
    def log(self, day: int, minutes: Decimal, billable: bool) -> date:
        """POST /v1/time-entries: refused in a locked period and in a submitted or approved week. Days count
        from the first day of the period not yet invoiced, so most time lands where invoices are being made."""
        work_date = min(self.period.first_day, LAST_DAY) + timedelta(days=day)
        work_date = min(work_date, LAST_DAY)
        monday = work_date - timedelta(days=work_date.weekday())
        if self.weeks.get(monday) not in ("submitted", "approved"):
            self.h.run(self._log(work_date, minutes, billable))
        return monday

    async def _log(self, work_date: date, minutes: Decimal, billable: bool) -> None:
        async with tenant_session(self.h.sessionmaker, self.w.org_id) as session:
            if await date_locked(session, self.w.client_id, "UTC", work_date):
                return
            session.add(
                TimeEntry(
                    org_id=self.w.org_id,
                    person_id=self.w.person_id,
                    project_id=self.w.project_id,
                    role="developer",
                    work_date=work_date,
                    minutes=minutes,
                    billable=billable,
                    status="draft",
                    cost_rate=Decimal("40"),
                    cost_currency="USD",
                    bill_rate=rate_on(work_date),
                    bill_currency="USD",
                )
            )

    @rule(monday=weeks_with_time)
    def submit_week(self, monday: date) -> None:
        if self.weeks.get(monday, "open") in ("open", "rejected"):
            self.h.run(self._move_week(monday, "submitted", "submitted"))

    def submitted(self, pick: int) -> date:
        weeks = sorted(monday for monday, status in self.weeks.items() if status == "submitted")
        return weeks[pick % len(weeks)]

    @precondition(lambda self: "submitted" in self.weeks.values())
    @rule(pick=st.integers(0, 7))
    def approve_week(self, pick: int) -> None:
        self.h.run(self._move_week(self.submitted(pick), "approved", "approved"))

    @precondition(lambda self: "submitted" in self.weeks.values())
    @rule(pick=st.integers(0, 7))
    def reject_week(self, pick: int) -> None:
        self.h.run(self._move_week(self.submitted(pick), "rejected", "draft"))

    async def _move_week(self, monday: date, sheet_status: str, entry_status: str) -> None:
        """What the timesheet routes do: the sheet's status, and every entry of the person's week with it."""
        async with tenant_session(self.h.sessionmaker, self.w.org_id) as session:
            sheet = (
                await session.execute(
                    select(Timesheet).where(Timesheet.person_id == self.w.person_id, Timesheet.week_start == monday)
                )
            ).scalar_one_or_none()
            if sheet is None:
                sheet = Timesheet(org_id=self.w.org_id, person_id=self.w.person_id, week_start=monday)
                session.add(sheet)
            sheet.status = sheet_status
            if sheet_status in ("approved", "rejected"):
                sheet.decided_at = datetime.now(UTC)
            await session.flush()
            moved = await session.execute(
                text(
                    "UPDATE time_entries SET status = :s, version = version + 1 "
                    "WHERE person_id = :p AND work_date BETWEEN :a AND :b RETURNING work_date, billable"
                ),
                {"s": entry_status, "p": self.w.person_id, "a": monday, "b": monday + timedelta(days=6)},
            )
            if sheet_status == "approved":
                self.approvals += 1
                self.late_approvals += sum(1 for d, b in moved if b and billing.Period.of_date(d) < self.period)
        self.weeks[monday] = sheet_status

    # ---- expenses ---------------------------------------------------------------------------------
    @rule(
        day=st.integers(0, 45),
        amount=st.sampled_from(EXPENSE_AMOUNTS),
        markup=st.sampled_from(MARKUPS),
        billable=st.sampled_from([True] * 3 + [False]),
        currency=st.sampled_from(["USD"] * 4 + ["EUR"]),
    )
    def log_expense(self, day: int, amount: Decimal, markup: Decimal, billable: bool, currency: str) -> None:
        """POST /v1/expenses: recorded as submitted; refused when its date is in a locked period."""
        spent_on = min(min(self.period.first_day, LAST_DAY) + timedelta(days=day), LAST_DAY)
        self.h.run(self._log_expense(spent_on, amount, markup, billable, currency))

    async def _log_expense(self, spent_on: date, amount: Decimal, markup: Decimal, billable: bool, cur: str) -> None:
        async with tenant_session(self.h.sessionmaker, self.w.org_id) as session:
            if await date_locked(session, self.w.client_id, "UTC", spent_on):
                return
            row = Expense(
                org_id=self.w.org_id,
                project_id=self.w.project_id,
                person_id=self.w.person_id,
                spent_on=spent_on,
                category="travel",
                description="train",
                amount=amount,
                currency=cur,
                billable=billable,
                markup=markup,
                billable_amount=billable_amount(amount, markup, cur, billable=billable),
                status="submitted",
            )
            session.add(row)
            await session.flush()
            self.expenses[row.id] = "submitted"

    def submitted_expense(self, pick: int) -> uuid.UUID:
        ids = sorted(x for x, status in self.expenses.items() if status == "submitted")
        return ids[pick % len(ids)]

    @precondition(lambda self: "submitted" in self.expenses.values())
    @rule(pick=st.integers(0, 7))
    def approve_expense(self, pick: int) -> None:
        """POST /v1/expenses/{id}/approve: allowed in an invoiced period (the next invoice bills it late)."""
        self.h.run(self._decide_expense(self.submitted_expense(pick), "approved"))

    @precondition(lambda self: "submitted" in self.expenses.values())
    @rule(pick=st.integers(0, 7))
    def reject_expense(self, pick: int) -> None:
        self.h.run(self._decide_expense(self.submitted_expense(pick), "rejected"))

    async def _decide_expense(self, expense_id: uuid.UUID, status: str) -> None:
        async with tenant_session(self.h.sessionmaker, self.w.org_id) as session:
            row = (await session.execute(select(Expense).where(Expense.id == expense_id))).scalar_one()
            row.status, row.decided_at, row.decided_by = status, datetime.now(UTC), "pm"
            if status == "approved":
                self.approvals += 1
                late = billing.Period.of_date(row.spent_on) < self.period
                self.late_expenses += int(late and row.billable and row.currency == "USD")
        self.expenses[expense_id] = status

    # ---- finance ----------------------------------------------------------------------------------
    @precondition(lambda self: self.pending is None and self.period <= LAST_PERIOD)
    @rule()
    def draft_invoice(self) -> None:
        self.h.run(self._draft())

    @precondition(lambda self: self.pending is not None and self.pending[1] == "draft")
    @rule()
    def approve_invoice(self) -> None:
        self.h.run(self._decide("approve"))

    @precondition(lambda self: self.pending is not None and self.pending[1] == "draft")
    @rule()
    def reject_invoice(self) -> None:
        self.h.run(self._decide("reject"))

    @precondition(lambda self: self.pending is not None and self.pending[1] == "rejected")
    @rule()
    def redraft_invoice(self) -> None:
        self.h.run(self._draft())

    async def _draft(self) -> None:
        """BillingCycleWorkflow._draft without Temporal: gather → rate → file (write + reconcile)."""
        inp = self.inp()
        self.drafted_after = self.approvals
        gathered = await self.h.acts.gather_cycle_inputs(inp)
        draft, state_after = billing.rate(gathered.terms, gathered.inputs, gathered.state, inp.period)
        filed = await self.h.acts.file_draft_invoice(
            DraftWrite(
                org_id=inp.org_id,
                contract_id=inp.contract_id,
                client_id=inp.client_id,
                period=inp.period,
                workflow_id=f"billing/{inp.org_id}/{inp.contract_id}/{inp.period}",
                draft=draft,
                inputs=gathered.inputs,
                state_before=gathered.state,
                state_after=state_after,
            ),
            inp,
        )
        assert filed.reconciliation.ok, filed.reconciliation
        self.pending = (filed.invoice.invoice_id, "draft")

    async def _decide(self, action: str) -> None:
        assert self.pending is not None
        reason = "" if action == "approve" else "wrong hours"
        outcome = await self.h.acts.record_invoice_decision(
            DecisionRecord(
                org_id=str(self.w.org_id),
                invoice_id=self.pending[0],
                action=action,
                reason=reason,
                issue_date=date(2026, 6, 1),
                **FINANCE,
            )
        )
        if action == "approve":
            assert outcome.status == "approved"
            self.billed_through = self.drafted_after
            self.pending = None
            self.period = self.period.shift(1)
        else:
            assert outcome.status == "rejected"
            self.pending = (self.pending[0], "rejected")

    # ---- the property -----------------------------------------------------------------------------
    def teardown(self) -> None:
        """Close every period (finance approves whatever is open), then every approved billable entry is on
        exactly one approved invoice, at its date's rate, late ones on late lines."""
        global EXAMPLES_WITH_LATE_TIME, EXAMPLES_WITH_LATE_EXPENSES
        EXAMPLES_WITH_LATE_TIME += bool(self.late_approvals)
        EXAMPLES_WITH_LATE_EXPENSES += bool(self.late_expenses)
        event(f"expense approved after its period was invoiced: {'yes' if self.late_expenses else 'no'}")
        event(f"time approved after its period was invoiced: {'yes' if self.late_approvals else 'no'}")
        if self.pending is not None and self.pending[1] == "rejected":
            self.h.run(self._draft())
        if self.pending is not None:
            self.h.run(self._decide("approve"))
        # every period, and one more invoice if a week was approved after the last one was gathered
        while self.period <= LAST_PERIOD or self.billed_through < self.approvals:
            self.h.run(self._draft())
            self.h.run(self._decide("approve"))
        self.h.run(self._check())

    async def _check(self) -> None:
        async with tenant_session(self.h.sessionmaker, self.w.org_id) as session:
            entries = {
                str(e.id): e
                for e in (
                    await session.execute(select(TimeEntry).where(TimeEntry.project_id == self.w.project_id))
                ).scalars()
            }
            expenses = {
                str(x.id): x
                for x in (
                    await session.execute(select(Expense).where(Expense.project_id == self.w.project_id))
                ).scalars()
            }
            invoices = (
                (
                    await session.execute(
                        select(Invoice)
                        .where(Invoice.contract_id == self.w.contract_id, Invoice.status == "approved")
                        .order_by(Invoice.period)
                    )
                )
                .scalars()
                .all()
            )
        assert [i.period for i in invoices][:4] == [f"2026-{m:02d}" for m in range(1, 5)]
        billed: Counter[str] = Counter()
        billed_minutes = Decimal(0)
        billed_expenses: Counter[str] = Counter()
        for invoice in invoices:
            draft = msgspec.convert(invoice.draft, billing.InvoiceDraft, strict=False)
            period = billing.Period.parse(invoice.period)
            for line in draft.lines:
                if line.kind == "expenses":
                    (ref,) = [ref for step in line.trace if step.stage == "expense" for ref in step.refs]
                    billed_expenses[ref] += 1
                    x = expenses[ref]
                    assert (x.currency, line.amount) == ("USD", x.billable_amount), (line.key, x.amount)
                    spent = billing.Period.of_date(x.spent_on)
                    if spent == period:
                        assert line.delta_for is None and line.key == f"expenses|{self.w.project_code}|travel|{ref}"
                    else:  # approved after its period was invoiced: a traced late line
                        assert spent < period
                        assert line.delta_for == spent.key
                        assert line.key == f"late|{spent.key}|expenses|{self.w.project_code}|travel|{ref}"
                        assert line.description.startswith(f"Late expense for {spent.key} (approved ")
                        assert line.trace[0].stage == "late" and line.trace[0].refs == [ref]
                    continue
                assert line.kind == "services", line.key
                refs = [ref for step in line.trace if step.stage == "time" for ref in step.refs]
                billed.update(refs)
                minutes = sum((entries[r].minutes for r in refs), Decimal(0))
                billed_minutes += minutes
                assert line.quantity is not None and line.quantity * 60 == minutes
                days = {entries[r].work_date for r in refs}
                assert {rate_on(d) for d in days} == {line.unit_price}, (line.key, days)
                assert line.amount == (minutes * line.unit_price / 60).quantize(Decimal("0.01"), ROUND_HALF_UP)
                dated = {billing.Period.of_date(d) for d in days}
                if dated == {period}:
                    assert line.delta_for is None and line.key.startswith("services|")
                else:  # approved after its period was invoiced: a traced late line
                    (late_for,) = dated
                    assert late_for < period
                    assert line.delta_for == late_for.key and line.key.startswith(f"late|{late_for.key}|services|")
                    assert line.description.startswith(f"Late time for {late_for.key} (approved ")
        approved = {i: e for i, e in entries.items() if e.status == "approved" and e.billable}
        assert billed == Counter(approved.keys()), "each approved billable entry on exactly one invoice"
        assert billed_minutes == sum((e.minutes for e in approved.values()), Decimal(0))
        rebillable = [i for i, x in expenses.items() if x.status == "approved" and x.billable and x.currency == "USD"]
        assert billed_expenses == Counter(rebillable), "each approved re-billable expense on exactly one invoice"


LateTime.TestCase.settings = settings(
    max_examples=500,
    stateful_step_count=30,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)


@pytest.mark.slow
def test_every_approved_billable_minute_is_billed_exactly_once_in_any_interleaving(app_database_url: str) -> None:
    global HARNESS, EXAMPLES_WITH_LATE_TIME, EXAMPLES_WITH_LATE_EXPENSES
    HARNESS, EXAMPLES_WITH_LATE_TIME, EXAMPLES_WITH_LATE_EXPENSES = Harness(app_database_url), 0, 0
    try:
        run_state_machine_as_test(LateTime, settings=LateTime.TestCase.settings)
    finally:
        HARNESS.close()
        HARNESS = None
    # The interleavings did reach the cases under test (a week, or an expense, approved after its period's invoice).
    assert EXAMPLES_WITH_LATE_TIME >= 10, EXAMPLES_WITH_LATE_TIME
    assert EXAMPLES_WITH_LATE_EXPENSES >= 10, EXAMPLES_WITH_LATE_EXPENSES
