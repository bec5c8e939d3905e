"""Rating usage aggregates: match each aggregate to its charge, build lines, price them.

A line is one (charge, site, category, group_by values) combination. Site and category are always line
dimensions because minimums, caps and per-site subtotals are defined on them. Each line is priced from
its exact total quantity and rounded once; with ``tier_basis`` ``site`` or ``client`` the tier walk runs
on the combined quantity and the single rounded amount is split across lines by quantity, exactly.
"""

from __future__ import annotations

from decimal import Decimal

from billing.errors import Problem, RatingError
from billing.inputs import UsageAggregate
from billing.invoice import TraceStep
from billing.items import Item
from billing.money import ZERO, allocate, from_minor, to_minor
from billing.plan import ChargeC, VersionPlan


class UsageLine:
    __slots__ = ("aggregates", "category", "charge", "cost", "group", "key", "quantity", "site")

    def __init__(self, key: str, charge: ChargeC, site: str, category: str | None, group: tuple[str, ...]) -> None:
        self.key = key
        self.charge = charge
        self.site = site
        self.category = category
        self.group = group
        self.quantity = ZERO
        self.cost: Decimal | None = None
        self.aggregates = 0


class UsageNotes:
    """Usage that could not be billed, summed per reason so finance sees it instead of it vanishing."""

    def __init__(self) -> None:
        self.unpriced_meter: dict[str, Decimal] = {}
        self.unmatched: dict[tuple[str, tuple[tuple[str, str], ...]], Decimal] = {}
        self.disabled: dict[tuple[str, str, str], Decimal] = {}
        self.undeclared_sites: set[str] = set()


def _esc(v: str) -> str:
    return v.replace("\\", "\\\\").replace("|", "\\|") if ("|" in v or "\\" in v) else v


def line_key(charge: str, site: str, category: str | None, group: tuple[str, ...]) -> str:
    k = f"usage|{charge}|{_esc(site)}|{_esc(category or '')}"
    if group:
        k += "|" + "|".join(_esc(g) for g in group)
    return k


def collect(vp: VersionPlan, aggregates: list[UsageAggregate], lines: dict[str, UsageLine], notes: UsageNotes) -> None:
    """Add aggregates into ``lines`` (keyed by line key)."""
    site_dim = vp.site_dim
    cat_dim = vp.category_dim
    disabled = vp.disabled
    ranked = vp.site_rank
    for agg in aggregates:
        dims = agg.dimensions
        site = dims.get(site_dim) or vp.default_site
        idx = vp.meters.get(agg.meter)
        if idx is None:
            notes.unpriced_meter[agg.meter] = notes.unpriced_meter.get(agg.meter, ZERO) + agg.quantity
            continue
        cat = dims.get(cat_dim)
        if cat is not None and site in disabled and cat in disabled[site]:
            k3 = (site, cat, agg.meter)
            notes.disabled[k3] = notes.disabled.get(k3, ZERO) + agg.quantity
            continue
        charge = idx.match(dims if site_dim in dims else {**dims, site_dim: site})
        if charge is None:
            k2 = (agg.meter, tuple(sorted(dims.items())))
            notes.unmatched[k2] = notes.unmatched.get(k2, ZERO) + agg.quantity
            continue
        if ranked and site not in ranked:
            notes.undeclared_sites.add(site)
        group = tuple(dims.get(g, "") for g in charge.group_by) if charge.group_by else ()
        key = line_key(charge.id, site, cat, group)
        line = lines.get(key)
        if line is None:
            line = lines[key] = UsageLine(key, charge, site, cat, group)
        line.quantity += agg.quantity
        if agg.provider_cost is not None:
            line.cost = agg.provider_cost if line.cost is None else line.cost + agg.provider_cost
        line.aggregates += 1


def _describe(line: UsageLine) -> str:
    d = line.charge.description
    if line.category:
        d += f" — {line.category}"
    if line.group:
        d += " (" + ", ".join(f"{g}={v}" for g, v in zip(line.charge.group_by, line.group, strict=True)) + ")"
    return d


