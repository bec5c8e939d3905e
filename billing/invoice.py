"""The invoice draft: lines with traces, per-site subtotals, tax per rate and a verification block.

Traces are structured data (a list of steps with named numeric fields), not prose: they are cheap to
build on the hot path, stable to diff and test, and ``billing.explain`` renders them for people.

The output structs are declared ``gc=False``: they never form reference cycles, and a month-end run
creates hundreds of thousands of them, which would otherwise make the cyclic garbage collector rescan
an ever larger heap (it was half the rating time in the benchmark).
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

import msgspec


class TraceStep(msgspec.Struct, frozen=True, kw_only=True, gc=False, omit_defaults=True):
    """One step in how a line's amount came to be.

    ``stage`` names the pipeline step (``usage``, ``tier``, ``round``, ``discount``, ``minimum``, ``cap``,
    ``credit``, ``prorate``, ``increment``, ``rollover``, ``late`` ...), ``rule`` is the JSON pointer of the
    contract clause applied, and the numeric fields hold the values a reviewer needs to redo the step.
    """

    stage: str
    rule: str = ""
    note: str = ""
    quantity: Decimal | None = None
    unit_price: Decimal | None = None
    flat_fee: Decimal | None = None
    percent: Decimal | None = None
    amount: Decimal | None = None
    basis: Decimal | None = None
    limit: Decimal | None = None
    before: Decimal | None = None
    after: Decimal | None = None
    refs: list[str] = []


class InvoiceLine(msgspec.Struct, frozen=True, kw_only=True, gc=False):
    key: str
    site: str
    kind: str
    description: str
    quantity: Decimal | None
    unit: str
    unit_price: Decimal | None
    amount: Decimal
    tax_rate: str | None
    category: str | None = None
    delta_for: str | None = None
    trace: list[TraceStep] = []


class SiteSubtotal(msgspec.Struct, frozen=True, kw_only=True, gc=False):
    site: str
    name: str
    amount: Decimal
    lines: int


class TaxLine(msgspec.Struct, frozen=True, kw_only=True, gc=False):
    rate_id: str
    name: str
    percent: Decimal
    base: Decimal
    amount: Decimal


class Check(msgspec.Struct, frozen=True, kw_only=True, gc=False):
    name: str
    ok: bool
    left: Decimal
    right: Decimal


class Verification(msgspec.Struct, frozen=True, kw_only=True, gc=False):
    """Independent re-additions proving the breakdown: lines = site subtotals = subtotal, and
    subtotal + tax = total. ``balanced`` is the conjunction of all checks."""

    lines_total: Decimal
    site_subtotals_total: Decimal
    subtotal: Decimal
    tax_base_total: Decimal
    tax_total: Decimal
    total: Decimal
    checks: list[Check]
    balanced: bool


class Commitment(msgspec.Struct, frozen=True, kw_only=True, gc=False, omit_defaults=True):
    """Where each commitment stands after this invoice (minimums, annual caps, credits, NTEs, rollover)."""

    type: str
    id: str
    instance: str = ""
    rule: str = ""
    limit: Decimal | None = None
    basis: Decimal | None = None
    before: Decimal | None = None
    after: Decimal | None = None
    remaining: Decimal | None = None
    adjustment: Decimal | None = None
    note: str = ""


class Note(msgspec.Struct, frozen=True, kw_only=True, gc=False):
    """Something finance should look at before approving (usage not billed and why, expiries, ...)."""

    severity: str
    code: str
    message: str
    path: str = ""


class InvoiceDraft(msgspec.Struct, frozen=True, kw_only=True, gc=False):
    format: str = "agencyflow.invoice/v1"
    contract_id: str
    client: str
    currency: str
    period: str
    period_start: datetime
    period_end: datetime
    timezone: str
    terms_version: str
    rounding: str
    lines: list[InvoiceLine]
    site_subtotals: list[SiteSubtotal]
    subtotal: Decimal
    tax: list[TaxLine]
    tax_total: Decimal
    total: Decimal
    verification: Verification
    commitments: list[Commitment] = []
    notes: list[Note] = []
    default_site: str = ""
