"""``rate``: one period of one contract, from terms + inputs + carried state to an invoice draft.

The pipeline, in order (each step visible in the line traces; see docs/billing.md):

1. rate   — retainer fees and allowances, time & materials (with not-to-exceed caps), milestones and
            retention, usage; each line rounded once to the currency's minor unit
2. discounts
3. minimums (``minimum_vs_cap: cap_prevails``, the default)
4. late usage deltas for earlier periods (their own steps 1–3 under their own terms, then caps)
5. annual caps
6. minimums (``minimum_vs_cap: minimum_prevails``)
7. prepaid credits
8. tax, once per rate on the rounded lines
9. site subtotals, totals and the verification block

The function is pure and deterministic: no clock, no I/O, inputs sorted before use, arithmetic in a
fixed Decimal context, so identical inputs give byte-identical encoded output.
"""

from __future__ import annotations

from decimal import Decimal, Inexact, InvalidOperation, Overflow, localcontext

from billing import usage as usage_mod
from billing.caps import CapAccounts, apply_caps
from billing.credits import apply_credits
from billing.discounts import apply_discounts
from billing.errors import Problem, RatingError
from billing.expenses import rate_expenses
from billing.inputs import LateUsage, RatingInputs, TimeEntry, UsageAggregate
from billing.invoice import Commitment, InvoiceDraft, InvoiceLine, Note, SiteSubtotal, TraceStep
from billing.items import Adj, Item, TaxRateC
from billing.late import apply_late, record_items
from billing.milestones import rate_milestones
from billing.minimums import apply_minimums
from billing.money import BILLING_CONTEXT, from_minor
from billing.periods import Period, contract_year_start, is_period, period_bounds
from billing.plan import RatingPlan, VersionPlan, compile_terms
from billing.proration import active_days
from billing.retainers import rate_allowances, rate_fees
from billing.selection import ItemIndex
from billing.state import (
    AdvanceBilled,
    CapAccount,
    CarriedState,
    MinimumRecord,
    NteAccount,
    PeriodRecord,
)
from billing.tax import compute_tax
from billing.terms import ContractTerms
from billing.time_materials import rate_time
from core import decimal_bounds

KIND_ORDER = {
    "retainer": 0,
    "services": 1,
    "milestone": 2,
    "retention": 3,
    "retention_release": 4,
    "ai_usage": 5,
    "expenses": 6,
    "not_to_exceed_adjustment": 7,
    "discount": 8,
    "minimum_true_up": 9,
    "cap_adjustment": 10,
    "credit": 11,
}


def rate(
    terms: ContractTerms | RatingPlan,
    inputs: RatingInputs,
    state: CarriedState | None,
    period: Period | str,
) -> tuple[InvoiceDraft, CarriedState]:
    """Rate one period. ``terms`` may be a precompiled plan (``billing.compile_terms``) for speed."""
    plan = terms if isinstance(terms, RatingPlan) else compile_terms(terms)
    if isinstance(period, str):
        if not is_period(period):
            raise RatingError([Problem("/period", f"not a period (YYYY-MM): {period!r}")])
        period = Period.parse(period)
    bounds = _input_bounds(inputs)
    if bounds:
        raise RatingError(bounds)
    try:
        with localcontext(BILLING_CONTEXT):
            return _rate(plan, inputs, state if state is not None else CarriedState(), period)
    except (Inexact, Overflow, InvalidOperation) as exc:
        # Bounded inputs never get here (core/decimal_bounds.py keeps every product within 60 digits); an
        # invoice that would round off a digit where no rounding is documented is refused, never issued.
        why = f"exact arithmetic is not possible for these inputs ({type(exc).__name__}); no invoice drafted"
        raise RatingError([Problem("/", why)]) from exc


def _input_bounds(inputs: RatingInputs) -> list[Problem]:
    """Every quantity, provider cost and duration outside its number bounds (core/decimal_bounds.py).

    The same bounds as ``billing.loader.bound_problems`` applies to documents, written out for the hot path
    (a month of 1,000 contracts checks some 100,000 aggregates).
    """
    problems: list[Problem] = []
    check = decimal_bounds.problem

    def usage(base: str, aggregates: list[UsageAggregate]) -> None:
        for i, u in enumerate(aggregates):
            msg = check(u.quantity, "quantity")
            if msg is not None:
                problems.append(Problem(f"{base}/{i}/quantity", msg))
            if u.provider_cost is not None:
                msg = check(u.provider_cost, "quantity")
                if msg is not None:
                    problems.append(Problem(f"{base}/{i}/provider_cost", msg))

    usage("/usage", inputs.usage)
    for j, lu in enumerate(inputs.late_usage):
        usage(f"/late_usage/{j}/usage", lu.usage)
    for i, e in enumerate(inputs.time_entries):
        msg = check(e.minutes, "minutes")
        if msg is not None:
            problems.append(Problem(f"/time_entries/{i}/minutes", msg))
    for i, x in enumerate(inputs.expenses):
        msg = check(x.amount, "amount")
        if msg is not None:
            problems.append(Problem(f"/expenses/{i}/amount", msg))
    return problems


