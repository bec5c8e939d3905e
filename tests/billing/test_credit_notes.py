"""The credit-note engine (billing/credit_notes.py): any sequence of partial credits never takes back more
than was invoiced, line or tax, and crediting what is left in full always lands on exactly the invoice."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import hypothesis.strategies as st
import pytest
from hypothesis import given, settings

from billing import Credited, CreditRefused, CreditRequest, credit_note
from billing.credit_notes import CreditNoteDraft, LineRequest
from billing.invoice import InvoiceDraft, InvoiceLine, TaxLine, Verification
from billing.money import ROUND_HALF_UP

RATES = {"vat20": Decimal(20), "gst825": Decimal("8.25")}


def draft(amounts: list[tuple[int, str | None]], currency: str = "USD", minor: int = 2) -> InvoiceDraft:
    """An invoice of lines (minor units, tax rate id) taxed per rate on the line sum, rounded once."""
    lines = [
        InvoiceLine(
            key=f"l{i}",
            site="main",
            kind="discount" if units < 0 else "services",
            description=f"line {i}",
            quantity=None,
            unit="",
            unit_price=None,
            amount=Decimal(units).scaleb(-minor),
            tax_rate=rate,
        )
        for i, (units, rate) in enumerate(amounts)
    ]
    taxes = []
    for rate_id, percent in RATES.items():
        base = sum(units for units, rate in amounts if rate == rate_id)
        if any(rate == rate_id for _, rate in amounts):
            tax = int((Decimal(base) * percent / 100).to_integral_value(rounding=ROUND_HALF_UP))
            taxes.append(
                TaxLine(
                    rate_id=rate_id,
                    name=rate_id,
                    percent=percent,
                    base=Decimal(base).scaleb(-minor),
                    amount=Decimal(tax).scaleb(-minor),
                )
            )
    subtotal = sum((line.amount for line in lines), Decimal(0))
    tax_total = sum((t.amount for t in taxes), Decimal(0))
    zero = Decimal(0)
    return InvoiceDraft(
        contract_id="c",
        client="acme",
        currency=currency,
        period="2026-11",
        period_start=datetime(2026, 11, 1, tzinfo=UTC),
        period_end=datetime(2026, 12, 1, tzinfo=UTC),
        timezone="UTC",
        terms_version="1",
        rounding="half_up",
        lines=lines,
        site_subtotals=[],
        subtotal=subtotal,
        tax=taxes,
        tax_total=tax_total,
        total=subtotal + tax_total,
        verification=Verification(
            lines_total=zero,
            site_subtotals_total=zero,
            subtotal=zero,
            tax_base_total=zero,
            tax_total=zero,
            total=zero,
            checks=[],
            balanced=True,
        ),
    )


def after(credited: Credited, note: CreditNoteDraft) -> Credited:
    lines = dict(credited.lines)
    for line in note.lines:
        lines[line.line] = lines.get(line.line, Decimal(0)) + line.amount
    tax = dict(credited.tax)
    for t in note.tax:
        tax[t.rate_id] = tax.get(t.rate_id, Decimal(0)) + t.amount
    return Credited(lines=lines, tax=tax)


def test_a_full_credit_takes_back_every_line_and_exactly_the_invoiced_tax() -> None:
    invoice = draft([(100_00, "vat20"), (33_33, "vat20"), (-10_00, "vat20"), (5_00, None)])
    note = credit_note(invoice, Credited(), CreditRequest(mode="full"))
    assert note.total == invoice.total == Decimal("153.00")
    assert note.tax_total == Decimal("24.67") and note.subtotal == Decimal("128.33")


def test_a_line_credited_in_part_is_taxed_on_its_credited_base() -> None:
    invoice = draft([(100_00, "vat20"), (50_00, "gst825")])
    note = credit_note(
        invoice, Credited(), CreditRequest(mode="lines", lines=[LineRequest(line=1, amount=Decimal("10.01"))])
    )
    assert [(line.line, line.amount) for line in note.lines] == [(1, Decimal("10.01"))]
    assert [(t.rate_id, t.amount) for t in note.tax] == [("gst825", Decimal("0.83"))]
    assert note.total == Decimal("10.84")


def test_an_amount_is_spread_over_positive_lines_in_proportion_and_adds_up_exactly() -> None:
    invoice = draft([(100_00, None), (200_00, None), (-50_00, None)])
    note = credit_note(invoice, Credited(), CreditRequest(mode="amount", amount=Decimal("100.00")))
    assert [(line.line, line.amount) for line in note.lines] == [(0, Decimal("33.33")), (1, Decimal("66.67"))]
    assert note.total == Decimal("100.00")


@pytest.mark.parametrize(
    ("request_", "pointer"),
    [
        (CreditRequest(mode="amount", amount=Decimal("250.01")), "/amount"),
        (CreditRequest(mode="amount", amount=Decimal("1.001")), "/amount"),
        (CreditRequest(mode="amount", amount=Decimal("NaN")), "/amount"),
        (CreditRequest(mode="amount"), "/amount"),
        (CreditRequest(mode="lines", lines=[LineRequest(line=7)]), "/lines/0/line"),
        (CreditRequest(mode="lines", lines=[LineRequest(line=2)]), "/lines/0/line"),
        (CreditRequest(mode="lines", lines=[LineRequest(line=0), LineRequest(line=0)]), "/lines/1/line"),
        (CreditRequest(mode="lines", lines=[LineRequest(line=0, amount=Decimal("100.01"))]), "/lines/0/amount"),
        (CreditRequest(mode="lines"), "/lines"),
    ],
)
def test_impossible_credits_are_refused_naming_the_field(request_: CreditRequest, pointer: str) -> None:
    invoice = draft([(100_00, None), (200_00, None), (-50_00, None)])
    with pytest.raises(CreditRefused) as refused:
        credit_note(invoice, Credited(), request_)
    assert refused.value.pointer == pointer


def test_nothing_left_is_refused() -> None:
    invoice = draft([(100_00, "vat20")])
    full = credit_note(invoice, Credited(), CreditRequest(mode="full"))
    with pytest.raises(CreditRefused, match="nothing is left"):
        credit_note(invoice, after(Credited(), full), CreditRequest(mode="full"))


line_amounts = st.lists(
    st.tuples(st.integers(min_value=-5_000, max_value=500_000), st.sampled_from([None, "vat20", "gst825"])),
    min_size=1,
    max_size=6,
).filter(lambda lines: sum(units for units, _ in lines) > 0)


@settings(max_examples=300, deadline=None)
@given(
    lines=line_amounts,
    steps=st.lists(st.tuples(st.sampled_from(["lines", "amount"]), st.integers(1, 10**6)), max_size=6),
)
def test_any_partial_credits_then_full_take_back_exactly_the_invoice(
    lines: list[tuple[int, str | None]], steps: list[tuple[str, int]]
) -> None:
    invoice = draft(lines)
    credited = Credited()
    total = Decimal(0)
    for mode, seed in steps:
        left = [line.amount - credited.lines.get(i, Decimal(0)) for i, line in enumerate(invoice.lines)]
        positive = [i for i, amount in enumerate(left) if amount > 0]
        if not positive:
            break
        if mode == "lines":
            i = positive[seed % len(positive)]
            units = 1 + seed % int(left[i] * 100)
            request = CreditRequest(mode="lines", lines=[LineRequest(line=i, amount=Decimal(units).scaleb(-2))])
        else:
            room = min(sum(left[i] for i in positive), sum(left))
            if room <= 0:
                break
            units = 1 + seed % int(room * 100)
            request = CreditRequest(mode="amount", amount=Decimal(units).scaleb(-2))
        note = credit_note(invoice, credited, request)
        assert note.total == note.subtotal + note.tax_total
        credited = after(credited, note)
        total += note.total
        for i, line in enumerate(invoice.lines):
            taken = credited.lines.get(i, Decimal(0))
            assert taken <= line.amount if line.amount > 0 else taken == 0
        for t in invoice.tax:
            if t.amount > 0:
                assert 0 <= credited.tax.get(t.rate_id, Decimal(0)) <= t.amount
    try:
        last = credit_note(invoice, credited, CreditRequest(mode="full"))
    except CreditRefused:
        assert total == invoice.total
        return
    credited = after(credited, last)
    assert total + last.total == invoice.total
    assert all(credited.lines.get(i, Decimal(0)) == line.amount for i, line in enumerate(invoice.lines))
    assert all(credited.tax.get(t.rate_id, Decimal(0)) == t.amount for t in invoice.tax)
