"""Everything carried from one period to the next.

The engine is pure, so anything that spans periods lives here and is returned by ``rate`` for the caller
to store: rollover hours, annual cap consumption, not-to-exceed consumption, prepaid credit balances,
retentions held, advance-billed fees, and a compact record of each recently billed period so late usage
can be billed as an exact delta.
"""

from __future__ import annotations

from decimal import Decimal

import msgspec


class _St(msgspec.Struct, frozen=True, kw_only=True, gc=False, forbid_unknown_fields=True, omit_defaults=True):
    pass


class RolloverBucket(_St, frozen=True, kw_only=True):
    """Unused retainer hours earned in ``earned`` (kept in minutes, exactly) usable through ``expires_after``."""

    retainer: str
    earned: str
    minutes: Decimal
    expires_after: str


class CapAccount(_St, frozen=True, kw_only=True):
    """Annual cap consumption for one cap instance and contract year.

    ``uncapped`` is what the scope would have billed without the cap, ``billed`` what it did bill; the
    difference is what the cap wrote off. Keeping both makes late usage and corrections path-independent.
    """

    cap: str
    instance: str
    year_start: str
    uncapped: Decimal
    billed: Decimal


class NteAccount(_St, frozen=True, kw_only=True):
    project: str
    phase: str | None = None
    billed: Decimal


class CreditBalance(_St, frozen=True, kw_only=True):
    grant: str
    granted: str
    expires_after: str | None = None
    priority: int
    remaining: Decimal


class RetentionHeld(_St, frozen=True, kw_only=True):
    milestone: str
    amount: Decimal
    site: str
    tax_rate: str | None = None
    withheld_in: str
    release_on_milestone: str | None = None
    release_period: str | None = None


class AdvanceBilled(_St, frozen=True, kw_only=True):
    retainer: str
    service_period: str
    amount: Decimal


class ItemRecord(_St, frozen=True, kw_only=True):
    """A billed base line, enough to re-run the pipeline for its period when late usage arrives."""

    key: str
    kind: str
    site: str
    category: str | None = None
    charge: str | None = None
    gross: Decimal
    net: Decimal
    quantity: Decimal | None = None
    provider_cost: Decimal | None = None
    group: list[str] = []
    tax_rate: str | None = None


class MinimumRecord(_St, frozen=True, kw_only=True):
    minimum: str
    instance: str
    basis: Decimal
    true_up: Decimal


class PeriodRecord(_St, frozen=True, kw_only=True):
    period: str
    version: str
    active_from_day: int
    active_to_day: int
    items: list[ItemRecord] = []
    minimums: list[MinimumRecord] = []


class CarriedState(_St, frozen=True, kw_only=True):
    contract_id: str | None = None
    last_period: str | None = None
    rollover: list[RolloverBucket] = []
    caps: list[CapAccount] = []
    ntes: list[NteAccount] = []
    credits: list[CreditBalance] = []
    retentions: list[RetentionHeld] = []
    billed_milestones: list[str] = []
    advance_billed: list[AdvanceBilled] = []
    history: list[PeriodRecord] = []
