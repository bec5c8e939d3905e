"""Rendering trace steps as sentences a finance reviewer can check with a calculator.

Traces are stored as structured steps (cheap, diffable); this is the one place that turns them into
text, used by the CLI and available to the API and invoice PDFs.
"""

from __future__ import annotations

from decimal import Decimal

from billing.invoice import InvoiceLine, TraceStep


def _d(x: Decimal | None) -> str:
    return "-" if x is None else f"{x:,f}" if x == x.to_integral_value() else _plain(x)  # never "8.5E+5"


def _plain(x: Decimal) -> str:
    s = format(x, "f")
    whole, _, frac = s.partition(".")
    sign = "-" if whole.startswith("-") else ""
    whole = whole.lstrip("-")
    return f"{sign}{int(whole):,}" + (f".{frac}" if frac else "")


def _range(lo: Decimal | None, hi: Decimal | None) -> str:
    return f"({_d(lo)}, {'∞' if hi is None else _d(hi)}]"


def explain_step(s: TraceStep) -> str:
    st = s.stage
    if st == "usage":
        cost = f", provider cost {_d(s.basis)}" if s.basis is not None else ""
        return f"usage: quantity {_d(s.quantity)}{cost}"
    if st == "included":
        return f"included units {_d(s.limit)}: {_d(s.before)} used, {_d(s.after)} billable"
    if st == "tier":
        fee = f" + flat fee {_d(s.flat_fee)}" if s.flat_fee else ""
        return f"{s.note} tier {_range(s.basis, s.limit)}: {_d(s.quantity)} × {_d(s.unit_price)}{fee} = {_d(s.amount)}"
    if st == "price" and s.note == "package":
        return (
            f"{_d(s.basis)} units in packages of {_d(s.limit)} = {_d(s.quantity)} packages × "
            f"{_d(s.unit_price)} = {_d(s.amount)}"
        )
    if st == "price":
        return f"{_d(s.quantity)} × {_d(s.unit_price)} = {_d(s.amount)}"
    if st == "cost_plus":
        return f"provider cost {_d(s.basis)} × fx {_d(s.unit_price)} × (1 + {_d(s.percent)}% margin) = {_d(s.amount)}"
    if st == "surcharge":
        return f"surcharge {_d(s.quantity)} × {_d(s.unit_price)} = {_d(s.amount)}"
    if st == "tier_basis":
        return f"tiers applied to the combined quantity per {s.note}: {_d(s.basis)}"
    if st == "allocate":
        return f"this line's share ({_d(s.quantity)} of {_d(s.basis)}): {_d(s.amount)}"
    if st == "round":
        return f"rounded once ({s.note}): {_d(s.before)} → {_d(s.after)}"
    if st == "time":
        return f"{_d(s.quantity)} h × {_d(s.unit_price)} (entries {', '.join(s.refs)})"
    if st == "increment":
        return f"{s.note}: {_d(s.before)} min → {_d(s.after)} min"
    if st == "prorate":
        if s.before is not None:
            return f"{s.note}: billed in advance {_d(s.before)}, due {_d(s.after)}, adjustment {_d(s.amount)}"
        return f"fee {_d(s.limit)}, {s.note}: {_d(s.amount)}"
    if st == "allowance":
        return (
            f"allowance {_d(s.limit)} h; used {_d(s.basis)} h (before increments {_d(s.before)} h); "
            f"from rollover {_d(s.amount)} h; overage {_d(s.after)} h"
        )
    if st == "overage":
        return f"overage {_d(s.quantity)} h × {_d(s.unit_price)} = {_d(s.amount)}"
    if st == "not_to_exceed":
        return (
            f"not-to-exceed {_d(s.limit)}: billed before {_d(s.before)}, this period {_d(s.basis)}, "
            f"written down {_d(s.amount)}, billed after {_d(s.after)}"
        )
    if st == "milestone":
        return f"milestone accepted: {_d(s.amount)}"
    if st == "expense":
        return f"re-billed expense {', '.join(s.refs)}: billable amount {_d(s.amount)}"
    if st == "retention":
        return f"retention {_d(s.percent)}% of {_d(s.basis)} = {_d(s.before)} → withheld {_d(s.amount)}"
    if st == "retention_release":
        return f"retention released ({s.note}): {_d(s.amount)}"
    if st == "discount":
        if s.percent is not None:
            return f"{_d(s.percent)}% of {_d(s.basis)} = {_d(s.amount)}; scope {_d(s.before)} → {_d(s.after)}" + (
                f" ({s.note})" if s.note else ""
            )
        return (
            f"fixed discount {_d(s.limit)} over scope {_d(s.basis)}: this line {_d(s.amount)}; "
            f"{_d(s.before)} → {_d(s.after)}"
        )
    if st == "minimum":
        return f"minimum {_d(s.limit)}; scope billed {_d(s.before)}; true-up {_d(s.amount)} → {_d(s.after)}" + (
            f" ({s.note})" if s.note else ""
        )
    if st == "cap":
        return (
            f"annual cap {_d(s.limit)}: billed this contract year before {_d(s.before)}, this period "
            f"{_d(s.basis)}, adjustment {_d(s.amount)}, billed after {_d(s.after)} ({s.note})"
        )
    if st == "credit":
        return (
            f"prepaid credit: balance {_d(s.before)} → {_d(s.after)}; applied {_d(s.amount)} (eligible {_d(s.basis)})"
        )
    if st == "late" and s.amount is None:  # a late time or expense line: what it is for, and which entries
        return f"{s.note} ({', '.join(s.refs)})"
    if st == "late":
        return f"{s.note}: {_d(s.before)} → {_d(s.after)}, delta {_d(s.amount)}"
    parts = [
        f"{k}={_d(getattr(s, k))}"
        for k in ("quantity", "unit_price", "amount", "before", "after")
        if getattr(s, k) is not None
    ]
    return f"{st}: {' '.join(parts)} {s.note}".strip()


def explain(line: InvoiceLine) -> list[str]:
    """One sentence per trace step, with the contract clause (JSON pointer) it applied."""
    return [explain_step(s) + (f"  [{s.rule}]" if s.rule else "") for s in line.trace]
