"""Late usage: usage for an already-invoiced period, billed as delta lines on a later invoice.

The period's billed base lines are kept in carried state (``PeriodRecord``). When late usage arrives,
the period's usage lines are re-priced with all usage, discounts and minimums re-run on the period's
own lines under the period's own terms, and every line that changed yields a delta line — same kind as
the line it corrects (so the ledger posts it to the same revenue account), ``delta_for`` naming the
original period, and a trace showing the amount billed before and the amount it should have been.

Annual caps are then applied to the change through the cap's year-to-date totals (see ``billing.caps``),
so the year's capped total is the same as if the usage had arrived on time. Prepaid credits and tax
apply on the invoice that carries the delta, like any other amount on it.

Identity guaranteed: for every line key of the period, billed + deltas == rating with all usage; and per
contract year, billed within each cap scope == what rating all usage on time would have billed.
"""

from __future__ import annotations

from decimal import Decimal

from billing import usage as usage_mod
from billing.caps import CapAccounts, apply_caps
from billing.discounts import apply_discounts
from billing.errors import Problem, RatingError
from billing.inputs import LateUsage
from billing.invoice import Commitment, Note, TraceStep
from billing.items import Adj, Item
from billing.minimums import apply_minimums, minimum_amount, true_up_item
from billing.money import ZERO, from_minor
from billing.periods import Period
from billing.plan import RatingPlan, VersionPlan
from billing.selection import ItemIndex
from billing.state import ItemRecord, MinimumRecord, PeriodRecord


def record_items(items: list[Item], minor: int) -> list[ItemRecord]:
    out = []
    for it in items:
        if it.min_ref is not None:
            continue
        usage = it.charge is not None
        out.append(
            ItemRecord(
                key=it.key,
                kind=it.kind,
                site=it.site,
                category=it.category,
                charge=it.charge,
                gross=from_minor(it.gross, minor),
                net=from_minor(it.base, minor),
                quantity=it.quantity if usage else None,
                provider_cost=it.provider_cost if usage else None,
                group=list(it.group) if usage else [],
                tax_rate=it.tax.id if it.tax else None,
            )
        )
    return out


def _rebuild(vp: VersionPlan, rec: PeriodRecord, minor: int) -> tuple[list[Item], dict[str, usage_mod.UsageLine]]:
    items: list[Item] = []
    lines: dict[str, usage_mod.UsageLine] = {}
    for r in rec.items:
        gross = int(r.gross.scaleb(minor))
        it = Item(
            r.key,
            r.kind,
            r.site,
            gross,
            vp.tax_rates.get(r.tax_rate) if r.tax_rate else None,
            "",
            category=r.category,
            charge=r.charge,
            quantity=r.quantity,
        )
        it.net = it.base = int(r.net.scaleb(minor))
        items.append(it)
        if r.charge is not None:
            ch = vp.charges[r.charge]
            ln = usage_mod.UsageLine(r.key, ch, r.site, r.category, tuple(r.group))
            ln.quantity = r.quantity if r.quantity is not None else ZERO
            ln.cost = r.provider_cost
            lines[r.key] = ln
    return items, lines


def _stage1(
    vp: VersionPlan, period: Period, items: list[Item], active: tuple[int, int] | None, minor: int
) -> tuple[ItemIndex, list[Adj], list[MinimumRecord]]:
    index = ItemIndex(items)
    adjs: list[Adj] = []
    apply_discounts(vp, period, index, minor, adjs)
    recs: list[MinimumRecord] = []
    if vp.options.minimum_vs_cap == "cap_prevails":
        apply_minimums(vp, index, active, period.days, minor, recs, [])
    return index, adjs, recs


