"""Revenue recognition: in which month each invoiced amount is earned, and what is still deferred.

Pure, like the rest of the engine. An invoice line is earned over its *service period*, not on the day it is
issued:

* a retainer fee is earned in the month it pays for — the period in its key (``retainer|<id>|fee|<YYYY-MM>``),
  which for a retainer billed in advance is the month after the invoice's;
* a late line (time, expenses, usage approved after its period was invoiced) in the period it is for
  (``delta_for``);
* everything else — time and materials, usage, minimums, discounts, adjustments — in the invoice's period,
  and a milestone in the period its acceptance was billed in (milestones are billed on acceptance);
* consumed prepaid credit (kind ``credit``) is no revenue line: the usage it pays for is, and the credit moves
  the prepaid liability (``Liabilities:Prepaid-Credits``) instead;
* a credit note reverses what it credits, in the months the credited line was earned in, in proportion.

Periods are months, so each line is earned in one month; :func:`position` then says, as of the end of a month,
how much of what was issued by then is recognised and how much is deferred — the two always add up to
invoiced less credited.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from decimal import Decimal

import msgspec

from billing.credit_notes import CreditNoteDraft
from billing.currencies import minor_units
from billing.invoice import InvoiceDraft, InvoiceLine
from billing.money import allocate, exact_minor, from_minor
from billing.periods import Period

NOT_REVENUE = frozenset({"credit"})


class Earned(msgspec.Struct, frozen=True, kw_only=True):
    line: int
    key: str
    kind: str
    month: str
    amount: Decimal


def service_month(line: InvoiceLine, invoice_period: str) -> str:
    if line.delta_for:
        return line.delta_for
    if line.kind == "retainer":
        parts = line.key.split("|")
        if len(parts) == 4 and parts[2] == "fee":
            try:
                return Period.parse(parts[3]).key
            except ValueError:
                pass
    return invoice_period


def schedule(draft: InvoiceDraft) -> list[Earned]:
    """What each revenue line of an issued invoice earns, and when; the amounts are the lines' own."""
    return [
        Earned(line=i, key=line.key, kind=line.kind, month=service_month(line, draft.period), amount=line.amount)
        for i, line in enumerate(draft.lines)
        if line.kind not in NOT_REVENUE and line.amount
    ]


def reversal(invoice_schedule: list[Earned], note: CreditNoteDraft) -> list[Earned]:
    """A credit note's (negative) schedule: each credited line taken back where that line was earned, split in
    proportion to its earnings there (largest remainder, in minor units, so the parts add up exactly)."""
    minor = minor_units(note.currency)
    by_line: dict[int, list[Earned]] = defaultdict(list)
    for earned in invoice_schedule:
        by_line[earned.line].append(earned)
    out: list[Earned] = []
    for credited in note.lines:
        earned_at = by_line.get(credited.line)
        if not earned_at:
            continue  # a credited non-revenue line (consumed prepaid credit)
        weights = [abs(exact_minor(e.amount, minor)) for e in earned_at]
        parts = allocate(-exact_minor(credited.amount, minor), weights)
        out += [
            Earned(line=e.line, key=e.key, kind=e.kind, month=e.month, amount=from_minor(part, minor))
            for e, part in zip(earned_at, parts, strict=True)
            if part
        ]
    return out


class Entry(msgspec.Struct, frozen=True, kw_only=True):
    """One stored schedule row: earned ``amount`` in ``month``, from a document issued in ``issued``."""

    month: str
    issued: str
    amount: Decimal


class Position(msgspec.Struct, frozen=True, kw_only=True):
    month: str
    issued_to_date: Decimal
    """Net of every schedule row issued by the end of ``month`` (invoiced less credited)."""
    recognised_to_date: Decimal
    deferred: Decimal
    recognised_in_month: Decimal


def position(entries: list[Entry], month: str, currency: str) -> Position:
    """As of the end of ``month``: of what was issued by then, what is recognised (earned in or before it) and
    what is deferred (earned later) — they add up to ``issued_to_date``. ``recognised_in_month`` is the profit
    and loss view: everything earned in the month, whenever it was issued (a month billed in arrears is
    invoiced after it ends, and is still that month's revenue)."""
    minor = minor_units(currency)
    issued = [e for e in entries if e.issued <= month]

    def total(amounts: Iterable[Decimal]) -> Decimal:  # exact sums, written at the currency's exponent
        return from_minor(sum(exact_minor(a, minor) for a in amounts), minor)

    return Position(
        month=month,
        issued_to_date=total(e.amount for e in issued),
        recognised_to_date=total(e.amount for e in issued if e.month <= month),
        deferred=total(e.amount for e in issued if e.month > month),
        recognised_in_month=total(e.amount for e in entries if e.month == month),
    )
