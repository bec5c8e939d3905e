"""Semantic validation of contract terms: every problem, each with its path.

Structural problems (types, unknown fields) are found by the loader; this module checks what the types
cannot express: tier continuity, prices and amounts that make sense in the currency, references between
clauses, effective-date ordering, and the rule interactions that would otherwise have to be guessed at
rating time (a minimum whose scope half-overlaps a cap). Legal shapes with a consequence worth seeing
before signing -- a cap below the minimums it contains -- are warnings (``contract_warnings``), not errors.
"""

from __future__ import annotations

from collections.abc import Iterable
from decimal import Decimal
from typing import Any

from billing import scopes
from billing.currencies import is_known_currency, minor_units
from billing.errors import Problem
from billing.loader import Source, bound_problems, parse_terms
from billing.money import HUNDRED, ZERO, is_representable
from billing.periods import Period, contract_year_start, is_known_zone
from billing.terms import (
    AnnualCap,
    ContractTerms,
    ContractVersion,
    CostPlus,
    Graduated,
    Package,
    PerUnit,
    Scope,
    Tier,
    UsageCharge,
    Volume,
)


class _V:
    def __init__(self, minor: int | None) -> None:
        self.problems: list[Problem] = []
        self.minor = minor

    def add(self, path: str, message: str) -> None:
        self.problems.append(Problem(path, message))

    def non_negative(self, path: str, value: Decimal, what: str = "price") -> None:
        if value < ZERO:
            self.add(path, f"negative {what} ({value}) is not allowed")

    def money(self, path: str, value: Decimal, positive: bool = False) -> None:
        if value < ZERO or (positive and value == ZERO):
            self.add(path, f"amount must be {'positive' if positive else 'zero or more'}, got {value}")
        if self.minor is not None and not is_representable(value, self.minor):
            self.add(path, f"amount {value} has more decimals than the currency's minor unit ({self.minor})")

    def percent(self, path: str, value: Decimal, allow_zero: bool = False) -> None:
        low_ok = value >= ZERO if allow_zero else value > ZERO
        if not low_ok or value > HUNDRED:
            lo = "0" if allow_zero else "more than 0"
            self.add(path, f"percent must be between {lo} and 100, got {value}")

    def unique(self, base: str, ids: Iterable[str], what: str) -> None:
        seen: dict[str, int] = {}
        for i, ident in enumerate(ids):
            if ident in seen:
                self.add(f"{base}/{i}/id", f"duplicate {what} id {ident!r} (also at {base}/{seen[ident]})")
            else:
                seen[ident] = i


def validate_terms(terms: ContractTerms | Source) -> list[Problem]:
    """Every problem that makes the terms unusable for rating; an empty list means valid."""
    if not isinstance(terms, ContractTerms):
        parsed, problems = parse_terms(terms)
        if parsed is None:
            return problems
        terms = parsed
    # A NaN, an infinity or a 400-digit number cannot be compared or added meaningfully: report every
    # out-of-bounds decimal (with its field) and nothing that would have to reason about it.
    out_of_bounds = bound_problems(terms, ContractTerms)
    if out_of_bounds:
        return out_of_bounds
    minor = minor_units(terms.currency) if is_known_currency(terms.currency) else None
    v = _V(minor)
    if minor is None:
        v.add("/currency", f"unknown ISO 4217 currency code {terms.currency!r}")
    if not is_known_zone(terms.timezone):
        v.add("/timezone", f"unknown IANA time zone {terms.timezone!r}")
    if terms.end_date is not None and terms.end_date < terms.start_date:
        v.add("/end_date", f"end_date {terms.end_date} is before start_date {terms.start_date}")
    _check_versions(v, terms)
    _check_meters(v, terms)
    all_sites = {s.id for ver in terms.versions for s in ver.sites}
    all_charges = {c.id for ver in terms.versions for c in ver.usage_charges}
    v.unique("/prepaid_credits", (c.id for c in terms.prepaid_credits), "credit")
    for i, g in enumerate(terms.prepaid_credits):
        p = f"/prepaid_credits/{i}"
        v.money(f"{p}/amount", g.amount, positive=True)
        if g.expires_after is not None and Period.parse(g.expires_after) < Period.parse(g.granted):
            v.add(f"{p}/expires_after", f"expires ({g.expires_after}) before it is granted ({g.granted})")
        _check_scope_refs(v, f"{p}/scope", g.scope, all_sites or None, all_charges)
    for i, ver in enumerate(terms.versions):
        _check_version(v, terms, ver, f"/versions/{i}")
    return v.problems


