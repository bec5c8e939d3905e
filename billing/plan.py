"""Compiling contract terms into rating plans.

Validation, scope resolution, tier tables, charge matching indexes and tax lookups are all worked out
once per terms document, not once per invoice: the month-end run rates thousands of contracts, and the
hot path should only do arithmetic. A plan is immutable after construction and holds no reference to
the terms object, so the small memo in ``compile_terms`` never keeps documents alive.
"""

from __future__ import annotations

import bisect
import hashlib
import weakref
from datetime import date
from decimal import Decimal

import msgspec

from billing import scopes
from billing.charge_models import ChargeModel, compile_model
from billing.currencies import minor_units
from billing.errors import InvalidTerms
from billing.items import TaxRateC
from billing.money import ROUNDING_MODES, exact_minor
from billing.periods import Period
from billing.scopes import ResolvedScope
from billing.terms import ContractTerms, ContractVersion, CreditGrant, Retainer, Rollover


class ChargeC:
    __slots__ = (
        "description",
        "filter_items",
        "group_by",
        "id",
        "included",
        "included_rule",
        "kind",
        "model",
        "path",
        "tax",
        "tier_basis",
        "unit",
    )

    def __init__(self, c: object, path: str) -> None:
        from billing.terms import UsageCharge

        assert isinstance(c, UsageCharge)
        self.id = c.id
        self.path = path
        self.kind = c.kind
        self.unit = c.unit
        self.description = c.description or c.id
        self.filter_items = tuple(sorted(c.filter.items()))
        self.group_by = tuple(c.group_by)
        self.model: ChargeModel = compile_model(c.pricing, f"{path}/pricing")
        self.included = c.included_units
        self.tier_basis = c.tier_basis if (not self.model.linear or c.included_units) else "line"
        self.included_rule = f"{path}/included_units"
        self.tax: TaxRateC | None = None


class MeterIndex:
    """Finds the most specific charge for a usage aggregate (validation guarantees it is unique)."""

    __slots__ = ("by_value", "charges", "index_key")

    def __init__(self, charges: list[ChargeC]) -> None:
        self.charges = sorted(charges, key=lambda c: -len(c.filter_items))
        keys = [dict(c.filter_items) for c in self.charges]
        common = set(keys[0]) if keys else set()
        for k in keys[1:]:
            common &= set(k)
        self.index_key = min(common) if common else None
        self.by_value: dict[str, list[ChargeC]] = {}
        if self.index_key is not None:
            for c in self.charges:
                self.by_value.setdefault(dict(c.filter_items)[self.index_key], []).append(c)

    def match(self, dims: dict[str, str]) -> ChargeC | None:
        if self.index_key is not None:
            cands = self.by_value.get(dims.get(self.index_key, ""))
            if cands is None:
                return None
        else:
            cands = self.charges
        for c in cands:
            for k, v in c.filter_items:
                if dims.get(k) != v:
                    break
            else:
                return c
        return None


class MinimumC:
    __slots__ = ("amount", "description", "id", "instance", "path", "prorate", "scope", "site", "tax")

    def __init__(
        self,
        id: str,
        instance: str,
        path: str,
        amount: int,
        scope: ResolvedScope,
        site: str,
        prorate: bool,
        description: str,
        tax: TaxRateC | None,
    ) -> None:
        self.id = id
        self.instance = instance
        self.path = path
        self.amount = amount
        self.scope = scope
        self.site = site
        self.prorate = prorate
        self.description = description
        self.tax = tax


class CapC:
    __slots__ = ("amount", "contains", "description", "id", "instance", "path", "scope")

    def __init__(self, id: str, instance: str, path: str, amount: int, scope: ResolvedScope, description: str) -> None:
        self.id = id
        self.instance = instance
        self.path = path
        self.amount = amount
        self.scope = scope
        self.description = description
        self.contains: set[tuple[str, str]] = set()


