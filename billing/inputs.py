"""What happened in a period, handed to the engine by the caller.

The metering service supplies usage already aggregated per (meter, dimensions) for the period; the time
system supplies approved entries; the engagement workflow supplies accepted milestones and an optional
termination date. Nothing here is looked up by the engine: the same inputs always give the same invoice.
"""

from __future__ import annotations

from datetime import date

import msgspec

from billing.terms import Amount, Minutes, Quantity


class _In(msgspec.Struct, frozen=True, kw_only=True, gc=False, forbid_unknown_fields=True):
    pass


class UsageAggregate(_In, frozen=True, kw_only=True):
    """Sum (or other meter aggregation) of one meter for one combination of dimension values.

    ``dimensions`` includes the site (``site`` by default, see ``options.site_dimension``) and the
    category. ``provider_cost`` is the agency's cost for this usage in the client currency (before
    ``fx_rate``), needed by cost-plus charges.
    """

    meter: str
    dimensions: dict[str, str] = {}
    quantity: Quantity
    provider_cost: Quantity | None = None


class TimeEntry(_In, frozen=True, kw_only=True):
    """An approved time entry. ``work_date`` is the local date the work was done; ``approved_on`` (the
    local date its timesheet was approved) only labels late time lines ("approved 2026-12-03")."""

    id: str
    person: str
    role: str
    project: str
    phase: str | None = None
    work_date: date
    minutes: Minutes
    billable: bool = True
    person_name: str = ""
    approved_on: date | None = None


class MilestoneAcceptance(_In, frozen=True, kw_only=True):
    id: str
    accepted_on: date


class ExpenseEntry(_In, frozen=True, kw_only=True):
    """An approved re-billable expense. ``amount`` is what the client is billed for it (the expense's
    ``billable_amount``: amount × (1 + markup), already rounded to ``currency``'s minor unit); it is billed
    only when ``currency`` is the contract's. ``approved_on`` (the client-local approval date) labels a late
    line ("approved 2026-12-03") when ``spent_on`` lies in an earlier period than the invoice's."""

    id: str
    project: str
    spent_on: date
    category: str
    description: str = ""
    amount: Amount
    currency: str
    approved_on: date | None = None


class LateUsage(_In, frozen=True, kw_only=True):
    """Usage for an already-invoiced period, billed as delta lines on the current invoice."""

    period: str
    usage: list[UsageAggregate]


class RatingInputs(_In, frozen=True, kw_only=True):
    usage: list[UsageAggregate] = []
    time_entries: list[TimeEntry] = []
    milestones: list[MilestoneAcceptance] = []
    late_usage: list[LateUsage] = []
    expenses: list[ExpenseEntry] = []
    terminated_on: date | None = None