def _check_versions(v: _V, terms: ContractTerms) -> None:
    if not terms.versions:
        v.add("/versions", "at least one terms version is required")
        return
    prev: Period | None = None
    for i, ver in enumerate(terms.versions):
        p = Period.parse(ver.effective_from)
        if prev is not None and p <= prev:
            word = "overlaps" if p == prev else "is earlier than"
            v.add(
                f"/versions/{i}/effective_from",
                f"effective_from {p} {word} the previous version's ({prev}); versions must be in strictly "
                "increasing period order with one version per effective period",
            )
        prev = p if prev is None or p > prev else prev
    first = Period.parse(terms.versions[0].effective_from)
    start = Period.of_date(terms.start_date)
    if first > start:
        v.add(
            "/versions/0/effective_from",
            f"no terms are in force for {start}..{first.shift(-1)}: the contract starts {terms.start_date} "
            f"but the first version takes effect {first}",
        )


def _check_meters(v: _V, terms: ContractTerms) -> None:
    v.unique("/meters", (m.id for m in terms.meters), "meter")
    for i, m in enumerate(terms.meters):
        if m.aggregation != "count" and not m.value:
            v.add(f"/meters/{i}/value", f"aggregation {m.aggregation!r} needs a value path into the event data")
        if not m.event_type:
            v.add(f"/meters/{i}/event_type", "event_type must not be empty")


def _check_scope_refs(v: _V, path: str, scope: Scope, sites: set[str] | None, charges: set[str]) -> None:
    if scope.sites is not None:
        if not scope.sites:
            v.add(f"{path}/sites", "empty list matches nothing; omit the filter to match every site")
        for j, s in enumerate(scope.sites):
            if sites is not None and s not in sites:
                v.add(f"{path}/sites/{j}", f"unknown site {s!r}")
    if scope.charges is not None:
        for j, c in enumerate(scope.charges):
            if c not in charges:
                v.add(f"{path}/charges/{j}", f"unknown usage charge {c!r}")
    for name in ("kinds", "categories", "charges"):
        val = getattr(scope, name)
        if val is not None and not val:
            v.add(f"{path}/{name}", "empty list matches nothing; omit the filter to match everything")


def _check_tiers(v: _V, path: str, tiers: list[Tier]) -> None:
    if not tiers:
        v.add(path, "at least one tier is required")
        return
    for j, t in enumerate(tiers):
        tp = f"{path}/{j}"
        v.non_negative(f"{tp}/unit_price", t.unit_price)
        v.money(f"{tp}/flat_fee", t.flat_fee)
        if t.up_to is not None and t.up_to <= t.from_:
            v.add(f"{tp}/up_to", f"up_to ({t.up_to}) must be greater than from ({t.from_})")
        if j == 0:
            if t.from_ != ZERO:
                v.add(f"{tp}/from", f"the first tier must start at 0, not {t.from_} (quantities below are unpriced)")
            continue
        prev = tiers[j - 1]
        if prev.up_to is None:
            v.add(f"{tp}/from", f"tier {j - 1} is unbounded, so tier {j} can never apply (overlapping tiers)")
        elif t.from_ > prev.up_to:
            v.add(f"{tp}/from", f"gap between tiers: ({prev.up_to}, {t.from_}] has no price")
        elif t.from_ < prev.up_to:
            v.add(f"{tp}/from", f"overlapping tiers: ({t.from_}, {prev.up_to}] is priced by tiers {j - 1} and {j}")
    if tiers[-1].up_to is not None:
        v.add(
            f"{path}/{len(tiers) - 1}/up_to",
            f"the last tier must be unbounded (omit up_to); quantities above {tiers[-1].up_to} would have no price",
        )


