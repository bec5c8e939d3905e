"""Pure Beancount text for an approved invoice: a receivable against revenue split by kind and tax payable.

The transaction carries ``invoice_id`` metadata and an ``#invoice`` tag so the ledger itself records which
invoices it holds; that is what makes posting idempotent.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import date
from decimal import Decimal

from integrations.accounting.model import LedgerInvoice, RevenueAccount

REVENUE_ACCOUNTS: dict[RevenueAccount, str] = {
    RevenueAccount.SERVICES: "Income:Services",
    RevenueAccount.RETAINER: "Income:Retainer",
    RevenueAccount.AI_USAGE: "Income:AI-Usage",
    RevenueAccount.MILESTONES: "Income:Milestones",
    RevenueAccount.COMMITMENTS: "Income:Commitments",
    RevenueAccount.DISCOUNTS: "Income:Discounts",
    RevenueAccount.PREPAID_CREDITS: "Liabilities:Prepaid-Credits",
    RevenueAccount.ADJUSTMENTS: "Income:Adjustments",
    RevenueAccount.REIMBURSABLE_EXPENSES: "Income:Reimbursable-Expenses",
}
OPEN_DATE = date(2000, 1, 1)


def _component(text: str) -> str:
    """Beancount account components start with a capital letter or digit and hold letters, digits, dashes."""
    parts = [p for p in re.split(r"[^A-Za-z0-9]+", text) if p]
    name = "-".join(p[:1].upper() + p[1:] for p in parts) or "Unknown"
    return name if name[0].isalpha() or name[0].isdigit() else "X" + name


def receivable_account(client_key: str) -> str:
    return f"Assets:Receivable:{_component(client_key)}"


def tax_account(rate: Decimal) -> str:
    percent = format((rate * 100).normalize(), "f")
    return "Liabilities:Tax-Payable:Rate-" + percent.replace(".", "-")


def _quote(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def accounts_of(invoice: LedgerInvoice) -> list[str]:
    accounts = [receivable_account(invoice.client_key)]
    accounts += [REVENUE_ACCOUNTS[line.account] for line in invoice.lines]
    accounts += [tax_account(tax.rate) for tax in invoice.taxes]
    return list(dict.fromkeys(accounts))


def open_directives(accounts: Iterable[str]) -> str:
    """Accounts are opened without a currency constraint: one org bills clients in several currencies."""
    return "".join(f"{OPEN_DATE.isoformat()} open {account}\n" for account in accounts)


def transaction_text(invoice: LedgerInvoice) -> str:
    """Revenue and tax are credits (negative); the receivable is the balancing debit."""
    problems = invoice.problems()
    if problems:
        raise ValueError("; ".join(problems))
    by_account: dict[str, Decimal] = {}
    for line in invoice.lines:
        account = REVENUE_ACCOUNTS[line.account]
        by_account[account] = by_account.get(account, Decimal(0)) - line.amount
    for tax in invoice.taxes:
        account = tax_account(tax.rate)
        by_account[account] = by_account.get(account, Decimal(0)) - tax.amount
    lines = [
        f"{invoice.issue_date.isoformat()} * {_quote(invoice.client_name)} "
        f"{_quote(f'{invoice.document} {invoice.number} ({invoice.period})')} #invoice",
        f"  invoice_id: {_quote(invoice.invoice_id)}",
        f"  invoice_number: {_quote(invoice.number)}",
        # What an accountant queries by: the service period (not the day it was issued), client, contract.
        f"  period: {_quote(invoice.period)}",
        f"  client: {_quote(invoice.client_key)}",
        *([f"  contract: {_quote(invoice.contract)}"] if invoice.contract else []),
        f"  {receivable_account(invoice.client_key)}  {invoice.total:f} {invoice.currency}",
    ]
    # ``:f``: plain fixed-point (a yen total of Decimal("8.5E+5") is 850000; beancount reads no exponents)
    lines += [f"  {account}  {amount:f} {invoice.currency}" for account, amount in by_account.items() if amount]
    return "\n".join(lines) + "\n"
