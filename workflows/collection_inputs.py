"""What the invoice collection workflow and its activities exchange (plain structs through the converter)."""

from __future__ import annotations

from datetime import date

import msgspec


class CollectionInput(msgspec.Struct, frozen=True):
    org_id: str
    invoice_id: str


class CollectionStart(msgspec.Struct, frozen=True):
    """What the billing cycle hands the activity that starts collection (the workflow's search attributes too)."""

    org_id: str
    invoice_id: str
    client_id: str
    client_key: str
    period: str


class CollectionPlan(msgspec.Struct, frozen=True):
    """The invoice's due date and the org's reminder days, read once when collection starts."""

    open: bool
    due_date: date | None
    timezone: str
    reminder_days: list[int]


class CollectionStep(msgspec.Struct, frozen=True):
    org_id: str
    invoice_id: str
    as_of: date
    """The client's local day this step belongs to: the day after the due date, or due date + ``days``."""
    step: int = 0
    days: int = 0