def _check_charge(v: _V, path: str, c: UsageCharge, terms: ContractTerms, ver: ContractVersion) -> None:
    pr = c.pricing
    pp = f"{path}/pricing"
    if isinstance(pr, PerUnit):
        v.non_negative(f"{pp}/unit_price", pr.unit_price)
    elif isinstance(pr, Package):
        if pr.package_size <= ZERO:
            v.add(f"{pp}/package_size", f"package_size must be positive, got {pr.package_size}")
        v.money(f"{pp}/package_price", pr.package_price)
    elif isinstance(pr, Graduated | Volume):
        _check_tiers(v, f"{pp}/tiers", pr.tiers)
    elif isinstance(pr, CostPlus):
        v.non_negative(f"{pp}/margin_percent", pr.margin_percent, "margin")
        v.non_negative(f"{pp}/surcharge_per_unit", pr.surcharge_per_unit)
        if pr.fx_rate <= ZERO:
            v.add(f"{pp}/fx_rate", f"fx_rate must be positive, got {pr.fx_rate}")
        if c.included_units != ZERO:
            v.add(f"{path}/included_units", "included units cannot be combined with cost-plus pricing")
    v.non_negative(f"{path}/included_units", c.included_units, "included quantity")
    if terms.meters and c.meter not in {m.id for m in terms.meters}:
        v.add(f"{path}/meter", f"meter {c.meter!r} is not declared in /meters")
    implicit = {ver.options.site_dimension, ver.options.category_dimension}
    seen: set[str] = set()
    for j, g in enumerate(c.group_by):
        if g in implicit:
            v.add(f"{path}/group_by/{j}", f"{g!r} is always a line dimension; remove it from group_by")
        if g in seen:
            v.add(f"{path}/group_by/{j}", f"duplicate group_by dimension {g!r}")
        seen.add(g)
    for k, val in c.filter.items():
        if not k or not val:
            v.add(f"{path}/filter/{k}", "filter keys and values must not be empty")


def _check_charge_overlaps(v: _V, base: str, ver: ContractVersion) -> None:
    # Two charges on one meter must never both claim a usage aggregate unless one is strictly more
    # specific (its filter extends the other's) or a third charge pins their intersection exactly.
    by_meter: dict[str, list[tuple[int, dict[str, str]]]] = {}
    for i, c in enumerate(ver.usage_charges):
        by_meter.setdefault(c.meter, []).append((i, c.filter))
    for entries in by_meter.values():
        filters = [f for _, f in entries]
        for a in range(len(entries)):
            for b in range(a + 1, len(entries)):
                (ia, fa), (ib, fb) = entries[a], entries[b]
                if any(k in fb and fb[k] != val for k, val in fa.items()):
                    continue  # disjoint
                if fa == fb:
                    v.add(
                        f"{base}/usage_charges/{ib}/filter",
                        f"same meter and filter as usage_charges/{ia}: usage would be billed ambiguously",
                    )
                    continue
                sa, sb = set(fa.items()), set(fb.items())
                if sa <= sb or sb <= sa:
                    continue  # nested: the more specific charge wins
                union = dict(fa) | dict(fb)
                if union not in filters:
                    v.add(
                        f"{base}/usage_charges/{ib}/filter",
                        f"overlaps usage_charges/{ia} without either being more specific; add a charge "
                        f"with filter {union} or make the filters disjoint",
                    )


