"""Retainers: recurring fees (advance or arrears) with hour allowances, rollover and overage.

Fees: an *arrears* retainer for period P is billed on P's invoice; an *advance* retainer bills period
P+1 on P's invoice (under P+1's terms), and P's invoice reconciles what was billed in advance for P with
what P turned out to cost (e.g. a termination mid-month credits the unused days). The very first period,
having had no earlier invoice, is billed on its own invoice. Partial periods are prorated by local days
(see ``billing.proration``).

Allowance: included hours (prorated by days like the fee, rounded half-up to 0.01 h) are consumed by
approved time on the covered projects, after billing increments. Rolled-over hours from earlier periods
are consumed first by default (``rollover.consume: oldest_first``) so the client loses as little as
possible; hours beyond the allowance are billed at ``overage_rate``. Unused hours roll over up to
``max_hours`` in total and expire after ``expires_after_periods`` periods.
"""

from __future__ import annotations

from datetime import date
from decimal import ROUND_HALF_UP, Decimal

from billing.inputs import TimeEntry
from billing.invoice import Commitment, Note, TraceStep
from billing.items import Item
from billing.money import ZERO, divide, from_minor, quantize, to_minor
from billing.periods import Period
from billing.plan import RatingPlan, RetainerC, VersionPlan
from billing.proration import active_days, prorate
from billing.state import RolloverBucket
from billing.time_materials import hours, round_increment

_SIXTY = Decimal(60)
_CENT_HOUR = Decimal("0.01")


def _fee(r: RetainerC, period: Period, active: tuple[int, int] | None, rounding: str) -> int:
    if active is None:
        return 0
    first, last = active
    if not r.prorate or (first == 1 and last == period.days):
        return r.amount
    return prorate(r.amount, first, last, period.days, rounding)


def _days_note(period: Period, active: tuple[int, int] | None) -> str:
    if active is None:
        return "no service days"
    first, last = active
    if first == 1 and last == period.days:
        return f"full month, {period.days} days"
    return f"days {first}–{last} of {period.days}"


def rate_fees(
    plan: RatingPlan,
    vp: VersionPlan,
    period: Period,
    active: tuple[int, int] | None,
    end: date | None,
    advance: dict[tuple[str, str], int],
    items: list[Item],
) -> None:
    minor = plan.minor
    pk = period.key
    seen: set[str] = set()
    for r in vp.retainers:
        seen.add(r.id)
        expected = _fee(r, period, active, vp.rounding)
        rule = f"{r.path}/amount"
        if r.billing == "arrears":
            if expected:
                items.append(_fee_item(r, period, expected, active, rule, minor, "arrears"))
            continue
        billed = advance.pop((r.id, pk), None)
        if billed is None:
            if expected:
                items.append(_fee_item(r, period, expected, active, rule, minor, "first period, not billed in advance"))
        elif billed != expected:
            diff = expected - billed
            trace = [
                TraceStep(
                    stage="prorate",
                    rule=rule,
                    note=_days_note(period, active),
                    limit=from_minor(r.amount, minor),
                    before=from_minor(billed, minor),
                    after=from_minor(expected, minor),
                    amount=from_minor(diff, minor),
                )
            ]
            items.append(
                Item(
                    f"retainer|{r.id}|adjust|{pk}",
                    "retainer",
                    r.site,
                    diff,
                    r.tax,
                    f"{r.description} — {pk} adjustment: {_days_note(period, active)} "
                    f"(billed in advance {from_minor(billed, minor)})",
                    quantity=Decimal(1),
                    unit="adjustment",
                    trace=trace,
                )
            )
        nxt = period.shift(1)
        vnext = plan.version_for(nxt)
        rn = next((x for x in vnext.retainers if x.id == r.id), None)
        if rn is None or rn.billing != "advance":
            continue
        act_n = active_days(nxt, plan.start_date, end)
        amt_n = _fee(rn, nxt, act_n, vnext.rounding)
        if amt_n:
            items.append(_fee_item(rn, nxt, amt_n, act_n, f"{rn.path}/amount", minor, "in advance"))
            advance[(r.id, nxt.key)] = amt_n
    # advance fees billed for this period under a retainer the current terms no longer have
    for (rid, pkey), billed in sorted(advance.items()):
        if pkey == pk and rid not in seen:
            del advance[(rid, pkey)]
            items.append(
                Item(
                    f"retainer|{rid}|adjust|{pk}",
                    "retainer",
                    vp.default_site,
                    -billed,
                    vp.tax_for("retainer"),
                    f"Retainer {rid} — {pk}: billed in advance but no longer in the terms; credited",
                    quantity=Decimal(1),
                    unit="adjustment",
                    trace=[TraceStep(stage="prorate", before=from_minor(billed, minor), after=from_minor(0, minor))],
                )
            )


def _fee_item(
    r: RetainerC, period: Period, amount: int, active: tuple[int, int] | None, rule: str, minor: int, how: str
) -> Item:
    trace = [
        TraceStep(
            stage="prorate",
            rule=rule,
            note=f"{_days_note(period, active)}; {how}",
            limit=from_minor(r.amount, minor),
            amount=from_minor(amount, minor),
        )
    ]
    full = amount == r.amount
    return Item(
        f"retainer|{r.id}|fee|{period.key}",
        "retainer",
        r.site,
        amount,
        r.tax,
        f"{r.description} — {period.key}"
        + ("" if full else f" ({_days_note(period, active)})")
        + (" (in advance)" if how == "in advance" else ""),
        quantity=Decimal(1),
        unit="month",
        unit_price=from_minor(amount, minor) if full else None,
        trace=trace,
    )


