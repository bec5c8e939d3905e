"""Time & materials: approved time at rate-card rates, with billing increments and not-to-exceed caps.

* The rate comes from the rate card in force on the entry's *work date* (cards are date-effective, so
  a rate change on the 16th splits a month correctly); a person's rate overrides their role's.
* Billing increments round each entry's duration (not money), e.g. up to the next 15 minutes.
* A line is one (project, phase, person, rate card, rate); its amount is minutes x rate / 60, rounded
  once. Hours on the line are exact whenever increments are used.
* Not-to-exceed caps are lifetime amounts per phase and per project, consumed across periods (carried in
  state); the excess is written down by a ``not_to_exceed_adjustment`` line, phase caps first.
* Time dated in an earlier (already invoiced) period that was approved after that invoice is billed on its
  own *late* line, traced like a late-usage delta (key ``late|<period>|services|…``, ``delta_for`` the
  period, "Late time for 2026-11 (approved 2026-12-03)"), at the rate card of the terms version in force
  for that period on the entry's work date — so a late hour costs what it would have cost on time.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from decimal import ROUND_CEILING, ROUND_HALF_EVEN, ROUND_HALF_UP, Decimal

from billing.inputs import TimeEntry
from billing.invoice import Commitment, Note, TraceStep
from billing.items import Adj, Item, reduction_weights, spread
from billing.money import ZERO, divide, from_minor, quantize, to_minor
from billing.periods import Period
from billing.plan import CardC, TimeC, VersionPlan

_SIXTY = Decimal(60)
_FINE = Decimal("0.0001")


class _Acc:
    __slots__ = ("approved", "card_from", "entry", "ids", "late_for", "rate", "raw", "rounded", "rule", "tm")

    def __init__(
        self, entry: TimeEntry, card_from: date, rate: Decimal, rule: str, tm: TimeC, late_for: Period | None
    ) -> None:
        self.entry = entry
        self.card_from = card_from
        self.rate = rate
        self.rule = rule
        self.tm = tm
        self.late_for = late_for
        self.raw = ZERO
        self.rounded = ZERO
        self.ids: list[str] = []
        self.approved: set[date] = set()


def round_increment(minutes: Decimal, increment: int, mode: str) -> Decimal:
    if increment <= 0:
        return minutes
    inc = Decimal(increment)
    rounding = ROUND_CEILING if mode == "up" else ROUND_HALF_UP
    return divide(minutes, inc).to_integral_value(rounding=rounding) * inc


def hours(minutes: Decimal) -> Decimal:
    """Minutes as hours for display; exact when it terminates within 6 decimals, else to 4 decimals."""
    h = divide(minutes, _SIXTY)
    exp = h.as_tuple().exponent
    if isinstance(exp, int) and exp < -6:
        return quantize(h, _FINE, ROUND_HALF_EVEN)
    return h


def rate_time(
    vp: VersionPlan,
    period: Period,
    contract_start: date,
    entries: list[TimeEntry],
    minor: int,
    ntes: dict[tuple[str, str | None], int],
    items: list[Item],
    adjs: list[Adj],
    notes: list[Note],
    commitments: list[Commitment],
    version_for: Callable[[Period], VersionPlan] | None = None,
) -> None:
    """Rate ``entries`` into time lines. ``version_for`` gives the terms version of an earlier period, whose
    rate cards price that period's late time (without it, the current version's cards do)."""
    tm = vp.time
    if not entries:
        return
    if tm is None:
        notes.append(
            Note(
                severity="warning",
                code="time_without_rates",
                message=f"{len(entries)} billable time entries but the terms have no time_and_materials "
                "section; they were not billed",
                path=f"{vp.path}/time_and_materials",
            )
        )
        return
    acc: dict[str, _Acc] = {}
    late: list[str] = []
    for e in sorted(entries, key=lambda e: (e.work_date, e.id)):
        if e.work_date > period.last_day:
            notes.append(
                Note(
                    severity="info",
                    code="time_after_period",
                    message=f"time entry {e.id} ({e.work_date}) is after the period; not billed here",
                )
            )
            continue
        if e.work_date < contract_start:
            notes.append(
                Note(
                    severity="warning",
                    code="time_before_contract",
                    message=f"time entry {e.id} ({e.work_date}) predates the contract; not billed",
                )
            )
            continue
        late_for = Period.of_date(e.work_date) if e.work_date < period.first_day else None
        etm: TimeC | None = tm
        if late_for is not None and version_for is not None:
            etm = version_for(late_for).time
        card: CardC | None = etm.card_for(e.work_date) if etm is not None else None
        rate: Decimal | None = None
        rule = ""
        if card is not None:
            if e.person in card.people:
                rate, rule = card.people[e.person], f"{card.path}/people/{e.person}"
            elif e.role in card.roles:
                rate, rule = card.roles[e.role], f"{card.path}/roles/{e.role}"
        if etm is None or card is None or rate is None:
            notes.append(
                Note(
                    severity="warning",
                    code="time_unrated",
                    message=f"time entry {e.id}: no rate for person {e.person!r} / role {e.role!r} on "
                    f"{e.work_date}; not billed",
                    path=f"{(etm or tm).path}/rate_cards",
                )
            )
            continue
        if late_for is not None:
            late.append(e.id)
        rounded = round_increment(e.minutes, etm.increment, etm.increment_rounding)
        key = f"services|{e.project}|{e.phase or ''}|{e.person}|{card.effective_from}|{rate}"
        if late_for is not None:
            key = f"late|{late_for.key}|{key}"
        a = acc.get(key)
        if a is None:
            a = acc[key] = _Acc(e, card.effective_from, rate, rule, etm, late_for)
        a.raw += e.minutes
        a.rounded += rounded
        a.ids.append(e.id)
        if e.approved_on is not None:
            a.approved.add(e.approved_on)
    if late:
        notes.append(
            Note(
                severity="info",
                code="time_from_earlier_period",
                message=f"{len(late)} time entries dated in earlier periods were approved after those periods "
                f"were invoiced and are billed on this invoice as late time lines: {', '.join(late)}",
            )
        )
    new_items: list[Item] = []
    for key in sorted(acc):
        a = acc[key]
        e, card_from, rate, rule, raw, rounded, ids = a.entry, a.card_from, a.rate, a.rule, a.raw, a.rounded, a.ids
        etm = a.tm
        proj = tm.projects.get(e.project) or etm.projects.get(e.project)
        site = proj.site if proj else vp.default_site
        exact = divide(rounded * rate, _SIXTY)
        amount = to_minor(exact, minor, vp.rounding)
        steps = [TraceStep(stage="time", rule=rule, quantity=hours(rounded), unit_price=rate, refs=ids)]
        if etm.increment:
            steps.append(
                TraceStep(
                    stage="increment",
                    rule=f"{etm.path}/increment_minutes",
                    note=f"each entry rounded {etm.increment_rounding} to {etm.increment} min",
                    before=raw,
                    after=rounded,
                )
            )
        steps.append(TraceStep(stage="round", note=vp.options.rounding, before=exact, after=from_minor(amount, minor)))
        pname = e.person_name or e.person
        where = (proj.name if proj else e.project) + (f" / {e.phase}" if e.phase else "")
        description = f"{where}: {pname} ({e.role}), rates from {card_from}"
        if a.late_for is not None:
            approved = ", ".join(d.isoformat() for d in sorted(a.approved)) or "after invoicing"
            late_note = f"time for {a.late_for}, approved {approved}"
            description = f"Late time for {a.late_for} (approved {approved}): {description}"
            steps.insert(0, TraceStep(stage="late", note=late_note, refs=ids))
        it = Item(
            key,
            "services",
            site,
            amount,
            vp.tax_for("services"),
            description,
            quantity=hours(rounded),
            unit="hours",
            unit_price=rate,
            trace=steps,
        )
        it.group = (e.project, e.phase or "")
        if a.late_for is not None:
            it.delta_for = a.late_for.key
        new_items.append(it)
    items.extend(new_items)
    _apply_nte(vp, tm, new_items, minor, ntes, adjs, commitments)


def _apply_nte(
    vp: VersionPlan,
    tm: TimeC,
    new_items: list[Item],
    minor: int,
    ntes: dict[tuple[str, str | None], int],
    adjs: list[Adj],
    commitments: list[Commitment],
) -> None:
    caps: list[tuple[str, str | None, int, str, list[Item]]] = []
    for code, proj in tm.projects.items():
        mine = [it for it in new_items if it.group[0] == code]
        for ph_code, (_name, nte, path) in proj.phases.items():
            if nte is not None:
                caps.append((code, ph_code, nte, path, [it for it in mine if it.group[1] == ph_code]))
        if proj.nte is not None:
            caps.append((code, None, proj.nte, f"{proj.path}/not_to_exceed", mine))
    for code, phase, nte, path, scoped in caps:
        period_amount = sum(it.net for it in scoped)
        before = ntes.get((code, phase), 0)
        allowed = max(0, nte - before)
        adj = 0
        if period_amount > allowed:
            adj = allowed - period_amount
            label = f"{code}/{phase}" if phase else code
            for (site, _tid), (amt, tax) in spread(adj, scoped, reduction_weights(scoped, adj)).items():
                trace = [
                    TraceStep(
                        stage="not_to_exceed",
                        rule=path,
                        limit=from_minor(nte, minor),
                        before=from_minor(before, minor),
                        basis=from_minor(period_amount, minor),
                        amount=from_minor(amt, minor),
                        after=from_minor(before + period_amount + adj, minor),
                    )
                ]
                adjs.append(
                    Adj(
                        f"nte|{code}|{phase or ''}|{site}|{tax.id if tax else ''}",
                        "not_to_exceed_adjustment",
                        site,
                        amt,
                        tax,
                        f"Not-to-exceed cap {label}: {from_minor(nte, minor)} reached",
                        trace,
                    )
                )
        after = before + period_amount + adj
        if scoped or before:
            ntes[(code, phase)] = after
        commitments.append(
            Commitment(
                type="not_to_exceed",
                id=code if phase is None else f"{code}/{phase}",
                rule=path,
                limit=from_minor(nte, minor),
                before=from_minor(before, minor),
                basis=from_minor(period_amount, minor),
                adjustment=from_minor(adj, minor),
                after=from_minor(after, minor),
                remaining=from_minor(nte - after, minor),
            )
        )
