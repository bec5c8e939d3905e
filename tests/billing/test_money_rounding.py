"""Money: ISO 4217 minor units, one rounding per line at the documented step, exact sums, tax per rate."""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import billing
from billing.money import allocate, round_money

from .conftest import amounts, usage


def test_minor_units_follow_iso_4217() -> None:
    assert billing.minor_units("JPY") == 0
    assert billing.minor_units("KRW") == 0
    assert billing.minor_units("USD") == 2
    assert billing.minor_units("EUR") == 2
    assert billing.minor_units("KWD") == 3
    assert billing.minor_units("BHD") == 3
    assert billing.minor_units("CLF") == 4
    assert not billing.is_known_currency("XAU")  # metals have no minor unit: not invoiceable
    assert not billing.is_known_currency("ABC")


@pytest.mark.parametrize(
    ("amount", "currency", "half_up", "half_even"),
    [
        ("2.665", "USD", "2.67", "2.66"),
        ("2.675", "USD", "2.68", "2.68"),
        ("-2.665", "USD", "-2.67", "-2.66"),  # symmetric: credits mirror charges
        ("2502.5", "JPY", "2503", "2502"),
        ("13.7625", "KWD", "13.763", "13.762"),
        ("0.004999", "USD", "0.00", "0.00"),
    ],
)
def test_rounding_modes_to_the_currency_minor_unit(amount: str, currency: str, half_up: str, half_even: str) -> None:
    assert str(round_money(Decimal(amount), currency, "half_up")) == half_up
    assert str(round_money(Decimal(amount), currency, "half_even")) == half_even


PER_UNIT = """
contract_id: r
currency: {currency}
timezone: UTC
start_date: 2025-01-01
versions:
  - effective_from: 2025-01
    {options}
    usage_charges:
      - {{id: c, meter: m, pricing: {pricing}}}
    {tax}
"""


def _rate(
    make_terms: Callable[[str], billing.ContractTerms],
    aggs: list[billing.UsageAggregate],
    *,
    currency: str = "USD",
    pricing: str = "{model: per_unit, unit_price: '0.3333'}",
    options: str = "",
    tax: str = "",
) -> billing.InvoiceDraft:
    t = make_terms(PER_UNIT.format(currency=currency, pricing=pricing, options=options, tax=tax))
    return billing.rate(t, billing.RatingInputs(usage=aggs), None, "2025-01")[0]


def test_a_line_is_rounded_once_from_the_exact_product_not_from_a_rounded_unit_price(make_terms) -> None:
    # 3 x 0.3333 = 0.9999 -> 1.00; rounding the unit price first would bill 3 x 0.33 = 0.99
    d = _rate(make_terms, [usage("m", 3)])
    assert amounts(d) == {"usage|c|main|": "1.00"}


def test_graduated_tiers_are_summed_exactly_and_rounded_once_not_per_tier(make_terms) -> None:
    # two tiers of 10 units at 0.0005: 0.005 + 0.005 = 0.010 -> 0.01 (rounding each tier would give 0.02)
    tiers = "{model: graduated, tiers: [{from: 0, up_to: 10, unit_price: '0.0005'}, {from: 10, unit_price: '0.0005'}]}"
    d = _rate(make_terms, [usage("m", 20)], pricing=tiers)
    assert amounts(d) == {"usage|c|main|": "0.01"}


def test_subtotal_is_the_exact_sum_of_rounded_lines(make_terms) -> None:
    # three sites each 0.005 -> 0.01 each (half up); subtotal 0.03, not round(0.015) = 0.02
    aggs = [usage("m", 1, site=s) for s in ("a", "b", "c")]
    d = _rate(make_terms, aggs, pricing="{model: per_unit, unit_price: '0.005'}")
    assert [str(ln.amount) for ln in d.lines] == ["0.01", "0.01", "0.01"]
    assert str(d.subtotal) == "0.03"


def test_tax_is_computed_once_per_rate_on_the_rounded_base(make_terms) -> None:
    # 3 lines of 0.10 at 5%: per-line tax would be 3 x round(0.005) = 0.03; once on 0.30 it is 0.015 -> 0.02
    aggs = [usage("m", 1, site=s) for s in ("a", "b", "c")]
    d = _rate(
        make_terms,
        aggs,
        pricing="{model: per_unit, unit_price: '0.10'}",
        tax="tax: {rates: [{id: t5, percent: '5'}], default: t5}",
    )
    assert [(t.rate_id, str(t.base), str(t.amount)) for t in d.tax] == [("t5", "0.30", "0.02")]
    assert str(d.total) == "0.32"


def test_jpy_lines_round_to_whole_yen_and_kwd_to_fils(make_terms) -> None:
    d = _rate(make_terms, [usage("m", 1001)], currency="JPY", pricing="{model: per_unit, unit_price: '2.5'}")
    assert amounts(d) == {"usage|c|main|": "2503"}
    d = _rate(
        make_terms,
        [usage("m", 1101)],
        currency="KWD",
        pricing="{model: per_unit, unit_price: '0.0125'}",
        options="options: {rounding: half_even}",
    )
    assert amounts(d) == {"usage|c|main|": "13.762"}


def test_money_amounts_finer_than_the_minor_unit_are_rejected(make_terms) -> None:
    doc = PER_UNIT.format(
        currency="JPY",
        pricing="{model: per_unit, unit_price: '2.5'}",
        options="minimums: [{id: m1, amount: '1000.5'}]",
        tax="",
    )
    problems = billing.validate_terms(doc.encode())
    assert [p.path for p in problems] == ["/versions/0/minimums/0/amount"]
    assert "minor unit" in problems[0].message


@settings(max_examples=200, deadline=None)
@given(total=st.integers(-(10**9), 10**9), weights=st.lists(st.integers(0, 10**6), min_size=1, max_size=12))
def test_allocation_is_exact_and_never_more_than_one_unit_from_proportional(total: int, weights: list[int]) -> None:
    parts = allocate(total, weights)
    assert sum(parts) == total
    wsum = sum(weights)
    if wsum:
        for p, w in zip(parts, weights, strict=True):
            assert abs(Decimal(p) - Decimal(total) * w / wsum) < 1
    assert allocate(total, weights) == parts
