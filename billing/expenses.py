"""Re-billed expenses: each approved re-billable expense is passed through on its own ``expenses`` line.

* An expense is billed at its billable amount (amount × (1 + markup), fixed when it was approved), rounded
  once to the contract currency's minor unit (a no-op for an amount already in it). One line per expense,
  not one per category: a client checks re-billed costs against receipts, and a line per expense names the
  receipt it bills (its description, date and id) so no one has to unpick a sum.
* Lines are of kind ``expenses``, taxed by ``tax.by_kind.expenses`` (else the contract's default rate), and
  in no default scope: a discount, minimum, cap or credit covers them only when its scope names the kind,
  since a pass-through cost is not the agency's revenue to discount or to count towards a commitment.
* An expense spent in an earlier (already invoiced) period and approved after that invoice is billed here
  on a *late* line, traced like late time (key ``late|<period>|expenses|…``, ``delta_for`` the period,
  "Late expense for 2026-11 (approved 2026-12-03): …", a ``late`` trace step).
* An expense in another currency than the contract's is not billed (there is no rate to convert it at);
  the invoice carries a warning naming it, and it stays unbilled until it is re-recorded in the contract
  currency.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from billing.inputs import ExpenseEntry
from billing.invoice import Note, TraceStep
from billing.items import Item
from billing.money import from_minor, to_minor
from billing.periods import Period
from billing.plan import VersionPlan


def rate_expenses(
    vp: VersionPlan,
    period: Period,
    currency: str,
    minor: int,
    expenses: list[ExpenseEntry],
    items: list[Item],
    notes: list[Note],
) -> None:
    """Append one ``expenses`` line per billable expense (late ones on late lines), and their notes."""
    foreign: list[str] = []
    late: list[str] = []
    tax = vp.tax_for("expenses")
    projects = vp.time.projects if vp.time is not None else {}
    for e in sorted(expenses, key=lambda e: (e.spent_on, e.project, e.id)):
        if e.currency != currency:
            foreign.append(f"{e.id} ({e.amount} {e.currency})")
            continue
        proj = projects.get(e.project)
        site = proj.site if proj else vp.default_site
        amount = to_minor(e.amount, minor, vp.rounding)
        billed = from_minor(amount, minor)
        what = f"{proj.name if proj else e.project}: {e.category}" + (f", {e.description}" if e.description else "")
        description = f"{what} (spent {e.spent_on})"
        key = f"expenses|{e.project}|{e.category}|{e.id}"
        steps = [
            TraceStep(
                stage="expense",
                note="approved re-billable expense at its billable amount (amount x (1 + markup))",
                amount=e.amount,
                refs=[e.id],
            )
        ]
        if billed != e.amount:
            steps.append(TraceStep(stage="round", note=vp.options.rounding, before=e.amount, after=billed))
        late_for = Period.of_date(e.spent_on) if e.spent_on < period.first_day else None
        if late_for is not None:
            approved = _approved(e.approved_on)
            late.append(e.id)
            key = f"late|{late_for.key}|{key}"
            description = f"Late expense for {late_for} (approved {approved}): {description}"
            steps.insert(0, TraceStep(stage="late", note=f"expense for {late_for}, approved {approved}", refs=[e.id]))
        it = Item(
            key,
            "expenses",
            site,
            amount,
            tax,
            description,
            category=e.category,
            quantity=Decimal(1),
            unit="expense",
            unit_price=billed,
            trace=steps,
        )
        if late_for is not None:
            it.delta_for = late_for.key
        items.append(it)
    if late:
        notes.append(
            Note(
                severity="info",
                code="expense_from_earlier_period",
                message=f"{len(late)} expenses spent in earlier periods were approved after those periods were "
                f"invoiced and are billed on this invoice as late expense lines: {', '.join(late)}",
            )
        )
    if foreign:
        notes.append(
            Note(
                severity="warning",
                code="expense_other_currency",
                message=f"{len(foreign)} approved re-billable expenses are not in the contract currency {currency} "
                f"and are not billed (they stay unbilled): {', '.join(foreign)}",
            )
        )


def _approved(day: date | None) -> str:
    return day.isoformat() if day is not None else "after invoicing"