def _check(plan: RatingPlan, inputs: RatingInputs, st: CarriedState, p: Period) -> None:
    problems: list[Problem] = []
    if st.contract_id is not None and st.contract_id != plan.contract_id:
        problems.append(
            Problem("/state/contract_id", f"state belongs to contract {st.contract_id!r}, not {plan.contract_id!r}")
        )
    if p < Period.of_date(plan.start_date):
        problems.append(Problem("/period", f"{p} is before the contract starts ({plan.start_date})"))
    if st.last_period is not None and Period.parse(st.last_period) >= p:
        problems.append(
            Problem(
                "/period",
                f"{p} is not after the last rated period {st.last_period}; bill "
                "corrections as late usage on the next invoice instead",
            )
        )
    for rec in st.history:
        vp = plan.version_for(Period.parse(rec.period))
        if vp.version_id != rec.version:
            problems.append(
                Problem(
                    f"/state/history/{rec.period}",
                    f"the terms for closed period {rec.period} changed since it was invoiced "
                    f"(version {rec.version}, now {vp.version_id}); amendments must take "
                    "effect after the last invoiced period",
                )
            )
    seen: set[str] = set()
    for i, e in enumerate(inputs.time_entries):
        if e.id in seen:
            problems.append(Problem(f"/time_entries/{i}/id", f"duplicate time entry id {e.id!r}"))
        seen.add(e.id)
        if e.minutes < 0:
            problems.append(Problem(f"/time_entries/{i}/minutes", "duration must not be negative"))
    seen.clear()
    for i, x in enumerate(inputs.expenses):
        if x.id in seen:
            problems.append(Problem(f"/expenses/{i}/id", f"duplicate expense id {x.id!r}"))
        seen.add(x.id)
        if x.amount < 0:
            problems.append(Problem(f"/expenses/{i}/amount", "a billable amount must not be negative"))
    for i, lu in enumerate(inputs.late_usage):
        if not is_period(lu.period):
            problems.append(Problem(f"/late_usage/{i}/period", f"not a period: {lu.period!r}"))
        elif Period.parse(lu.period) >= p:
            problems.append(
                Problem(f"/late_usage/{i}/period", f"late usage must be for a period before {p}, got {lu.period}")
            )
    if problems:
        raise RatingError(problems)


def usage_notes(vp: VersionPlan, n: usage_mod.UsageNotes) -> list[Note]:
    out = []
    for meter, q in sorted(n.unpriced_meter.items()):
        out.append(
            Note(
                severity="warning",
                code="usage_unpriced_meter",
                message=f"meter {meter!r} has no usage charge in the terms; quantity {q} not billed",
                path=f"{vp.path}/usage_charges",
            )
        )
    for (meter, dims), q in sorted(n.unmatched.items()):
        out.append(
            Note(
                severity="warning",
                code="usage_no_matching_charge",
                message=f"no usage charge of meter {meter!r} matches {dict(dims)}; quantity {q} not billed",
                path=f"{vp.path}/usage_charges",
            )
        )
    for (site, cat, meter), q in sorted(n.disabled.items()):
        out.append(
            Note(
                severity="info",
                code="usage_category_disabled",
                message=f"category {cat!r} is disabled for site {site!r}; {meter} quantity {q} not billed",
                path=f"{vp.path}/sites",
            )
        )
    for site in sorted(n.undeclared_sites):
        out.append(
            Note(
                severity="warning",
                code="usage_undeclared_site",
                message=f"usage for site {site!r}, which the terms do not declare, was billed at the "
                "contract-wide prices",
                path=f"{vp.path}/sites",
            )
        )
    return out