class DiscountC:
    __slots__ = ("amount", "description", "id", "path", "percent", "scope", "valid_from", "valid_until")

    def __init__(
        self,
        id: str,
        path: str,
        percent: Decimal | None,
        amount: int | None,
        scope: ResolvedScope,
        valid_from: int | None,
        valid_until: int | None,
        description: str,
    ) -> None:
        self.id = id
        self.path = path
        self.percent = percent
        self.amount = amount
        self.scope = scope
        self.valid_from = valid_from
        self.valid_until = valid_until
        self.description = description

    def valid(self, period_index: int) -> bool:
        return (self.valid_from is None or period_index >= self.valid_from) and (
            self.valid_until is None or period_index <= self.valid_until
        )


class RetainerC:
    __slots__ = (
        "amount",
        "billing",
        "covers",
        "description",
        "id",
        "included_minutes",
        "overage_rate",
        "path",
        "prorate",
        "rollover",
        "site",
        "tax",
    )

    def __init__(self, r: Retainer, path: str, minor: int, default_site: str, tax: TaxRateC | None) -> None:
        self.id = r.id
        self.path = path
        self.description = r.description or f"Retainer {r.id}"
        self.site = r.site or default_site
        self.amount = exact_minor(r.amount, minor)
        self.billing = r.billing
        self.prorate = r.prorate
        self.included_minutes = r.included_hours * 60
        self.covers = frozenset(r.covers_projects)
        self.overage_rate = r.overage_rate
        self.rollover: Rollover | None = r.rollover
        self.tax = tax


class CardC:
    __slots__ = ("effective_from", "path", "people", "roles")

    def __init__(self, effective_from: date, roles: dict[str, Decimal], people: dict[str, Decimal], path: str) -> None:
        self.effective_from = effective_from
        self.roles = roles
        self.people = people
        self.path = path


class ProjectC:
    __slots__ = ("code", "name", "nte", "path", "phases", "site")

    def __init__(
        self,
        code: str,
        name: str,
        site: str,
        nte: int | None,
        path: str,
        phases: dict[str, tuple[str, int | None, str]],
    ) -> None:
        self.code = code
        self.name = name
        self.site = site
        self.nte = nte
        self.path = path
        self.phases = phases


class TimeC:
    __slots__ = ("card_dates", "cards", "increment", "increment_rounding", "path", "projects")

    def __init__(
        self, cards: list[CardC], increment: int, increment_rounding: str, projects: dict[str, ProjectC], path: str
    ) -> None:
        self.cards = cards
        self.card_dates = [c.effective_from for c in cards]
        self.increment = increment
        self.increment_rounding = increment_rounding
        self.projects = projects
        self.path = path

    def card_for(self, d: date) -> CardC | None:
        i = bisect.bisect_right(self.card_dates, d) - 1
        return self.cards[i] if i >= 0 else None


class MilestoneC:
    __slots__ = (
        "amount",
        "description",
        "id",
        "path",
        "release_after",
        "release_on",
        "retention_percent",
        "retention_tax",
        "site",
        "tax",
    )

    def __init__(
        self,
        id: str,
        path: str,
        amount: int,
        site: str,
        description: str,
        tax: TaxRateC | None,
        retention_percent: Decimal | None,
        release_on: str | None,
        release_after: int | None,
        retention_tax: TaxRateC | None,
    ) -> None:
        self.id = id
        self.path = path
        self.amount = amount
        self.site = site
        self.description = description
        self.tax = tax
        self.retention_percent = retention_percent
        self.release_on = release_on
        self.release_after = release_after
        self.retention_tax = retention_tax