def _check_version(v: _V, terms: ContractTerms, ver: ContractVersion, base: str) -> None:
    opts = ver.options
    if opts.site_dimension == opts.category_dimension:
        v.add(f"{base}/options/category_dimension", "site and category dimensions must differ")
    v.unique(f"{base}/sites", (s.id for s in ver.sites), "site")
    declared = [s.id for s in ver.sites]
    site_set: set[str] | None = set(declared) if declared else None

    def site_ref(path: str, site: str | None) -> None:
        if site is not None and site_set is not None and site not in site_set:
            v.add(path, f"unknown site {site!r} (declare it in {base}/sites)")

    if site_set is not None and terms.default_site not in site_set:
        v.add(f"{base}/sites", f"default_site {terms.default_site!r} is not among the declared sites")
    charge_ids = {c.id for c in ver.usage_charges}

    # retainers
    v.unique(f"{base}/retainers", (r.id for r in ver.retainers), "retainer")
    covered: dict[str, int] = {}
    for i, r in enumerate(ver.retainers):
        p = f"{base}/retainers/{i}"
        v.money(f"{p}/amount", r.amount)
        site_ref(f"{p}/site", r.site)
        v.non_negative(f"{p}/included_hours", r.included_hours, "hours")
        if r.overage_rate is not None:
            v.non_negative(f"{p}/overage_rate", r.overage_rate)
        if r.included_hours > ZERO:
            if not r.covers_projects:
                v.add(f"{p}/covers_projects", "included hours need the projects whose time consumes them")
            if r.overage_rate is None:
                v.add(f"{p}/overage_rate", "included hours need an overage_rate for hours beyond the allowance")
        if r.rollover is not None:
            v.non_negative(f"{p}/rollover/max_hours", r.rollover.max_hours, "hours")
            if r.included_hours <= ZERO:
                v.add(f"{p}/rollover", "rollover needs included_hours")
        for j, proj in enumerate(r.covers_projects):
            if proj in covered:
                v.add(f"{p}/covers_projects/{j}", f"project {proj!r} is already covered by retainers/{covered[proj]}")
            covered[proj] = i

    # time and materials
    tm = ver.time_and_materials
    if tm is not None:
        p = f"{base}/time_and_materials"
        if not tm.rate_cards:
            v.add(f"{p}/rate_cards", "at least one rate card is required")
        for j, card in enumerate(tm.rate_cards):
            if j and card.effective_from <= tm.rate_cards[j - 1].effective_from:
                v.add(
                    f"{p}/rate_cards/{j}/effective_from",
                    "rate cards must have strictly increasing effective_from dates (overlapping effective dates)",
                )
            for role, rate in card.roles.items():
                v.non_negative(f"{p}/rate_cards/{j}/roles/{role}", rate)
            for person, rate in card.people.items():
                v.non_negative(f"{p}/rate_cards/{j}/people/{person}", rate)
        seen_codes: dict[str, int] = {}
        for j, project in enumerate(tm.projects):
            pp = f"{p}/projects/{j}"
            if project.code in seen_codes:
                v.add(f"{pp}/code", f"duplicate project code {project.code!r}")
            seen_codes[project.code] = j
            site_ref(f"{pp}/site", project.site)
            if project.not_to_exceed is not None:
                v.money(f"{pp}/not_to_exceed", project.not_to_exceed, positive=True)
            phase_codes: set[str] = set()
            for k, ph in enumerate(project.phases):
                if ph.code in phase_codes:
                    v.add(f"{pp}/phases/{k}/code", f"duplicate phase code {ph.code!r}")
                phase_codes.add(ph.code)
                if ph.not_to_exceed is not None:
                    v.money(f"{pp}/phases/{k}/not_to_exceed", ph.not_to_exceed, positive=True)
    # milestones
    v.unique(f"{base}/milestones", (m.id for m in ver.milestones), "milestone")
    ms_ids = {m.id for m in ver.milestones}
    for i, m in enumerate(ver.milestones):
        p = f"{base}/milestones/{i}"
        v.money(f"{p}/amount", m.amount)
        site_ref(f"{p}/site", m.site)
        if m.retention is not None:
            rp = f"{p}/retention"
            v.percent(f"{rp}/percent", m.retention.percent)
            rel_m, rel_n = m.retention.release_on_milestone, m.retention.release_after_periods
            if (rel_m is None) == (rel_n is None):
                v.add(rp, "set exactly one of release_on_milestone or release_after_periods")
            if rel_m is not None and (rel_m not in ms_ids or rel_m == m.id):
                v.add(f"{rp}/release_on_milestone", f"must name another milestone of this version, got {rel_m!r}")
    # usage charges
    v.unique(f"{base}/usage_charges", (c.id for c in ver.usage_charges), "usage charge")
    for i, c in enumerate(ver.usage_charges):
        _check_charge(v, f"{base}/usage_charges/{i}", c, terms, ver)
    _check_charge_overlaps(v, base, ver)
    # commitments
    v.unique(f"{base}/minimums", (m.id for m in ver.minimums), "minimum")
    v.unique(f"{base}/annual_caps", (c.id for c in ver.annual_caps), "annual cap")
    v.unique(f"{base}/discounts", (d.id for d in ver.discounts), "discount")
    for i, mn in enumerate(ver.minimums):
        p = f"{base}/minimums/{i}"
        v.money(f"{p}/amount", mn.amount, positive=True)
        _check_scope_refs(v, f"{p}/scope", mn.scope, site_set, charge_ids)
        site_ref(f"{p}/true_up_site", mn.true_up_site)
        if mn.per_site and not declared and mn.scope.sites is None:
            v.add(f"{p}/per_site", "per_site needs sites declared in the version or listed in scope.sites")
    for i, cap in enumerate(ver.annual_caps):
        p = f"{base}/annual_caps/{i}"
        v.money(f"{p}/amount", cap.amount, positive=True)
        _check_scope_refs(v, f"{p}/scope", cap.scope, site_set, charge_ids)
        if cap.per_site and not declared and cap.scope.sites is None:
            v.add(f"{p}/per_site", "per_site needs sites declared in the version or listed in scope.sites")
    for i, d in enumerate(ver.discounts):
        p = f"{base}/discounts/{i}"
        if (d.percent is None) == (d.amount is None):
            v.add(p, "set exactly one of percent or amount")
        if d.percent is not None:
            v.percent(f"{p}/percent", d.percent)
        if d.amount is not None:
            v.money(f"{p}/amount", d.amount, positive=True)
        if d.valid_from and d.valid_until and Period.parse(d.valid_until) < Period.parse(d.valid_from):
            v.add(f"{p}/valid_until", "valid_until is before valid_from")
        _check_scope_refs(v, f"{p}/scope", d.scope, site_set, charge_ids)
    _check_minimum_cap_interplay(v, ver, base, declared)
    # tax
    tax = ver.tax
    v.unique(f"{base}/tax/rates", (r.id for r in tax.rates), "tax rate")
    rate_ids = {r.id for r in tax.rates}
    for i, tr in enumerate(tax.rates):
        v.percent(f"{base}/tax/rates/{i}/percent", tr.percent, allow_zero=True)
    if tax.rates and tax.default is None:
        v.add(f"{base}/tax/default", "a default tax rate is required when tax rates are declared")
    if tax.default is not None and tax.default not in rate_ids:
        v.add(f"{base}/tax/default", f"unknown tax rate {tax.default!r}")
    for kind, rid in tax.by_kind.items():
        if rid not in rate_ids:
            v.add(f"{base}/tax/by_kind/{kind}", f"unknown tax rate {rid!r}")