def _rate(plan: RatingPlan, inputs: RatingInputs, st: CarriedState, p: Period) -> tuple[InvoiceDraft, CarriedState]:
    _check(plan, inputs, st, p)
    vp = plan.version_for(p)
    minor = plan.minor
    ends = [d for d in (plan.end_date, inputs.terminated_on) if d is not None]
    end = min(ends) if ends else None
    active = active_days(p, plan.start_date, end)
    notes: list[Note] = []
    commitments: list[Commitment] = []
    items: list[Item] = []
    adjs: list[Adj] = []
    if active is None:
        notes.append(
            Note(
                severity="info",
                code="no_service_days",
                message=f"the contract has no service days in {p} (starts {plan.start_date}, "
                f"ends {end}); only usage and corrections are billed",
            )
        )

    advance = {(a.retainer, a.service_period): int(a.amount.scaleb(minor)) for a in st.advance_billed}
    ntes = {(n.project, n.phase): int(n.billed.scaleb(minor)) for n in st.ntes}
    caps: CapAccounts = {
        (c.cap, c.instance, c.year_start): [int(c.uncapped.scaleb(minor)), int(c.billed.scaleb(minor))] for c in st.caps
    }
    billed_ms = set(st.billed_milestones)
    history = {r.period: r for r in st.history}

    # 1. rate
    covered: dict[str, list[TimeEntry]] = {}
    tm_entries: list[TimeEntry] = []
    nonbillable = 0
    for e in sorted(inputs.time_entries, key=lambda e: e.id):
        if not e.billable:
            nonbillable += 1
            continue
        r = vp.covered.get(e.project)
        if r is None:
            tm_entries.append(e)
        elif e.work_date > p.last_day or e.work_date < plan.start_date:
            notes.append(
                Note(
                    severity="info",
                    code="time_outside_period",
                    message=f"time entry {e.id} ({e.work_date}) on retainer {r.id} is outside the "
                    f"contract or after {p}; not counted here",
                )
            )
        else:
            covered.setdefault(r.id, []).append(e)
    if nonbillable:
        notes.append(
            Note(
                severity="info",
                code="time_nonbillable",
                message=f"{nonbillable} non-billable time entries were not billed",
            )
        )
    rate_fees(plan, vp, p, active, end, advance, items)
    rollover = rate_allowances(vp, p, active, minor, covered, list(st.rollover), items, notes, commitments)
    rate_time(vp, p, plan.start_date, tm_entries, minor, ntes, items, adjs, notes, commitments, plan.version_for)
    retentions = rate_milestones(vp, p, minor, inputs.milestones, billed_ms, list(st.retentions), items, notes)
    rate_expenses(vp, p, plan.currency, minor, inputs.expenses, items, notes)
    ulines: dict[str, usage_mod.UsageLine] = {}
    unotes = usage_mod.UsageNotes()
    usage_mod.collect(vp, inputs.usage, ulines, unotes)
    items += usage_mod.price(vp, ulines, minor)
    notes += usage_notes(vp, unotes)
    for it in items:
        it.base = it.net  # after not-to-exceed write-downs: what discounts and minimums start from
    base_records = record_items(items, minor)

    # 2-3. discounts, minimums (cap_prevails)
    index = ItemIndex(items)
    apply_discounts(vp, p, index, minor, adjs)
    min_records: list[MinimumRecord] = []
    if vp.options.minimum_vs_cap == "cap_prevails":
        apply_minimums(vp, index, active, p.days, minor, min_records, commitments)

    # 4. late usage for earlier periods
    synthetic: list[Item] = []
    late_by_period: dict[str, list[UsageAggregate]] = {}
    for lu in inputs.late_usage:  # several batches for one period are one delta
        late_by_period.setdefault(lu.period, []).extend(lu.usage)
    for period_key in sorted(late_by_period):
        batch = LateUsage(period=period_key, usage=late_by_period[period_key])
        apply_late(plan, p, batch, history, caps, vp.options.late_usage_window, adjs, notes, synthetic, commitments)

    # 5-6. caps, minimums (minimum_prevails)
    apply_caps(plan, vp, p, index, caps, adjs, commitments)
    if vp.options.minimum_vs_cap == "minimum_prevails":
        apply_minimums(vp, index, active, p.days, minor, min_records, commitments)

    # 7. credits over this period's lines and the late deltas
    credit_index = ItemIndex(index.items + synthetic)
    credits = apply_credits(plan, p, credit_index, list(st.credits), adjs, notes, commitments)

    draft = _assemble(plan, vp, p, index.items, adjs, notes, commitments)

    # carried state
    window = vp.options.late_usage_window
    history[p.key] = PeriodRecord(
        period=p.key,
        version=vp.version_id,
        active_from_day=active[0] if active else 0,
        active_to_day=active[1] if active else 0,
        items=base_records,
        minimums=min_records,
    )
    kept = [history[k] for k in sorted(history) if Period.parse(k).index > p.index - window]
    oldest = Period.parse(kept[0].period) if kept else p
    first_year = contract_year_start(oldest, plan.anchor).key
    new_state = CarriedState(
        contract_id=plan.contract_id,
        last_period=p.key,
        rollover=sorted(rollover, key=lambda b: (b.retainer, b.earned)),
        caps=[
            CapAccount(
                cap=k[0],
                instance=k[1],
                year_start=k[2],
                uncapped=from_minor(v[0], minor),
                billed=from_minor(v[1], minor),
            )
            for k, v in sorted(caps.items())
            if k[2] >= first_year
        ],
        ntes=[
            NteAccount(project=k[0], phase=k[1], billed=from_minor(v, minor))
            for k, v in sorted(ntes.items(), key=lambda kv: (kv[0][0], kv[0][1] or ""))
        ],
        credits=credits,
        retentions=sorted(retentions, key=lambda h: (h.withheld_in, h.milestone)),
        billed_milestones=sorted(billed_ms),
        advance_billed=[
            AdvanceBilled(retainer=k[0], service_period=k[1], amount=from_minor(v, minor))
            for k, v in sorted(advance.items())
        ],
        history=kept,
    )
    return draft, new_state


