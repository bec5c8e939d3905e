"""From a rated invoice to ledger postings: which revenue account each line kind lands in."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from datetime import date
from decimal import Decimal

import billing
from integrations.accounting.model import LedgerInvoice, LedgerLine, LedgerTax, RevenueAccount

KIND_ACCOUNTS: dict[str, RevenueAccount] = {
    "services": RevenueAccount.SERVICES,
    "not_to_exceed_adjustment": RevenueAccount.SERVICES,
    "retainer": RevenueAccount.RETAINER,
    "ai_usage": RevenueAccount.AI_USAGE,
    "cap_adjustment": RevenueAccount.AI_USAGE,
    "minimum_true_up": RevenueAccount.COMMITMENTS,
    "milestone": RevenueAccount.MILESTONES,
    "retention": RevenueAccount.MILESTONES,
    "retention_release": RevenueAccount.MILESTONES,
    "discount": RevenueAccount.DISCOUNTS,
    "credit": RevenueAccount.PREPAID_CREDITS,
    "adjustment": RevenueAccount.ADJUSTMENTS,
    "expenses": RevenueAccount.REIMBURSABLE_EXPENSES,
}


def account_for(kind: str) -> RevenueAccount:
    """Unknown kinds fail loudly: a new line kind must be given a ledger account before it can be posted."""
    try:
        return KIND_ACCOUNTS[kind]
    except KeyError:
        raise ValueError(f"invoice line kind {kind!r} has no ledger account; add it to KIND_ACCOUNTS") from None


def _by_account(amounts: Iterable[tuple[str, Decimal]]) -> tuple[LedgerLine, ...]:
    """Line amounts summed per ledger account (by kind), accounts in a stable order, empty ones left out."""
    totals: dict[RevenueAccount, Decimal] = defaultdict(Decimal)
    for kind, amount in amounts:
        totals[account_for(kind)] += amount
    return tuple(LedgerLine(account, amount) for account, amount in sorted(totals.items()) if amount)


def ledger_invoice(
    *,
    invoice_id: str,
    number: str,
    issue_date: date,
    client_key: str,
    client_name: str,
    draft: billing.InvoiceDraft,
    contract: str = "",
) -> LedgerInvoice:
    return LedgerInvoice(
        invoice_id=invoice_id,
        number=number,
        issue_date=issue_date,
        client_key=client_key,
        client_name=client_name,
        currency=draft.currency,
        period=draft.period,
        lines=_by_account((line.kind, line.amount) for line in draft.lines),
        taxes=tuple(LedgerTax(rate=t.percent / 100, amount=t.amount) for t in draft.tax if t.amount),
        total=draft.total,
        contract=contract,
    )


def ledger_credit_note(
    *,
    credit_note_id: str,
    number: str,
    issue_date: date,
    client_key: str,
    client_name: str,
    note: billing.CreditNoteDraft,
    contract: str = "",
) -> LedgerInvoice:
    """A credit note as the reversal of what it credits: every amount negated, so revenue (and tax payable)
    is debited back and the receivable credited, on the same accounts the invoice used."""
    return LedgerInvoice(
        invoice_id=credit_note_id,
        number=number,
        issue_date=issue_date,
        client_key=client_key,
        client_name=client_name,
        currency=note.currency,
        period=note.period,
        lines=_by_account((line.kind, -line.amount) for line in note.lines),
        taxes=tuple(LedgerTax(rate=t.percent / 100, amount=-t.amount) for t in note.tax if t.amount),
        total=-note.total,
        contract=contract,
        document="Credit note",
    )