def _check_minimum_cap_interplay(v: _V, ver: ContractVersion, base: str, declared: list[str]) -> None:
    prevails = ver.options.minimum_vs_cap == "minimum_prevails"
    reported: set[tuple[int, int]] = set()
    for ci, cap, _csite, cscope, mins in _cap_instances(ver, declared):
        for mi, mn, _msite, mscope in mins:
            inside = scopes.contains(cscope, mscope)
            if prevails and cscope.key() != mscope.key() and (mi, ci) not in reported:
                reported.add((mi, ci))
                v.add(
                    f"{base}/minimums/{mi}/scope",
                    f"with options.minimum_vs_cap=minimum_prevails, minimum {mn.id!r} and annual cap "
                    f"{cap.id!r} must cover exactly the same scope or be disjoint",
                )
            elif not inside and (mi, ci) not in reported:
                reported.add((mi, ci))
                v.add(
                    f"{base}/minimums/{mi}/scope",
                    f"minimum {mn.id!r} partially overlaps annual cap {cap.id!r}: a true-up could not be "
                    "attributed to the cap; make one scope contain the other or make them disjoint",
                )


_Instance = tuple[int, Any, str | None, scopes.ResolvedScope]


def _cap_instances(
    ver: ContractVersion, declared: list[str]
) -> list[tuple[int, AnnualCap, str | None, scopes.ResolvedScope, list[_Instance]]]:
    """Each cap instance with the minimum instances whose scope is not disjoint from it."""
    mins = [
        (i, mn, site, scopes.resolve(mn.scope, "minimum", site))
        for i, mn in enumerate(ver.minimums)
        for site in scopes.instance_sites(mn.scope, mn.per_site, declared)
    ]
    out = []
    for i, cap in enumerate(ver.annual_caps):
        for site in scopes.instance_sites(cap.scope, cap.per_site, declared):
            cscope = scopes.resolve(cap.scope, "annual_cap", site)
            out.append((i, cap, site, cscope, [m for m in mins if not scopes.disjoint(cscope, m[3])]))
    return out