def apply_late(
    plan: RatingPlan,
    current: Period,
    late: LateUsage,
    history: dict[str, PeriodRecord],
    caps: CapAccounts,
    window: int,
    adjs: list[Adj],
    notes: list[Note],
    synthetic: list[Item],
    commitments: list[Commitment],
) -> None:
    minor = plan.minor
    p = Period.parse(late.period)
    rec = history.get(p.key)
    if rec is None:
        if current.index - p.index > window:
            qty = sum((u.quantity for u in late.usage), ZERO)
            notes.append(
                Note(
                    severity="warning",
                    code="late_usage_outside_window",
                    message=f"late usage for {p} ({len(late.usage)} aggregates, quantity {qty}) is older "
                    f"than the late-usage window of {window} periods; not billed",
                    path="/versions/*/options/late_usage_window",
                )
            )
            return
        raise RatingError(
            [
                Problem(
                    f"/late_usage/{p}", f"no billed record for {p} in the carried state; cannot compute an exact delta"
                )
            ]
        )
    vp = plan.version_for(p)
    active = (rec.active_from_day, rec.active_to_day) if rec.active_from_day else None
    old_items, old_lines = _rebuild(vp, rec, minor)
    # Re-price the period's usage with the late aggregates merged in.
    new_lines: dict[str, usage_mod.UsageLine] = {}
    for k, ln in old_lines.items():
        c = usage_mod.UsageLine(k, ln.charge, ln.site, ln.category, ln.group)
        c.quantity, c.cost = ln.quantity, ln.cost
        new_lines[k] = c
    unotes = usage_mod.UsageNotes()
    usage_mod.collect(vp, late.usage, new_lines, unotes)
    from billing.engine import usage_notes

    for un in usage_notes(vp, unotes):
        notes.append(
            Note(severity=un.severity, code=un.code, message=f"late usage for {p}: {un.message}", path=un.path)
        )
    new_usage = usage_mod.price(vp, new_lines, minor)
    new_items: list[Item] = []
    for it in old_items:
        if it.charge is None:
            c2 = Item(it.key, it.kind, it.site, it.gross, it.tax, "", category=it.category)
            c2.net = c2.base = it.base
            new_items.append(c2)
    new_items += new_usage
    old_idx, old_adjs, _ = _stage1(vp, p, old_items, active, minor)
    new_idx, new_adjs, new_recs = _stage1(vp, p, new_items, active, minor)
    old_by_key = {it.key: it for it in old_idx.items}
    new_by_key = {it.key: it for it in new_idx.items}
    prefix = f"late|{p.key}|"
    pk = p.key
    # base usage lines and true-ups whose amounts changed
    for key in sorted(set(old_by_key) | set(new_by_key)):
        o = old_by_key.get(key)
        n = new_by_key.get(key)
        ref = n or o
        assert ref is not None
        if ref.charge is None and ref.min_ref is None:
            continue
        og = o.gross if o else 0
        ng = n.gross if n else 0
        oq = (o.quantity or ZERO) if o else ZERO
        nq = (n.quantity or ZERO) if n else ZERO
        if og == ng and oq == nq:
            continue
        trace = [
            TraceStep(
                stage="late",
                note=f"delta for {pk}: billed before vs all usage",
                before=from_minor(og, minor),
                after=from_minor(ng, minor),
                amount=from_minor(ng - og, minor),
                quantity=nq - oq if ref.charge else None,
            )
        ]
        if n is not None:
            trace += n.trace
        desc = (n.description if n is not None and n.description else "") or (o.description if o else "") or key
        adjs.append(
            Adj(
                prefix + key,
                ref.kind,
                ref.site,
                ng - og,
                ref.tax,
                f"Late usage for {pk}: {desc}",
                trace,
                delta_for=pk,
                category=ref.category,
                quantity=(nq - oq) if ref.charge else None,
                unit=(n.unit if n else ""),
            )
        )
    # discount lines whose amounts changed
    old_a = {a.key: a for a in old_adjs}
    new_a = {a.key: a for a in new_adjs}
    for key in sorted(set(old_a) | set(new_a)):
        oa, na = old_a.get(key), new_a.get(key)
        ref_a = na or oa
        assert ref_a is not None
        d = (na.amount if na else 0) - (oa.amount if oa else 0)
        if d:
            trace = [
                TraceStep(
                    stage="late",
                    note=f"delta for {pk}: discount before vs all usage",
                    before=from_minor(oa.amount if oa else 0, minor),
                    after=from_minor(na.amount if na else 0, minor),
                    amount=from_minor(d, minor),
                )
            ]
            adjs.append(
                Adj(
                    prefix + key,
                    ref_a.kind,
                    ref_a.site,
                    d,
                    ref_a.tax,
                    f"Late usage for {pk}: {ref_a.description}",
                    trace + (na.trace if na else []),
                    delta_for=pk,
                )
            )
    # net change per line, for caps and for credits on the current invoice
    synth: list[Item] = []
    for key in sorted(set(old_by_key) | set(new_by_key)):
        o = old_by_key.get(key)
        n = new_by_key.get(key)
        ref = n or o
        assert ref is not None
        dn = (n.net if n else 0) - (o.net if o else 0)
        if dn:
            s = Item(
                prefix + key,
                ref.kind,
                ref.site,
                0,
                ref.tax,
                "",
                category=ref.category,
                charge=ref.charge,
                min_ref=ref.min_ref,
                emit=False,
            )
            s.net = dn
            s.delta_for = pk
            synth.append(s)
    sidx = ItemIndex(synth)
    apply_caps(plan, vp, p, sidx, caps, adjs, None, delta_for=pk)
    minimums = new_recs
    if vp.options.minimum_vs_cap == "minimum_prevails":
        minimums = []
        by_inst = {(m.minimum, m.instance): m for m in rec.minimums}
        for m in vp.minimums:
            mr = by_inst.get((m.id, m.instance))
            old_basis = int(mr.basis.scaleb(minor)) if mr else 0
            old_true = int(mr.true_up.scaleb(minor)) if mr else 0
            change = sum(it.net for it in sidx.select(m.scope))
            basis = old_basis + change
            amount = minimum_amount(m.amount, m.prorate, active, p.days, vp.rounding)
            true_up = amount - basis if amount > basis else 0
            minimums.append(
                MinimumRecord(
                    minimum=m.id,
                    instance=m.instance,
                    basis=from_minor(basis, minor),
                    true_up=from_minor(true_up, minor),
                )
            )
            if true_up != old_true:
                t = true_up_item(vp, m, basis, amount, true_up - old_true, minor, delta_for=pk)
                t.trace.insert(
                    0,
                    TraceStep(
                        stage="late",
                        note=f"delta for {pk}: true-up before vs all usage",
                        before=from_minor(old_true, minor),
                        after=from_minor(true_up, minor),
                        amount=from_minor(true_up - old_true, minor),
                    ),
                )
                adjs.append(
                    Adj(
                        prefix + t.key,
                        t.kind,
                        t.site,
                        t.gross,
                        t.tax,
                        f"Late usage for {pk}: {t.description}",
                        t.trace,
                        delta_for=pk,
                    )
                )
                s = Item(prefix + t.key, t.kind, t.site, 0, t.tax, "", min_ref=m, emit=False)
                s.net = true_up - old_true
                synth.append(s)
    synthetic.extend(synth)
    new_base = [it for it in new_items if it.min_ref is None]
    history[pk] = PeriodRecord(
        period=pk,
        version=rec.version,
        active_from_day=rec.active_from_day,
        active_to_day=rec.active_to_day,
        items=record_items(new_base, minor),
        minimums=minimums,
    )
    commitments.append(
        Commitment(
            type="late_usage",
            id=pk,
            note=f"{len(late.usage)} late aggregates for {pk}",
            basis=sum((u.quantity for u in late.usage), Decimal(0)),
        )
    )
