"""Fixed-fee milestones billed on acceptance, with optional retention.

A milestone is billed on the invoice of the period in which it was accepted (a milestone accepted in an
earlier period but never billed is billed now, with a note). Retention withholds a percentage of the
milestone (rounded once) as a negative ``retention`` line and releases exactly the withheld
amount later, as a ``retention_release`` line, when the named milestone is accepted or N periods after
acceptance. Retention lines carry the milestone's tax rate unless ``tax.by_kind`` says otherwise, so by
default tax on the withheld part is deferred to its release.
"""

from __future__ import annotations

from decimal import Decimal

from billing.inputs import MilestoneAcceptance
from billing.invoice import Note, TraceStep
from billing.items import Item, TaxRateC
from billing.money import from_minor, to_minor
from billing.periods import Period
from billing.plan import VersionPlan
from billing.state import RetentionHeld


def rate_milestones(
    vp: VersionPlan,
    period: Period,
    minor: int,
    accepted: list[MilestoneAcceptance],
    billed: set[str],
    held: list[RetentionHeld],
    items: list[Item],
    notes: list[Note],
) -> list[RetentionHeld]:
    pk = period.key
    newly: list[str] = []
    seen_now: set[str] = set()
    for a in sorted(accepted, key=lambda a: (a.accepted_on, a.id)):
        if a.id in billed or a.id in seen_now:
            notes.append(
                Note(
                    severity="warning",
                    code="milestone_already_billed",
                    message=f"milestone {a.id} was already billed; ignored",
                )
            )
            continue
        if a.accepted_on > period.last_day:
            notes.append(
                Note(
                    severity="info",
                    code="milestone_after_period",
                    message=f"milestone {a.id} accepted {a.accepted_on}, after {pk}; bill it then",
                )
            )
            continue
        m = vp.milestones.get(a.id)
        if m is None:
            notes.append(
                Note(
                    severity="warning",
                    code="milestone_unknown",
                    message=f"accepted milestone {a.id} is not in the terms for {pk}; not billed",
                    path=f"{vp.path}/milestones",
                )
            )
            continue
        seen_now.add(a.id)
        newly.append(a.id)
        if a.accepted_on < period.first_day:
            notes.append(
                Note(
                    severity="info",
                    code="milestone_from_earlier_period",
                    message=f"milestone {a.id} accepted {a.accepted_on} is billed on this invoice",
                )
            )
        items.append(
            Item(
                f"milestone|{m.id}",
                "milestone",
                m.site,
                m.amount,
                m.tax,
                f"{m.description} (accepted {a.accepted_on})",
                quantity=Decimal(1),
                unit="milestone",
                unit_price=from_minor(m.amount, minor),
                trace=[
                    TraceStep(
                        stage="milestone", rule=f"{m.path}/amount", amount=from_minor(m.amount, minor), refs=[a.id]
                    )
                ],
            )
        )
        if m.retention_percent is not None:
            exact = Decimal(m.amount) * m.retention_percent / 100
            withheld = to_minor(exact, 0, vp.rounding)
            exact_money = exact.scaleb(-minor)
            items.append(
                Item(
                    f"retention|{m.id}|withheld",
                    "retention",
                    m.site,
                    -withheld,
                    m.retention_tax,
                    f"Retention {m.retention_percent}% withheld on {m.description}",
                    quantity=Decimal(1),
                    unit="retention",
                    trace=[
                        TraceStep(
                            stage="retention",
                            rule=f"{m.path}/retention/percent",
                            basis=from_minor(m.amount, minor),
                            percent=m.retention_percent,
                            before=exact_money,
                            amount=from_minor(-withheld, minor),
                        )
                    ],
                )
            )
            held.append(
                RetentionHeld(
                    milestone=m.id,
                    amount=from_minor(withheld, minor),
                    site=m.site,
                    tax_rate=m.retention_tax.id if m.retention_tax else None,
                    withheld_in=pk,
                    release_on_milestone=m.release_on,
                    release_period=None if m.release_after is None else period.shift(m.release_after).key,
                )
            )
    billed.update(newly)
    keep: list[RetentionHeld] = []
    for h in held:
        due = (h.release_on_milestone is not None and h.release_on_milestone in billed) or (
            h.release_period is not None and Period.parse(h.release_period) <= period
        )
        if not due:
            keep.append(h)
            continue
        amount = int(h.amount.scaleb(minor))
        # the release carries the withheld line's rate (tax deferred or not, consistently) unless the
        # terms name a rate for releases explicitly
        tax = vp.tax_by_kind.get("retention_release") or _tax_by_id(vp, h.tax_rate)
        why = (
            f"milestone {h.release_on_milestone} accepted"
            if h.release_on_milestone
            else f"release period {h.release_period} reached"
        )
        items.append(
            Item(
                f"retention|{h.milestone}|release",
                "retention_release",
                h.site,
                amount,
                tax,
                f"Retention released on milestone {h.milestone} ({why})",
                quantity=Decimal(1),
                unit="retention",
                trace=[
                    TraceStep(stage="retention_release", note=why, amount=h.amount, refs=[h.milestone, h.withheld_in])
                ],
            )
        )
    return keep


def _tax_by_id(vp: VersionPlan, rate_id: str | None) -> TaxRateC | None:
    if rate_id is None:
        return None
    return vp.tax_rates.get(rate_id, vp.tax_for("milestone"))
