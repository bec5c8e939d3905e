"""Manual adjustments: finance's corrections to a draft before approval.

The billing-cycle workflow lets finance adjust a draft (with a reason, recorded by the workflow). An
adjustment is an extra line of kind ``adjustment``; the draft is re-totalled the same way the
engine totals it — site subtotals, tax once per rate on the new base, a fresh verification block — so an
adjusted invoice is exactly as trustworthy as a rated one. Adjustments are final touches: they do not feed
minimums, caps or credits (those live in the carried state, which an adjustment does not change).
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal, localcontext
from typing import Protocol

import msgspec

from billing.currencies import minor_units
from billing.errors import Problem, RatingError
from billing.invoice import InvoiceDraft, InvoiceLine, Note, SiteSubtotal, TaxLine, TraceStep
from billing.money import BILLING_CONTEXT, ROUNDING_MODES, from_minor, is_representable, quantize
from billing.verify import build_verification
from core import decimal_bounds


class AdjustmentLike(Protocol):
    @property
    def description(self) -> str: ...
    @property
    def amount(self) -> Decimal: ...
    @property
    def site(self) -> str | None: ...
    @property
    def tax_rate(self) -> str | None: ...


class ManualAdjustment(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    description: str
    amount: Decimal
    site: str | None = None
    tax_rate: str | None = None


def apply_adjustments(draft: InvoiceDraft, adjustments: Sequence[AdjustmentLike]) -> InvoiceDraft:
    """Return ``draft`` with one ``adjustment`` line per adjustment, re-totalled and verified.

    Without ``site`` a line goes to the contract's default site; without ``tax_rate`` it takes the
    draft's only tax rate (or none when the draft is untaxed) — with several rates on the draft the rate
    must be named, because guessing a tax treatment is not acceptable.
    """
    minor = minor_units(draft.currency)
    rates = {t.rate_id: t for t in draft.tax}
    problems: list[Problem] = []
    existing = sum(1 for ln in draft.lines if ln.kind == "adjustment")
    new_lines: list[InvoiceLine] = []
    for i, adj in enumerate(adjustments):
        path = f"/adjustments/{i}"
        if not adj.description.strip():
            problems.append(Problem(f"{path}/description", "an adjustment needs a description"))
        bound = decimal_bounds.problem(adj.amount, "amount")
        if bound is not None:
            problems.append(Problem(f"{path}/amount", bound))
            continue
        if not is_representable(adj.amount, minor):
            problems.append(Problem(f"{path}/amount", f"{adj.amount} is not an amount in {draft.currency}"))
            continue
        rate_id = adj.tax_rate
        if rate_id is None and len(rates) > 1:
            problems.append(
                Problem(
                    f"{path}/tax_rate",
                    f"the draft has several tax rates ({', '.join(rates)}); name the one this adjustment carries",
                )
            )
            continue
        if rate_id is None and len(rates) == 1:
            rate_id = next(iter(rates))
        if rate_id is not None and rate_id not in rates:
            problems.append(Problem(f"{path}/tax_rate", f"unknown tax rate {rate_id!r} on this draft"))
            continue
        site = adj.site or draft.default_site or (draft.site_subtotals[0].site if draft.site_subtotals else "main")
        amount = from_minor(int(adj.amount.scaleb(minor)), minor)
        new_lines.append(
            InvoiceLine(
                key=f"manual|{existing + i + 1}",
                site=site,
                kind="adjustment",
                description=adj.description,
                quantity=None,
                unit="",
                unit_price=None,
                amount=amount,
                tax_rate=rate_id,
                trace=[TraceStep(stage="manual", note="adjusted by finance before approval", amount=amount)],
            )
        )
    if problems:
        raise RatingError(problems)
    lines = list(draft.lines) + new_lines
    names = {s.site: s.name for s in draft.site_subtotals}
    order = [s.site for s in draft.site_subtotals] + sorted({ln.site for ln in new_lines} - set(names))
    zero = from_minor(0, minor)
    site_amount = dict.fromkeys(order, zero)
    site_count = dict.fromkeys(order, 0)
    bases: dict[str, Decimal] = {}
    for ln in lines:
        site_amount[ln.site] += ln.amount
        site_count[ln.site] += 1
        if ln.tax_rate is not None:
            bases[ln.tax_rate] = bases.get(ln.tax_rate, zero) + ln.amount
    sites = [SiteSubtotal(site=s, name=names.get(s, s), amount=site_amount[s], lines=site_count[s]) for s in order]
    rounding = ROUNDING_MODES[draft.rounding]
    tax: list[TaxLine] = []
    for t in draft.tax:
        base = bases.get(t.rate_id, zero)
        with localcontext(BILLING_CONTEXT):  # exact product, then the one rounding step, like the engine
            amount = quantize(base * t.percent / 100, zero, rounding)
        tax.append(TaxLine(rate_id=t.rate_id, name=t.name, percent=t.percent, base=base, amount=amount))
    subtotal = sum((s.amount for s in sites), zero)
    tax_total = sum((t.amount for t in tax), zero)
    total = subtotal + tax_total
    verification = build_verification(lines, sites, subtotal, tax, tax_total, total)
    notes = [
        *draft.notes,
        *(
            Note(severity="info", code="adjustment", message=f"manual adjustment {ln.amount}: {ln.description}")
            for ln in new_lines
        ),
    ]
    return msgspec.structs.replace(
        draft,
        lines=lines,
        site_subtotals=sites,
        subtotal=subtotal,
        tax=tax,
        tax_total=tax_total,
        total=total,
        verification=verification,
        notes=notes,
    )