class VersionPlan:
    """One terms version, compiled."""

    def __init__(self, terms: ContractTerms, v: ContractVersion, index: int, minor: int) -> None:
        base = f"/versions/{index}"
        self.index = index
        self.path = base
        self.effective_from = v.effective_from
        # identifies the exact clause text a period was billed under, so a closed period's terms can
        # never be edited silently (see the check in billing.engine)
        digest = hashlib.sha256(msgspec.json.encode(v, order="sorted")).hexdigest()[:16]
        self.version_id = f"{v.effective_from}#{digest}"
        self.period = Period.parse(v.effective_from)
        self.options = v.options
        self.label = v.label
        self.rounding = ROUNDING_MODES[v.options.rounding]
        self.site_dim = v.options.site_dimension
        self.category_dim = v.options.category_dimension
        self.default_site = terms.default_site
        self.sites = [s.id for s in v.sites]
        self.site_names = {s.id: (s.name or s.id) for s in v.sites}
        self.site_rank = {s: i for i, s in enumerate(self.sites)}
        self.disabled = {s.id: frozenset(s.disabled_categories) for s in v.sites if s.disabled_categories}

        # tax
        self.tax_rates = {r.id: TaxRateC(r.id, r.name or r.id, r.percent) for r in v.tax.rates}
        self.tax_default = self.tax_rates.get(v.tax.default) if v.tax.default else None
        self.tax_by_kind: dict[str, TaxRateC] = {str(k): self.tax_rates[rid] for k, rid in v.tax.by_kind.items()}

        # usage charges
        self.charges: dict[str, ChargeC] = {}
        by_meter: dict[str, list[ChargeC]] = {}
        for i, c in enumerate(v.usage_charges):
            cc = ChargeC(c, f"{base}/usage_charges/{i}")
            cc.tax = self.tax_for(c.kind)
            self.charges[c.id] = cc
            by_meter.setdefault(c.meter, []).append(cc)
        self.meters = {m: MeterIndex(cs) for m, cs in by_meter.items()}

        # commitments
        self.minimums: list[MinimumC] = []
        for i, mn in enumerate(v.minimums):
            for site in scopes.instance_sites(mn.scope, mn.per_site, self.sites):
                sc = scopes.resolve(mn.scope, "minimum", site)
                if site is not None:
                    tsite = site
                elif mn.true_up_site:
                    tsite = mn.true_up_site
                elif sc.sites is not None and len(sc.sites) == 1:
                    tsite = next(iter(sc.sites))
                else:
                    tsite = terms.default_site
                self.minimums.append(
                    MinimumC(
                        mn.id,
                        site or "",
                        f"{base}/minimums/{i}",
                        exact_minor(mn.amount, minor),
                        sc,
                        tsite,
                        mn.prorate,
                        mn.description or f"Monthly minimum {mn.id}",
                        self._true_up_tax(sc),
                    )
                )
        self.caps: list[CapC] = []
        for i, cap in enumerate(v.annual_caps):
            for site in scopes.instance_sites(cap.scope, cap.per_site, self.sites):
                sc = scopes.resolve(cap.scope, "annual_cap", site)
                cc2 = CapC(
                    cap.id,
                    site or "",
                    f"{base}/annual_caps/{i}",
                    exact_minor(cap.amount, minor),
                    sc,
                    cap.description or f"Annual cap {cap.id}",
                )
                if v.options.minimum_vs_cap == "cap_prevails":
                    for m in self.minimums:
                        if scopes.contains(sc, m.scope):
                            cc2.contains.add((m.id, m.instance))
                self.caps.append(cc2)
        self.discounts = [
            DiscountC(
                d.id,
                f"{base}/discounts/{i}",
                d.percent,
                None if d.amount is None else exact_minor(d.amount, minor),
                scopes.resolve(d.scope, "discount"),
                Period.parse(d.valid_from).index if d.valid_from else None,
                Period.parse(d.valid_until).index if d.valid_until else None,
                d.description or (f"Discount {d.id}"),
            )
            for i, d in enumerate(v.discounts)
        ]

        # retainers, time and materials, milestones
        self.retainers = [
            RetainerC(r, f"{base}/retainers/{i}", minor, terms.default_site, self.tax_for("retainer"))
            for i, r in enumerate(v.retainers)
        ]
        self.covered = {p: r for r in self.retainers for p in r.covers}
        self.time: TimeC | None = None
        if v.time_and_materials is not None:
            tm = v.time_and_materials
            tp = f"{base}/time_and_materials"
            cards = [
                CardC(c.effective_from, c.roles, c.people, f"{tp}/rate_cards/{i}") for i, c in enumerate(tm.rate_cards)
            ]
            projects = {
                p.code: ProjectC(
                    p.code,
                    p.name or p.code,
                    p.site or terms.default_site,
                    None if p.not_to_exceed is None else exact_minor(p.not_to_exceed, minor),
                    f"{tp}/projects/{i}",
                    {
                        ph.code: (
                            ph.name or ph.code,
                            None if ph.not_to_exceed is None else exact_minor(ph.not_to_exceed, minor),
                            f"{tp}/projects/{i}/phases/{k}",
                        )
                        for k, ph in enumerate(p.phases)
                    },
                )
                for i, p in enumerate(tm.projects)
            }
            self.time = TimeC(cards, tm.increment_minutes, tm.increment_rounding, projects, tp)
        self.milestones: dict[str, MilestoneC] = {}
        for i, ms in enumerate(v.milestones):
            mtax = self.tax_for("milestone")
            ret = ms.retention
            self.milestones[ms.id] = MilestoneC(
                ms.id,
                f"{base}/milestones/{i}",
                exact_minor(ms.amount, minor),
                ms.site or terms.default_site,
                ms.description or f"Milestone {ms.id}",
                mtax,
                None if ret is None else ret.percent,
                None if ret is None else ret.release_on_milestone,
                None if ret is None else ret.release_after_periods,
                self.tax_by_kind.get("retention", mtax),
            )

    def tax_for(self, kind: str) -> TaxRateC | None:
        return self.tax_by_kind.get(kind, self.tax_default)

    def _true_up_tax(self, scope: ResolvedScope) -> TaxRateC | None:
        if "minimum_true_up" in self.tax_by_kind:
            return self.tax_by_kind["minimum_true_up"]
        rates = {id(self.tax_for(k)): self.tax_for(k) for k in sorted(scope.kinds)}
        if len(rates) == 1:
            return next(iter(rates.values()))
        return self.tax_default

    def site_name(self, site: str) -> str:
        return self.site_names.get(site, site)


