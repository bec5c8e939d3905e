"""What an accounting system receives: an approved invoice reduced to postings, independent of how it was rated."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from enum import StrEnum

import msgspec


class RevenueAccount(StrEnum):
    """Where a line lands in the ledger; the activity maps each invoice line kind to one of these."""

    SERVICES = "services"
    RETAINER = "retainer"
    AI_USAGE = "ai_usage"
    MILESTONES = "milestones"
    COMMITMENTS = "commitments"
    DISCOUNTS = "discounts"
    PREPAID_CREDITS = "prepaid_credits"
    ADJUSTMENTS = "adjustments"
    REIMBURSABLE_EXPENSES = "reimbursable_expenses"  # re-billed expenses, passed through at their billable amount


class LedgerLine(msgspec.Struct, frozen=True):
    account: RevenueAccount
    amount: Decimal
    description: str = ""


class LedgerTax(msgspec.Struct, frozen=True):
    rate: Decimal
    amount: Decimal


class LedgerInvoice(msgspec.Struct, frozen=True):
    invoice_id: str
    number: str
    issue_date: date
    client_key: str
    client_name: str
    currency: str
    period: str
    lines: tuple[LedgerLine, ...]
    taxes: tuple[LedgerTax, ...]
    total: Decimal
    contract: str = ""
    """The contract's code, kept as metadata so an accountant can query by it."""
    document: str = "Invoice"
    """How the ledger names it ("Invoice", "Credit note"); a credit note carries negated amounts."""

    def problems(self) -> list[str]:
        """An invoice that does not balance must never reach a ledger."""
        issues = []
        net = sum((line.amount for line in self.lines), Decimal(0))
        tax = sum((t.amount for t in self.taxes), Decimal(0))
        if net + tax != self.total:
            issues.append(f"lines {net} + tax {tax} != total {self.total}")
        return issues


class PostingResult(msgspec.Struct, frozen=True):
    invoice_id: str
    target: str
    reference: str
    already_posted: bool