def price(vp: VersionPlan, lines: dict[str, UsageLine], minor: int) -> list[Item]:
    """Price usage lines into items, in key order."""
    rounding = vp.rounding
    mode = vp.options.rounding
    scale = -minor
    items: list[Item] = []
    groups: dict[tuple[str, str], list[UsageLine]] = {}
    bad: list[Problem] = []
    for key in sorted(lines):
        line = lines[key]
        ch = line.charge
        q = line.quantity
        if q < ZERO:
            bad.append(
                Problem(
                    f"/usage/{key}",
                    f"usage quantity is negative ({q}) after merging "
                    "corrections; a retraction cannot exceed the recorded usage",
                )
            )
            continue
        if ch.tier_basis == "line":
            steps = [TraceStep(stage="usage", rule=ch.path, quantity=q, basis=line.cost, refs=[key])]
            if ch.included:
                billable = q - ch.included if q > ch.included else ZERO
                steps.append(
                    TraceStep(stage="included", rule=ch.included_rule, limit=ch.included, before=q, after=billable)
                )
                exact, model_steps, unit_price = ch.model.price(billable, line.cost)
                unit_price = None
            else:
                exact, model_steps, unit_price = ch.model.price(q, line.cost)
            amount = int(exact.scaleb(minor).to_integral_value(rounding=rounding))
            steps += model_steps
            steps.append(TraceStep(stage="round", note=mode, before=exact, after=Decimal(amount).scaleb(scale)))
            it = Item(
                key,
                ch.kind,
                line.site,
                amount,
                ch.tax,
                _describe(line),
                category=line.category,
                charge=ch.id,
                quantity=q,
                unit=ch.unit,
                unit_price=unit_price,
                trace=steps,
            )
            it.provider_cost = line.cost
            it.group = line.group
            items.append(it)
        else:
            gk = (ch.id, line.site if ch.tier_basis == "site" else "")
            groups.setdefault(gk, []).append(line)
    if bad:
        raise RatingError(bad)
    for (_cid, _site), glines in groups.items():
        items.extend(_price_group(vp, glines, minor))
    return items


def _price_group(vp: VersionPlan, glines: list[UsageLine], minor: int) -> list[Item]:
    ch = glines[0].charge
    total = sum((ln.quantity for ln in glines), ZERO)
    billable = total - ch.included if total > ch.included else ZERO
    exact, model_steps, _ = ch.model.price(billable, None)
    amount = to_minor(exact, minor, vp.rounding)
    shared = [TraceStep(stage="tier_basis", rule=f"{ch.path}/tier_basis", note=ch.tier_basis, basis=total)]
    if ch.included:
        shared.append(
            TraceStep(
                stage="included", rule=f"{ch.path}/included_units", limit=ch.included, before=total, after=billable
            )
        )
    shared += model_steps
    shared.append(TraceStep(stage="round", note=vp.options.rounding, before=exact, after=from_minor(amount, minor)))
    exp = max(-ln.quantity.as_tuple().exponent for ln in glines)  # type: ignore[operator]
    exp = max(0, min(int(exp), 18))
    weights = [int(ln.quantity.scaleb(exp)) for ln in glines]
    shares = allocate(amount, weights)
    out = []
    for ln, share in zip(glines, shares, strict=True):
        steps = [
            TraceStep(stage="usage", rule=ch.path, quantity=ln.quantity, refs=[ln.key]),
            *shared,
            TraceStep(
                stage="allocate",
                note="share of the combined amount by quantity",
                basis=total,
                quantity=ln.quantity,
                amount=from_minor(share, minor),
            ),
        ]
        it = Item(
            ln.key,
            ch.kind,
            ln.site,
            share,
            vp.tax_for(ch.kind),
            _describe(ln),
            category=ln.category,
            charge=ch.id,
            quantity=ln.quantity,
            unit=ch.unit,
            trace=steps,
        )
        it.group = ln.group
        out.append(it)
    return out