def rate_allowances(
    vp: VersionPlan,
    period: Period,
    active: tuple[int, int] | None,
    minor: int,
    covered: dict[str, list[TimeEntry]],
    rollover: list[RolloverBucket],
    items: list[Item],
    notes: list[Note],
    commitments: list[Commitment],
) -> list[RolloverBucket]:
    """Consume allowances; returns the rollover buckets to carry (all retainers)."""
    pk = period.key
    managed = {r.id for r in vp.retainers if r.included_minutes}
    # buckets of retainers these terms no longer have still expire on schedule
    keep = [b for b in rollover if b.retainer not in managed and Period.parse(b.expires_after) > period]
    tm = vp.time
    for r in vp.retainers:
        if not r.included_minutes:
            continue
        entries = covered.get(r.id, [])
        raw = sum((e.minutes for e in entries), ZERO)
        used = sum(
            (round_increment(e.minutes, tm.increment, tm.increment_rounding) if tm else e.minutes for e in entries),
            ZERO,
        )
        if active is None:
            allowance = ZERO
        elif not r.prorate or (active[0] == 1 and active[1] == period.days):
            allowance = r.included_minutes
        else:
            hours_due = divide(r.included_minutes * (active[1] - active[0] + 1), 60 * period.days)
            allowance = quantize(hours_due, _CENT_HOUR, ROUND_HALF_UP) * 60
        buckets = sorted(
            (
                b
                for b in rollover
                if b.retainer == r.id and Period.parse(b.earned) < period and period <= Period.parse(b.expires_after)
            ),
            key=lambda b: (b.earned, b.expires_after),
        )
        remaining = {id(b): b.minutes for b in buckets}
        need = used
        use_current = ZERO

        steps: list[TraceStep] = []
        if r.rollover is not None and r.rollover.consume == "current_first":
            use_current = min(need, allowance)
            need = _take(buckets, remaining, need - use_current)
        else:
            need = _take(buckets, remaining, need)
            use_current = min(need, allowance)
            need -= use_current
        from_rollover = used - use_current - need
        overage = need
        steps.append(
            TraceStep(
                stage="allowance",
                rule=f"{r.path}/included_hours",
                note="hours",
                limit=hours(allowance),
                basis=hours(used),
                before=hours(raw),
                amount=hours(from_rollover),
                after=hours(overage),
                refs=sorted(e.id for e in entries),
            )
        )
        if overage > 0:
            assert r.overage_rate is not None
            exact = divide(overage * r.overage_rate, _SIXTY)
            amount = to_minor(exact, minor, vp.rounding)
            steps.append(
                TraceStep(
                    stage="overage",
                    rule=f"{r.path}/overage_rate",
                    quantity=hours(overage),
                    unit_price=r.overage_rate,
                    amount=exact,
                )
            )
            steps.append(
                TraceStep(stage="round", note=vp.options.rounding, before=exact, after=from_minor(amount, minor))
            )
            items.append(
                Item(
                    f"retainer|{r.id}|overage",
                    "retainer",
                    r.site,
                    amount,
                    r.tax,
                    f"{r.description} — overage beyond {hours(allowance)} h included"
                    + (f" and {hours(from_rollover)} h rolled over" if from_rollover else ""),
                    quantity=hours(overage),
                    unit="hours",
                    unit_price=r.overage_rate,
                    trace=steps,
                )
            )
        unused = allowance - use_current
        forfeited = ZERO
        survivors = [
            RolloverBucket(retainer=r.id, earned=b.earned, minutes=remaining[id(b)], expires_after=b.expires_after)
            for b in buckets
            if remaining[id(b)] > 0 and Period.parse(b.expires_after) > period
        ]
        forfeited += sum(
            (remaining[id(b)] for b in buckets if remaining[id(b)] > 0 and Period.parse(b.expires_after) <= period),
            ZERO,
        )
        carried = ZERO
        if r.rollover is not None and unused > 0:
            room = r.rollover.max_hours * 60 - sum((b.minutes for b in survivors), ZERO)
            carried = min(unused, room) if room > 0 else ZERO
            if carried > 0:
                survivors.append(
                    RolloverBucket(
                        retainer=r.id,
                        earned=pk,
                        minutes=carried,
                        expires_after=period.shift(r.rollover.expires_after_periods).key,
                    )
                )
        forfeited += unused - carried
        keep.extend(survivors)
        if forfeited > 0:
            notes.append(
                Note(
                    severity="info",
                    code="allowance_forfeited",
                    message=f"{r.description}: {hours(forfeited)} unused hours forfeited "
                    "(rollover cap, expiry or no rollover)",
                    path=f"{r.path}/rollover",
                )
            )
        commitments.append(
            Commitment(
                type="allowance",
                id=r.id,
                rule=f"{r.path}/included_hours",
                limit=hours(allowance),
                basis=hours(used),
                before=hours(sum(remaining_before(buckets), ZERO)),
                after=hours(sum((b.minutes for b in survivors), ZERO)),
                remaining=hours(unused),
                adjustment=hours(overage),
                note="hours: limit=allowance this period, basis=hours used, before/after=rollover balance, "
                "remaining=unused allowance, adjustment=overage hours",
            )
        )
    return keep


def _take(buckets: list[RolloverBucket], remaining: dict[int, Decimal], need: Decimal) -> Decimal:
    """Consume rolled-over hours, oldest bucket first; returns what is still needed."""
    for b in buckets:
        t = min(need, remaining[id(b)])
        remaining[id(b)] -= t
        need -= t
    return need


def remaining_before(buckets: list[RolloverBucket]) -> list[Decimal]:
    return [b.minutes for b in buckets]
