"""Approved re-billable expenses are billed by the rating engine: one pass-through ``expenses`` line each, at
the billable amount, taxed by the contract's rules, outside default discount / minimum / cap / credit scopes,
late ones on traced late lines, other currencies named and left unbilled. Amounts below are worked by hand.

Before this, ``RatingInputs`` had no expenses at all: approved re-billable expenses never reached an invoice.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import msgspec
import pytest

import billing
from billing.explain import explain
from insights.expenses import billable_amount
from integrations.accounting.beancount_payload import REVENUE_ACCOUNTS
from integrations.accounting.mapping import account_for, ledger_invoice
from integrations.accounting.model import RevenueAccount

TERMS = """
contract_id: exp
currency: EUR
timezone: UTC
start_date: 2026-01-01
default_site: hq
versions:
  - effective_from: 2026-01
    sites: [{id: hq}, {id: lab}]
    tax:
      rates: [{id: vat, percent: "20"}, {id: zero, percent: "0"}]
      default: vat
    time_and_materials:
      projects:
        - {code: WEB, name: Website, site: lab}
      rate_cards:
        - {effective_from: 2026-01-01, roles: {developer: "100"}}
"""


def terms(extra: str = "") -> billing.ContractTerms:
    return billing.load_terms((TERMS + extra).encode())


def expense(id: str, amount: str, spent_on: date = date(2026, 2, 10), **kw: object) -> billing.ExpenseEntry:
    fields: dict[str, object] = {
        "project": "WEB",
        "category": "travel",
        "description": "train to client",
        "currency": "EUR",
        "approved_on": date(2026, 2, 12),
        **kw,
    }
    return billing.ExpenseEntry(id=id, spent_on=spent_on, amount=Decimal(amount), **fields)  # type: ignore[arg-type]


def time(minutes: str) -> billing.TimeEntry:
    return billing.TimeEntry(
        id="t1", person="p1", role="developer", project="WEB", work_date=date(2026, 2, 3), minutes=Decimal(minutes)
    )


def rate(t: billing.ContractTerms, inputs: billing.RatingInputs, period: str = "2026-02") -> billing.InvoiceDraft:
    draft, _ = billing.rate(t, inputs, None, period)
    assert draft.verification.balanced
    return draft


def test_an_expense_with_markup_is_billed_at_its_billable_amount_and_taxed_by_the_default_rate() -> None:
    # 200.00 x (1 + 0.15) = 230.00, rounded once when the expense was written; 20 % VAT of 230.00 = 46.00
    amount = billable_amount(Decimal("200.00"), Decimal("0.15"), "EUR", billable=True)
    assert amount == Decimal("230.00")
    draft = rate(terms(), billing.RatingInputs(expenses=[expense("x1", str(amount))]))
    (line,) = draft.lines
    assert (line.key, line.kind, line.site, line.category) == ("expenses|WEB|travel|x1", "expenses", "lab", "travel")
    assert (line.quantity, line.unit, line.unit_price) == (1, "expense", Decimal("230.00"))
    assert line.amount == Decimal("230.00")
    assert line.description == "Website: travel, train to client (spent 2026-02-10)"
    assert line.delta_for is None and line.tax_rate == "vat"
    assert [(s.stage, s.amount, s.refs) for s in line.trace] == [("expense", Decimal("230.00"), ["x1"])]
    assert explain(line) == ["re-billed expense x1: billable amount 230.00"]
    assert (draft.subtotal, draft.tax_total, draft.total) == (Decimal("230.00"), Decimal("46.00"), Decimal("276.00"))


def test_tax_by_kind_expenses_taxes_expense_lines_apart_from_services() -> None:
    # services 90 min x 100/h = 150.00 at 20 % = 30.00; expenses 57.50 + 12.00 at 0 % = 0.00
    t = terms().versions[0]
    doc = TERMS.replace("default: vat", "default: vat\n      by_kind: {expenses: zero}")
    draft = rate(
        billing.load_terms(doc.encode()),
        billing.RatingInputs(time_entries=[time("90")], expenses=[expense("x1", "57.50"), expense("x2", "12.00")]),
    )
    assert t.tax.default == "vat"
    assert [(ln.kind, ln.amount, ln.tax_rate) for ln in draft.lines] == [
        ("services", Decimal("150.00"), "vat"),
        ("expenses", Decimal("57.50"), "zero"),
        ("expenses", Decimal("12.00"), "zero"),
    ]
    assert {(tx.rate_id, tx.base, tx.amount) for tx in draft.tax} == {
        ("vat", Decimal("150.00"), Decimal("30.00")),
        ("zero", Decimal("69.50"), Decimal("0.00")),
    }
    assert (draft.subtotal, draft.total) == (Decimal("219.50"), Decimal("249.50"))


def test_default_discount_minimum_and_credit_scopes_leave_expenses_alone() -> None:
    # 10 % off services (150.00 -> 15.00 off); a 1000.00 minimum on AI usage only (none): true-up 1000.00;
    # a 100.00 credit over the default kinds eats services and the true-up, never the 80.00 expense.
    extra = """
    discounts: [{id: d10, percent: "10"}]
    minimums: [{id: mn, amount: "1000.00"}]
