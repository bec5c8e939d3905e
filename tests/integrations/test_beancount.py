"""Beancount postings: balanced, split by revenue kind, idempotent, and always bean-check clean."""

from __future__ import annotations

import threading
from datetime import date
from decimal import Decimal

import pytest

from integrations.accounting.beancount_ledger import BeancountLedger, LedgerCheckError, bean_check
from integrations.accounting.beancount_payload import receivable_account, tax_account, transaction_text
from integrations.accounting.model import LedgerInvoice, LedgerLine, LedgerTax, RevenueAccount


def invoice(invoice_id: str = "inv-1", currency: str = "USD", **overrides) -> LedgerInvoice:
    fields = {
        "invoice_id": invoice_id,
        "number": "INV-2026-0001",
        "issue_date": date(2026, 2, 1),
        "client_key": "helios-health",
        "client_name": "Helios Health",
        "currency": currency,
        "period": "2026-01",
        "lines": (
            LedgerLine(RevenueAccount.SERVICES, Decimal("1200.00")),
            LedgerLine(RevenueAccount.AI_USAGE, Decimal("345.67")),
            LedgerLine(RevenueAccount.DISCOUNTS, Decimal("-45.67")),
        ),
        "taxes": (LedgerTax(Decimal("0.0825"), Decimal("123.75")),),
        "total": Decimal("1623.75"),
    }
    fields.update(overrides)
    return LedgerInvoice(**fields)


def test_transaction_credits_revenue_by_kind_and_debits_the_receivable() -> None:
    text = transaction_text(invoice())
    assert 'invoice_id: "inv-1"' in text
    assert "  Assets:Receivable:Helios-Health  1623.75 USD" in text
    assert "  Income:Services  -1200.00 USD" in text
    assert "  Income:AI-Usage  -345.67 USD" in text
    assert "  Income:Discounts  45.67 USD" in text
    assert "  Liabilities:Tax-Payable:Rate-8-25  -123.75 USD" in text


def test_unbalanced_invoice_is_refused_before_any_io() -> None:
    with pytest.raises(ValueError, match="!= total"):
        transaction_text(invoice(total=Decimal("1623.74")))


def test_account_names_are_valid_beancount_components() -> None:
    assert receivable_account("gulf retail/KW") == "Assets:Receivable:Gulf-Retail-KW"
    assert tax_account(Decimal("0.2")) == "Liabilities:Tax-Payable:Rate-20"
    assert tax_account(Decimal("0")) == "Liabilities:Tax-Payable:Rate-0"


def test_posting_twice_writes_once_and_bean_check_passes(tmp_path) -> None:
    ledger = BeancountLedger(tmp_path / "org.beancount")
    first = ledger.post(invoice())
    second = ledger.post(invoice())
    assert (first.already_posted, second.already_posted) == (False, True)
    assert ledger.path.read_text().count('invoice_id: "inv-1"') == 1
    assert bean_check(ledger.path) == []


def test_multi_currency_ledger_with_zero_and_three_decimal_currencies(tmp_path) -> None:
    ledger = BeancountLedger(tmp_path / "org.beancount")
    ledger.post(invoice("usd"))
    ledger.post(
        invoice(
            "jpy",
            currency="JPY",
            lines=(LedgerLine(RevenueAccount.RETAINER, Decimal("150000")),),
            taxes=(LedgerTax(Decimal("0.10"), Decimal("15000")),),
            total=Decimal("165000"),
        )
    )
    ledger.post(
        invoice(
            "kwd",
            currency="KWD",
            lines=(LedgerLine(RevenueAccount.MILESTONES, Decimal("1250.125")),),
            taxes=(),
            total=Decimal("1250.125"),
        )
    )
    assert ledger.posted_invoice_ids() == {"usd", "jpy", "kwd"}
    assert bean_check(ledger.path) == []


def test_concurrent_posts_of_one_invoice_post_it_once(tmp_path) -> None:
    ledger_path = tmp_path / "org.beancount"
    results = []

    def post() -> None:
        results.append(BeancountLedger(ledger_path).post(invoice("race")))

    threads = [threading.Thread(target=post) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(r.already_posted for r in results) == [False, True, True, True]
    assert ledger_path.read_text().count('invoice_id: "race"') == 1


def test_a_posting_bean_check_rejects_leaves_the_ledger_untouched(tmp_path) -> None:
    ledger = BeancountLedger(tmp_path / "org.beancount")
    ledger.post(invoice("ok"))
    before = ledger.path.read_text()
    # A date before the accounts' open date makes bean-check fail: the ledger must stay as it was.
    with pytest.raises(LedgerCheckError):
        ledger.post(invoice("too-early", issue_date=date(1999, 1, 1)))
    assert ledger.path.read_text() == before
    assert not (tmp_path / "org.beancount.tmp").exists()