class CreditGrantC:
    __slots__ = ("amount", "description", "expires_after", "granted", "id", "path", "priority", "scope")

    def __init__(self, g: CreditGrant, path: str, minor: int) -> None:
        self.id = g.id
        self.path = path
        self.description = g.description or f"Prepaid credit {g.id}"
        self.amount = exact_minor(g.amount, minor)
        self.granted = Period.parse(g.granted)
        self.expires_after = Period.parse(g.expires_after) if g.expires_after else None
        self.priority = g.priority
        self.scope = scopes.resolve(g.scope, "credit")


class RatingPlan:
    """Compiled, validated terms: what ``rate`` actually runs on."""

    def __init__(self, terms: ContractTerms) -> None:
        self.contract_id = terms.contract_id
        self.client = terms.client or terms.contract_id
        self.client_key = terms.client_key
        self.currency = terms.currency
        self.minor = minor_units(terms.currency)
        self.timezone = terms.timezone
        self.start_date = terms.start_date
        self.end_date = terms.end_date
        self.default_site = terms.default_site
        self.anchor = (
            Period.parse(terms.contract_year_anchor) if terms.contract_year_anchor else Period.of_date(terms.start_date)
        )
        self.meters = list(terms.meters)
        self.versions = [VersionPlan(terms, v, i, self.minor) for i, v in enumerate(terms.versions)]
        self._starts = [vp.period.index for vp in self.versions]
        self.grants = [
            CreditGrantC(g, f"/prepaid_credits/{i}", self.minor) for i, g in enumerate(terms.prepaid_credits)
        ]
        self.grants_by_id = {g.id: g for g in self.grants}

    def version_for(self, period: Period) -> VersionPlan:
        i = bisect.bisect_right(self._starts, period.index) - 1
        if i < 0:
            raise ValueError(f"no terms version is in force for {period}")
        return self.versions[i]


_PLANS: dict[int, RatingPlan] = {}


def compile_terms(terms: ContractTerms) -> RatingPlan:
    """Validate and compile terms once; repeated calls with the same object reuse the plan."""
    plan = _PLANS.get(id(terms))
    if plan is not None:
        return plan
    from billing.validate import validate_terms

    problems = validate_terms(terms)
    if problems:
        raise InvalidTerms(problems)
    plan = RatingPlan(terms)
    _PLANS[id(terms)] = plan
    weakref.finalize(terms, _PLANS.pop, id(terms), None)
    return plan