prepaid_credits: [{id: c1, amount: "100.00", granted: 2026-01}]
"""
    draft = rate(terms(extra), billing.RatingInputs(time_entries=[time("90")], expenses=[expense("x1", "80.00")]))
    by_kind: dict[str, Decimal] = {}
    for ln in draft.lines:
        by_kind[ln.kind] = by_kind.get(ln.kind, Decimal(0)) + ln.amount
    assert by_kind == {
        "services": Decimal("150.00"),
        "discount": Decimal("-15.00"),
        "minimum_true_up": Decimal("1000.00"),
        "expenses": Decimal("80.00"),
        "credit": Decimal("-100.00"),
    }
    (exp,) = [ln for ln in draft.lines if ln.kind == "expenses"]
    assert [s.stage for s in exp.trace] == ["expense"]  # nothing discounted, credited or capped it
    assert draft.subtotal == Decimal("1115.00")


def test_a_discount_whose_scope_names_expenses_discounts_them() -> None:
    # 5 % off expenses only: 80.00 -> 4.00 off; services untouched
    extra = """
    discounts: [{id: d5, percent: "5", scope: {kinds: [expenses]}}]
"""
    draft = rate(terms(extra), billing.RatingInputs(time_entries=[time("90")], expenses=[expense("x1", "80.00")]))
    assert sorted((ln.kind, ln.amount) for ln in draft.lines) == [
        ("discount", Decimal("-4.00")),
        ("expenses", Decimal("80.00")),
        ("services", Decimal("150.00")),
    ]


def test_an_expense_of_an_earlier_period_is_billed_on_a_traced_late_line() -> None:
    late = expense("x0", "42.00", spent_on=date(2026, 1, 30), approved_on=date(2026, 2, 4), category="hotel")
    draft = rate(terms(), billing.RatingInputs(expenses=[late, expense("x1", "10.00")]))
    line = next(ln for ln in draft.lines if ln.key.startswith("late|"))
    assert line.key == "late|2026-01|expenses|WEB|hotel|x0"
    assert (line.kind, line.delta_for, line.amount) == ("expenses", "2026-01", Decimal("42.00"))
    assert line.description == (
        "Late expense for 2026-01 (approved 2026-02-04): Website: hotel, train to client (spent 2026-01-30)"
    )
    assert [(s.stage, s.note, s.refs) for s in line.trace[:1]] == [
        ("late", "expense for 2026-01, approved 2026-02-04", ["x0"])
    ]
    assert explain(line)[0] == "expense for 2026-01, approved 2026-02-04 (x0)"
    (note,) = [n for n in draft.notes if n.code == "expense_from_earlier_period"]
    assert note.message.endswith(": x0")
    assert draft.subtotal == Decimal("52.00")


def test_an_expense_in_another_currency_is_not_billed_and_the_invoice_names_it() -> None:
    draft = rate(terms(), billing.RatingInputs(expenses=[expense("usd1", "99.00", currency="USD")]))
    assert draft.lines == [] and draft.total == Decimal("0.00")
    (note,) = draft.notes
    assert (note.severity, note.code) == ("warning", "expense_other_currency")
    assert "not in the contract currency EUR" in note.message and "usd1 (99.00 USD)" in note.message


def test_an_amount_finer_than_the_currency_is_rounded_once_and_traced() -> None:
    # 10.005 half-up to cents = 10.01; in JPY (no minor unit) 1500 stays 1500, written plainly
    draft = rate(terms(), billing.RatingInputs(expenses=[expense("x1", "10.005")]))
    (line,) = draft.lines
    assert line.amount == Decimal("10.01")
    assert [(s.stage, s.before, s.after) for s in line.trace][1] == ("round", Decimal("10.005"), Decimal("10.01"))
    yen = billing.load_terms(TERMS.replace("currency: EUR", "currency: JPY").encode())
    draft = rate(yen, billing.RatingInputs(expenses=[expense("x2", "1500", currency="JPY")]))
    assert str(draft.lines[0].amount) == "1500" and str(draft.total) == "1800"


@pytest.mark.parametrize(
    ("amount", "why"),
    [("1E+400", "too large"), ("-5.00", "must not be negative"), ("0.00001", "decimal places")],
)
def test_an_impossible_expense_amount_is_refused_naming_the_field(amount: str, why: str) -> None:
    with pytest.raises(billing.RatingError) as err:
        billing.rate(terms(), billing.RatingInputs(expenses=[expense("x1", amount)]), None, "2026-02")
    assert [p.path for p in err.value.problems] == ["/expenses/0/amount"]
    assert why in err.value.problems[0].message


def test_a_duplicate_expense_is_refused() -> None:
    with pytest.raises(billing.RatingError) as err:
        billing.rate(terms(), billing.RatingInputs(expenses=[expense("x1", "1"), expense("x1", "2")]), None, "2026-02")
    assert [p.path for p in err.value.problems] == ["/expenses/1/id"]


def test_stored_inputs_without_expenses_still_decode() -> None:
    stored = b'{"usage": [], "time_entries": [], "milestones": [], "late_usage": []}'
    old = msgspec.json.decode(stored, type=billing.RatingInputs)
    assert old.expenses == []


def test_expense_lines_post_to_the_reimbursable_expenses_account() -> None:
    assert account_for("expenses") is RevenueAccount.REIMBURSABLE_EXPENSES
    assert REVENUE_ACCOUNTS[RevenueAccount.REIMBURSABLE_EXPENSES] == "Income:Reimbursable-Expenses"
    draft = rate(terms(), billing.RatingInputs(time_entries=[time("60")], expenses=[expense("x1", "25.00")]))
    ledger = ledger_invoice(
        invoice_id="i", number="INV-1", issue_date=date(2026, 3, 1), client_key="c", client_name="C", draft=draft
    )
    assert {(ln.account, ln.amount) for ln in ledger.lines} == {
        (RevenueAccount.SERVICES, Decimal("100.00")),
        (RevenueAccount.REIMBURSABLE_EXPENSES, Decimal("25.00")),
    }
    assert ledger.problems() == []