def contract_warnings(terms: ContractTerms) -> list[Problem]:
    """Legal terms whose consequence finance should see before signing, each stating what will happen.

    Today: an annual cap below the monthly minimums it contains, over the months of a contract year the
    contract (and the version) actually spans. That is a valid contract shape -- a monthly floor per site
    with a lower yearly ceiling -- settled by ``options.minimum_vs_cap``: with ``cap_prevails`` (the
    default) true-ups stop once the cap is reached, with ``minimum_prevails`` they are billed beyond it.
    Call this only on terms ``validate_terms`` accepts.
    """
    out: list[Problem] = []
    start = Period.of_date(terms.start_date)
    last = Period.of_date(terms.end_date) if terms.end_date is not None else None
    anchor = Period.parse(terms.contract_year_anchor) if terms.contract_year_anchor else start
    for vi, ver in enumerate(terms.versions):
        base = f"/versions/{vi}"
        v_from = max(Period.parse(ver.effective_from), start)
        v_to = last
        if vi + 1 < len(terms.versions):
            nxt = Period.parse(terms.versions[vi + 1].effective_from).shift(-1)
            v_to = nxt if v_to is None or nxt < v_to else v_to
        if v_to is not None and v_to < v_from:
            continue
        months, year = _busiest_year(v_from, v_to, anchor)
        declared = [s.id for s in ver.sites]
        for ci, cap, csite, cscope, mins in _cap_instances(ver, declared):
            contained = sum((mn.amount for _mi, mn, _s, ms in mins if scopes.contains(cscope, ms)), Decimal(0))
            floor = contained * months
            if contained == 0 or floor <= cap.amount:
                continue
            where = f" for site {csite!r}" if csite else ""
            span = f"the {months} month(s) of the contract year from {year} this version covers"
            if ver.options.minimum_vs_cap == "minimum_prevails":
                effect = (
                    "with options.minimum_vs_cap=minimum_prevails the true-ups are billed beyond the cap, so "
                    f"this scope bills at least {floor} that year although the cap is {cap.amount}"
                )
            else:
                effect = (
                    "with options.minimum_vs_cap=cap_prevails (the default) the cap wins: once the scope has "
                    f"billed {cap.amount} in the contract year, no further true-ups are billed that year"
                )
            out.append(
                Problem(
                    f"{base}/annual_caps/{ci}/amount",
                    f"annual cap {cap.id!r}{where} ({cap.amount}) is below the monthly minimums it contains over "
                    f"{span} ({months} x {contained} = {floor}); {effect}",
                )
            )
    return out


def _busiest_year(first: Period, last: Period | None, anchor: Period) -> tuple[int, Period]:
    """The most periods of [first, last] falling in one contract year, and that year's first period."""
    best = (0, contract_year_start(first, anchor))
    y = contract_year_start(first, anchor)
    while last is None or y <= last:
        lo = max(y, first)
        hi = y.shift(11) if last is None else min(y.shift(11), last)
        n = hi.index - lo.index + 1
        if n > best[0]:
            best = (n, y)
        if last is None or n == 12:
            break
        y = y.shift(12)
    return best
