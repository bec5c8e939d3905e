"""Finance's manual adjustments re-total the draft exactly as rating does (tax once per rate, verification)."""

from __future__ import annotations

from decimal import Decimal

import pytest

import billing

from .conftest import EXAMPLES, run_example, terms_from, usage


def april() -> billing.InvoiceDraft:
    return run_example(EXAMPLES / "10-late-usage").runs[-1].draft


def test_an_adjustment_line_is_added_and_tax_recomputed_once_on_the_new_base() -> None:
    d = april()
    adjusted = billing.apply_adjustments(
        d, [billing.ManualAdjustment(description="Goodwill credit for the 12 April outage", amount=Decimal("-20.00"))]
    )
    line = adjusted.lines[-1]
    assert (line.kind, line.site, line.tax_rate, str(line.amount)) == ("adjustment", "alpha", "nyc", "-20.00")
    # subtotal 190.00 - 20.00 = 170.00; tax 8.875% = 15.0875 -> 15.09; total 185.09
    assert (str(adjusted.subtotal), str(adjusted.tax[0].amount), str(adjusted.total)) == ("170.00", "15.09", "185.09")
    assert {s.site: str(s.amount) for s in adjusted.site_subtotals} == {"alpha": "80.00", "beta": "90.00"}
    assert adjusted.verification.balanced and billing.verify(adjusted) == []
    assert billing.encode(
        billing.apply_adjustments(
            d,
            [billing.ManualAdjustment(description="Goodwill credit for the 12 April outage", amount=Decimal("-20.00"))],
        )
    ) == billing.encode(adjusted)


def test_an_adjustment_must_be_a_currency_amount_and_name_its_rate_when_ambiguous() -> None:
    d = april()
    with pytest.raises(billing.RatingError) as exc:
        billing.apply_adjustments(
            d,
            [
                billing.ManualAdjustment(description="x", amount=Decimal("0.001")),
                billing.ManualAdjustment(description=" ", amount=Decimal(1), tax_rate="vat"),
            ],
        )
    assert [p.path for p in exc.value.problems] == [
        "/adjustments/0/amount",
        "/adjustments/1/description",
        "/adjustments/1/tax_rate",
    ]
    t = terms_from("""
contract_id: two
currency: EUR
timezone: Europe/Paris
start_date: 2025-01-01
versions:
  - effective_from: 2025-01
    retainers: [{id: r, amount: "1000.00", billing: arrears}]
    usage_charges: [{id: ai, meter: m, pricing: {model: per_unit, unit_price: "1.00"}}]
    tax: {rates: [{id: std, percent: "20"}, {id: red, percent: "5.5"}], default: std, by_kind: {ai_usage: red}}
""")
    two, _ = billing.rate(t, billing.RatingInputs(usage=[usage("m", "100")]), None, "2025-01")
    with pytest.raises(billing.RatingError) as exc2:
        billing.apply_adjustments(two, [billing.ManualAdjustment(description="fix", amount=Decimal("-10.00"))])
    assert "several tax rates" in exc2.value.problems[0].message
    fixed = billing.apply_adjustments(
        two, [billing.ManualAdjustment(description="fix", amount=Decimal("-10.00"), tax_rate="red")]
    )
    # red: 100.00 - 10.00 = 90.00 x 5.5% = 4.95; std: 1,000.00 x 20% = 200.00; total 1,090.00 + 204.95
    assert {x.rate_id: str(x.amount) for x in fixed.tax} == {"std": "200.00", "red": "4.95"}
    assert str(fixed.total) == "1294.95"
