"""Credit notes: what crediting (part of) an issued invoice takes back, line by line and tax by rate.

Pure, like the rest of the engine: the invoice's rated draft, what earlier credit notes already took back,
and the request go in; the credit note's lines, tax and total come out, or a refusal naming the field.
Amounts are positive (what is credited); the ledger posts them as a reversal.

* **full** takes back everything still on the invoice, every line (discounts and consumed credits too), so
  an invoice credited in full nets to exactly zero.
* **lines** takes back chosen lines, each in full or by an amount up to what is left of it.
* **amount** takes back a net amount spread over the lines still carrying a positive amount, in proportion
  to what is left of each (largest remainder, in minor units, so the parts add up exactly).

Tax is computed once per rate on the credited base and rounded once, as the engine does for invoices; when a
note leaves nothing of a rate's lines, that rate's tax is whatever of it is left, so crediting in parts never
takes back a cent more or less tax than was invoiced.
"""

from __future__ import annotations

from collections import defaultdict
from decimal import Decimal
from typing import Literal

import msgspec

from billing.currencies import minor_units
from billing.invoice import InvoiceDraft
from billing.money import ROUNDING_MODES, allocate, exact_minor, from_minor, is_representable

Mode = Literal["full", "lines", "amount"]


class CreditRefused(ValueError):
    """The request cannot be credited; ``pointer`` names the field (RFC 6901, into the request body)."""

    def __init__(self, pointer: str, detail: str) -> None:
        super().__init__(f"{pointer}: {detail}")
        self.pointer = pointer
        self.detail = detail


class LineRequest(msgspec.Struct, frozen=True, kw_only=True):
    line: int
    """Index into the invoice's lines."""
    amount: Decimal | None = None
    """Net amount to take back; omitted: all that is left of the line."""


class CreditRequest(msgspec.Struct, frozen=True, kw_only=True):
    mode: Mode
    lines: list[LineRequest] = []
    amount: Decimal | None = None


class Credited(msgspec.Struct, frozen=True, kw_only=True):
    """What earlier credit notes on the invoice took back: net per line index, tax per rate id."""

    lines: dict[int, Decimal] = {}
    tax: dict[str, Decimal] = {}


class CreditLine(msgspec.Struct, frozen=True, kw_only=True):
    line: int
    key: str
    kind: str
    site: str
    description: str
    tax_rate: str | None
    amount: Decimal


class CreditTax(msgspec.Struct, frozen=True, kw_only=True):
    rate_id: str
    name: str
    percent: Decimal
    base: Decimal
    amount: Decimal


class CreditNoteDraft(msgspec.Struct, frozen=True, kw_only=True):
    currency: str
    period: str
    lines: list[CreditLine]
    subtotal: Decimal
    tax: list[CreditTax]
    tax_total: Decimal
    total: Decimal


def credit_note(draft: InvoiceDraft, credited: Credited, request: CreditRequest) -> CreditNoteDraft:
    minor = minor_units(draft.currency)
    left = [
        exact_minor(line.amount, minor) - exact_minor(credited.lines.get(i, Decimal(0)), minor)
        for i, line in enumerate(draft.lines)
    ]
    take = _take(request, left, minor)
    if not any(take):
        raise CreditRefused("/mode", "nothing is left to credit on this invoice")
    lines = [
        CreditLine(
            line=i,
            key=line.key,
            kind=line.kind,
            site=line.site,
            description=line.description,
            tax_rate=line.tax_rate,
            amount=from_minor(take[i], minor),
        )
        for i, line in enumerate(draft.lines)
        if take[i]
    ]
    tax = _tax(draft, credited, take, left, minor)
    subtotal = sum(take)
    tax_total = sum(exact_minor(t.amount, minor) for t in tax)
    return CreditNoteDraft(
        currency=draft.currency,
        period=draft.period,
        lines=lines,
        subtotal=from_minor(subtotal, minor),
        tax=tax,
        tax_total=from_minor(tax_total, minor),
        total=from_minor(subtotal + tax_total, minor),
    )


def _minor(amount: Decimal, minor: int, pointer: str) -> int:
    if not amount.is_finite() or amount <= 0:
        raise CreditRefused(pointer, "must be a positive amount")
    if not is_representable(amount, minor):
        raise CreditRefused(pointer, f"has more than {minor} decimal places")
    return exact_minor(amount, minor)


def _take(request: CreditRequest, left: list[int], minor: int) -> list[int]:
    """Minor units taken back per line."""
    take = [0] * len(left)
    if request.mode == "full":
        return list(left)
    if request.mode == "lines":
        if not request.lines:
            raise CreditRefused("/lines", "name at least one line")
        for n, item in enumerate(request.lines):
            pointer = f"/lines/{n}"
            if not 0 <= item.line < len(left):
                raise CreditRefused(f"{pointer}/line", f"the invoice has lines 0 to {len(left) - 1}")
            if take[item.line]:
                raise CreditRefused(f"{pointer}/line", "names a line twice")
            if left[item.line] <= 0:
                raise CreditRefused(f"{pointer}/line", "nothing positive is left of this line to credit")
            units = left[item.line] if item.amount is None else _minor(item.amount, minor, f"{pointer}/amount")
            if units > left[item.line]:
                raise CreditRefused(f"{pointer}/amount", f"only {from_minor(left[item.line], minor)} is left of it")
            take[item.line] = units
        return take
    if request.amount is None:
        raise CreditRefused("/amount", "required when crediting by amount")
    units = _minor(request.amount, minor, "/amount")
    weights = [max(units_left, 0) for units_left in left]
    if units > sum(weights) or units > sum(left):
        available = from_minor(min(sum(weights), sum(left)), minor)
        raise CreditRefused("/amount", f"only {available} net is left to credit")
    return allocate(units, weights)


def _tax(draft: InvoiceDraft, credited: Credited, take: list[int], left: list[int], minor: int) -> list[CreditTax]:
    rounding = ROUNDING_MODES.get(draft.rounding, draft.rounding)
    base: dict[str, int] = defaultdict(int)
    rest: dict[str, int] = defaultdict(int)
    for i, line in enumerate(draft.lines):
        if line.tax_rate is not None:
            base[line.tax_rate] += take[i]
            rest[line.tax_rate] += left[i] - take[i]
    out = []
    for rate in draft.tax:
        if not base.get(rate.rate_id):
            continue
        invoiced = exact_minor(rate.amount, minor)
        remaining = invoiced - exact_minor(credited.tax.get(rate.rate_id, Decimal(0)), minor)
        if rest[rate.rate_id] == 0:
            units = remaining  # the last of this rate: whatever tax of it is left
        else:
            exact = Decimal(base[rate.rate_id]) * rate.percent / 100
            units = int(exact.to_integral_value(rounding=rounding))
            if invoiced > 0:  # never more than is left of it (a rate whose lines net negative is not capped)
                units = max(0, min(units, remaining))
        out.append(
            CreditTax(
                rate_id=rate.rate_id,
                name=rate.name,
                percent=rate.percent,
                base=from_minor(base[rate.rate_id], minor),
                amount=from_minor(units, minor),
            )
        )
    return out