def _line_sort_key(vp: VersionPlan, line: InvoiceLine) -> tuple[object, ...]:
    rank = vp.site_rank.get(line.site)
    return (
        0 if rank is not None else 1,
        rank or 0,
        line.site,
        line.delta_for or "",
        KIND_ORDER.get(line.kind, 99),
        line.key,
    )


def _assemble(
    plan: RatingPlan,
    vp: VersionPlan,
    p: Period,
    items: list[Item],
    adjs: list[Adj],
    notes: list[Note],
    commitments: list[Commitment],
) -> InvoiceDraft:
    minor = plan.minor
    lines: list[InvoiceLine] = []
    site_amounts: dict[str, int] = {}
    site_counts: dict[str, int] = {}
    by_tax: dict[TaxRateC | None, int] = {}
    for it in items:
        if not it.emit:
            continue
        site_amounts[it.site] = site_amounts.get(it.site, 0) + it.gross
        site_counts[it.site] = site_counts.get(it.site, 0) + 1
        by_tax[it.tax] = by_tax.get(it.tax, 0) + it.gross
        lines.append(
            InvoiceLine(
                key=it.key,
                site=it.site,
                kind=it.kind,
                description=it.description,
                quantity=it.quantity,
                unit=it.unit,
                unit_price=it.unit_price,
                amount=from_minor(it.gross, minor),
                tax_rate=it.tax.id if it.tax else None,
                category=it.category,
                delta_for=it.delta_for,
                trace=it.trace,
            )
        )
    for a in adjs:
        site_amounts[a.site] = site_amounts.get(a.site, 0) + a.amount
        site_counts[a.site] = site_counts.get(a.site, 0) + 1
        by_tax[a.tax] = by_tax.get(a.tax, 0) + a.amount
        lines.append(
            InvoiceLine(
                key=a.key,
                site=a.site,
                kind=a.kind,
                description=a.description,
                quantity=a.quantity,
                unit=a.unit,
                unit_price=a.unit_price,
                amount=from_minor(a.amount, minor),
                tax_rate=a.tax.id if a.tax else None,
                category=a.category,
                delta_for=a.delta_for,
                trace=a.trace,
            )
        )
    lines.sort(key=lambda ln: _line_sort_key(vp, ln))
    order = sorted(site_amounts, key=lambda s: (0 if s in vp.site_rank else 1, vp.site_rank.get(s, 0), s))
    sites = [
        SiteSubtotal(site=s, name=vp.site_name(s), amount=from_minor(site_amounts[s], minor), lines=site_counts[s])
        for s in order
    ]
    subtotal_minor = sum(site_amounts.values())
    # a late delta may carry an earlier version's rate object: merge rates by (id, percent)
    bases: dict[tuple[str, Decimal], tuple[TaxRateC, int]] = {}
    for tax, amount in by_tax.items():
        if tax is not None:
            prev = bases.get((tax.id, tax.percent))
            bases[(tax.id, tax.percent)] = (tax, amount + (prev[1] if prev else 0))
    tax_lines, tax_minor = compute_tax(bases, minor, vp.rounding)
    subtotal = from_minor(subtotal_minor, minor)
    tax_total = from_minor(tax_minor, minor)
    total = from_minor(subtotal_minor + tax_minor, minor)
    from billing.verify import build_verification

    verification = build_verification(lines, sites, subtotal, tax_lines, tax_total, total)
    if not verification.balanced:  # pragma: no cover - a bug, never a business outcome
        raise AssertionError(f"invoice does not balance: {verification}")
    if subtotal_minor < 0:
        notes.append(
            Note(
                severity="warning",
                code="negative_invoice",
                message="the invoice total is negative (corrections exceed charges); issue a credit note",
            )
        )
    start, stop = period_bounds(p, plan.timezone)
    return InvoiceDraft(
        contract_id=plan.contract_id,
        client=plan.client,
        currency=plan.currency,
        period=p.key,
        period_start=start,
        period_end=stop,
        timezone=plan.timezone,
        terms_version=vp.effective_from,
        rounding=vp.options.rounding,
        lines=lines,
        site_subtotals=sites,
        subtotal=subtotal,
        tax=tax_lines,
        tax_total=tax_total,
        total=total,
        verification=verification,
        commitments=commitments,
        notes=notes,
        default_site=plan.default_site,
    )


__all__ = ["TraceStep", "rate"]
