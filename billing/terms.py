"""The contract document: what a client agreed to pay, as data.

The document is versioned: ``versions[i].effective_from`` is a period (``YYYY-MM``), so an amendment
always starts at a period boundary and never rewrites a closed period. Everything that changes how an
invoice is computed is a named field here (``options`` holds the interaction choices), never a code
branch: finance can read the contract and predict the invoice.

Money amounts are Decimals. In YAML they may be written as plain numbers (the loader never turns them
into an inexact binary fraction); in JSON prefer strings: the schema accepts numbers, but JSON tools
often decode numbers into doubles.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Annotated, Literal

import msgspec
from msgspec import Meta

Id = Annotated[
    str,
    Meta(
        pattern=r"^[A-Za-z0-9][A-Za-z0-9._:@+-]*$",
        max_length=120,
        description="Identifier: letters, digits and . _ : @ + - (no spaces or slashes).",
    ),
]
PeriodStr = Annotated[
    str,
    Meta(pattern=r"^\d{4}-(0[1-9]|1[0-2])$", description="A billing period: calendar month YYYY-MM."),
]
# Each decimal field names its kind of number; the loader and ``validate_terms`` enforce that kind's
# bounds (core/decimal_bounds.py: finite, at most so many integer digits and decimal places).
Amount = Annotated[
    Decimal,
    Meta(
        extra_json_schema={"type": ["string", "number"], "format": "decimal"},
        description="Decimal amount; write as a string in JSON to keep it exact.",
        extra={"bounds": "amount"},
    ),
]
Rate = Annotated[
    Decimal,
    Meta(
        extra_json_schema={"type": ["string", "number"], "format": "decimal"},
        description="Decimal price per unit or hour, or an exchange rate; write as a string in JSON.",
        extra={"bounds": "rate"},
    ),
]
Quantity = Annotated[
    Decimal,
    Meta(
        extra_json_schema={"type": ["string", "number"], "format": "decimal"},
        description="Decimal quantity of usage units; write as a string in JSON to keep it exact.",
        extra={"bounds": "quantity"},
    ),
]
Percent = Annotated[
    Decimal,
    Meta(
        extra_json_schema={"type": ["string", "number"], "format": "decimal"},
        description="Percentage written as percent (20 = 20 %); write as a string in JSON.",
        extra={"bounds": "percent"},
    ),
]
Minutes = Annotated[
    Decimal,
    Meta(
        extra_json_schema={"type": ["string", "number"], "format": "decimal"},
        description="Decimal number of minutes; write as a string in JSON to keep it exact.",
        extra={"bounds": "minutes"},
    ),
]
Hours = Annotated[
    Decimal,
    Meta(
        extra_json_schema={"type": ["string", "number"], "format": "decimal"},
        description="Decimal number of hours; write as a string in JSON to keep it exact.",
        extra={"bounds": "hours"},
    ),
]

BaseKind = Literal["services", "retainer", "ai_usage", "milestone"]
# ``expenses`` (re-billed expenses, passed through at their billable amount) is in no default scope
# (billing/scopes.py): a discount, minimum, cap or credit covers them only when its scope names the kind.
ScopeKind = Literal["services", "retainer", "ai_usage", "milestone", "minimum_true_up", "expenses"]
TaxableKind = Literal[
    "services",
    "retainer",
    "ai_usage",
    "milestone",
    "minimum_true_up",
    "retention",
    "retention_release",
    "expenses",
]


class _Doc(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """Base for document structs: unknown fields are errors, so a typo never silently drops a rule."""


class Options(_Doc, frozen=True, kw_only=True):
    """Interaction choices between rules. Each default is the one documented in docs/billing.md."""

    rounding: Literal["half_up", "half_even"] = "half_up"
    discount_stacking: Literal["sequential", "additive"] = "sequential"
    minimum_basis: Literal["after_discounts", "before_discounts"] = "after_discounts"
    minimum_vs_cap: Literal["cap_prevails", "minimum_prevails"] = "cap_prevails"
    late_usage_window: Annotated[int, Meta(ge=0, le=36)] = 3
    site_dimension: str = "site"
    category_dimension: str = "category"


class Site(_Doc, frozen=True, kw_only=True):
    id: Id
    name: str = ""
    disabled_categories: list[str] = []


class Scope(_Doc, frozen=True, kw_only=True):
    """Which lines a minimum, cap, discount or credit looks at. Omitted filters match everything."""

    sites: list[Id] | None = None
    kinds: list[ScopeKind] | None = None
    categories: list[str] | None = None
    charges: list[Id] | None = None


class Tier(_Doc, frozen=True, kw_only=True):
    """A tier covers quantities in ``(from, up_to]``; a quantity exactly on a boundary is in the lower tier."""

    from_: Quantity = msgspec.field(name="from")
    up_to: Quantity | None = None
    unit_price: Rate
    flat_fee: Amount = Decimal(0)


class PerUnit(_Doc, frozen=True, kw_only=True, tag="per_unit", tag_field="model"):
    unit_price: Rate


class Package(_Doc, frozen=True, kw_only=True, tag="package", tag_field="model"):
    package_size: Quantity
    package_price: Amount


class Graduated(_Doc, frozen=True, kw_only=True, tag="graduated", tag_field="model"):
    tiers: list[Tier]


class Volume(_Doc, frozen=True, kw_only=True, tag="volume", tag_field="model"):
    tiers: list[Tier]


class CostPlus(_Doc, frozen=True, kw_only=True, tag="cost_plus", tag_field="model"):
    """Provider cost x fx_rate x (1 + margin_percent/100) + surcharge_per_unit x quantity."""

    margin_percent: Percent = Decimal(0)
    surcharge_per_unit: Rate = Decimal(0)
    fx_rate: Rate = Decimal(1)


Pricing = PerUnit | Package | Graduated | Volume | CostPlus


class UsageCharge(_Doc, frozen=True, kw_only=True):
    id: Id
    meter: Id
    description: str = ""
    unit: str = "units"
    kind: Literal["ai_usage", "services"] = "ai_usage"
    filter: dict[str, str] = {}
    group_by: list[str] = []
    pricing: Pricing
    included_units: Quantity = Decimal(0)
    tier_basis: Literal["line", "site", "client"] = "line"


class Minimum(_Doc, frozen=True, kw_only=True):
    id: Id
    description: str = ""
    amount: Amount
    scope: Scope = Scope()
    per_site: bool = False
    true_up_site: Id | None = None
    prorate: bool = True


class AnnualCap(_Doc, frozen=True, kw_only=True):
    id: Id
    description: str = ""
    amount: Amount
    scope: Scope = Scope()
    per_site: bool = False


class Discount(_Doc, frozen=True, kw_only=True):
    id: Id
    description: str = ""
    percent: Percent | None = None
    amount: Amount | None = None
    scope: Scope = Scope()
    valid_from: PeriodStr | None = None
    valid_until: PeriodStr | None = None


class TaxRate(_Doc, frozen=True, kw_only=True):
    id: Id
    name: str = ""
    percent: Percent


class Tax(_Doc, frozen=True, kw_only=True):
    rates: list[TaxRate] = []
    default: Id | None = None
    by_kind: dict[TaxableKind, Id] = {}


class Rollover(_Doc, frozen=True, kw_only=True):
    max_hours: Hours
    expires_after_periods: Annotated[int, Meta(ge=1, le=120)]
    consume: Literal["oldest_first", "current_first"] = "oldest_first"


class Retainer(_Doc, frozen=True, kw_only=True):
    id: Id
    description: str = ""
    site: Id | None = None
    amount: Amount
    billing: Literal["advance", "arrears"] = "advance"
    prorate: bool = True
    included_hours: Hours = Decimal(0)
    covers_projects: list[Id] = []
    overage_rate: Rate | None = None
    rollover: Rollover | None = None


class RateCard(_Doc, frozen=True, kw_only=True):
    effective_from: date
    roles: dict[str, Rate] = {}
    people: dict[str, Rate] = {}


class Phase(_Doc, frozen=True, kw_only=True):
    code: Id
    name: str = ""
    not_to_exceed: Amount | None = None


class Project(_Doc, frozen=True, kw_only=True):
    code: Id
    name: str = ""
    site: Id | None = None
    not_to_exceed: Amount | None = None
    phases: list[Phase] = []


class TimeAndMaterials(_Doc, frozen=True, kw_only=True):
    rate_cards: list[RateCard]
    increment_minutes: Annotated[int, Meta(ge=0, le=1440)] = 0
    increment_rounding: Literal["up", "nearest"] = "up"
    projects: list[Project] = []


class Retention(_Doc, frozen=True, kw_only=True):
    percent: Percent
    release_on_milestone: Id | None = None
    release_after_periods: Annotated[int, Meta(ge=0, le=120)] | None = None


class Milestone(_Doc, frozen=True, kw_only=True):
    id: Id
    description: str = ""
    amount: Amount
    site: Id | None = None
    retention: Retention | None = None


class ContractVersion(_Doc, frozen=True, kw_only=True):
    effective_from: PeriodStr
    label: str = ""
    options: Options = Options()
    sites: list[Site] = []
    retainers: list[Retainer] = []
    time_and_materials: TimeAndMaterials | None = None
    milestones: list[Milestone] = []
    usage_charges: list[UsageCharge] = []
    minimums: list[Minimum] = []
    annual_caps: list[AnnualCap] = []
    discounts: list[Discount] = []
    tax: Tax = Tax()


class Meter(_Doc, frozen=True, kw_only=True):
    """How CloudEvents become usage quantities (mirrors the metering service's meter definitions)."""

    id: Id
    event_type: str
    aggregation: Literal["sum", "count", "max", "unique_count", "latest"] = "sum"
    value: str | None = None
    provider_cost: str | None = None
    dimensions: dict[str, str] = {}


class CreditGrant(_Doc, frozen=True, kw_only=True):
    """Prepaid credit bought by the client: usable from ``granted`` through ``expires_after``."""

    id: Id
    description: str = ""
    amount: Amount
    granted: PeriodStr
    expires_after: PeriodStr | None = None
    priority: int = 100
    scope: Scope = Scope()


class ContractTerms(_Doc, frozen=True, kw_only=True, weakref=True):
    format: Literal["agencyflow.contract/v1"] = "agencyflow.contract/v1"
    contract_id: Id
    client: str = ""
    client_key: str | None = None
    currency: str
    timezone: str
    start_date: date
    end_date: date | None = None
    contract_year_anchor: PeriodStr | None = None
    default_site: Id = "main"
    meters: list[Meter] = []
    prepaid_credits: list[CreditGrant] = []
    versions: list[ContractVersion]
