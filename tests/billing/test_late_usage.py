"""Late usage: billed as deltas on a later invoice, exact across tiers, minimums and caps."""

from __future__ import annotations

from decimal import Decimal

import pytest

import billing

from .conftest import amounts, terms_from, usage

TERMS = """
contract_id: late
currency: USD
timezone: America/New_York
start_date: 2025-03-01
default_site: a
versions:
  - effective_from: 2025-03
    options: {{late_usage_window: {window}}}
    sites: [{{id: a}}, {{id: b}}]
    usage_charges:
      - id: q
        meter: queries
        pricing:
          model: graduated
          tiers: [{{from: 0, up_to: 1000, unit_price: "0.10"}}, {{from: 1000, unit_price: "0.05"}}]
    minimums: [{{id: mn, amount: "50.00", per_site: true}}]
    annual_caps: [{{id: cap, amount: "700.00", per_site: true}}]
    discounts: [{{id: d, percent: "10"}}]
"""


def terms(window: int = 3) -> billing.ContractTerms:
    return terms_from(TERMS.format(window=window))


def q(n: str, site: str = "a") -> billing.UsageAggregate:
    return usage("queries", n, site=site)


def test_delta_equals_rating_with_all_usage_minus_what_was_billed() -> None:
    t = terms()
    part = [q("800"), q("100", site="b")]
    late = [q("400"), q("600", site="b")]
    billed, s1 = billing.rate(t, billing.RatingInputs(usage=part), None, "2025-03")
    full, _ = billing.rate(t, billing.RatingInputs(usage=part + late), None, "2025-03")
    d2, _ = billing.rate(
        t, billing.RatingInputs(late_usage=[billing.LateUsage(period="2025-03", usage=late)]), s1, "2025-04"
    )
    deltas = {ln.key.removeprefix("late|2025-03|"): ln for ln in d2.lines if ln.delta_for == "2025-03"}
    b, f = amounts(billed), amounts(full)
    for key in set(b) | set(f):
        delta = deltas[key].amount if key in deltas else 0
        assert Decimal(b.get(key, "0")) + delta == Decimal(f.get(key, "0")), key
    # a: 800 -> 1,200 crosses the tier at 1,000: 80.00 -> 100.00 + 10.00 = 110.00, delta +30.00
    assert str(deltas["usage|q|a|"].amount) == "30.00"
    # b: 100 x 0.10 = 10.00, discount -1.00 -> 9.00, true-up 41.00; with all 700: 70.00 - 7.00 = 63.00 >= 50.00,
    # so the true-up is reversed
    assert str(deltas["minimum|mn|b"].amount) == "-41.00"
    assert all(ln.kind in {"ai_usage", "discount", "minimum_true_up"} for ln in deltas.values())
    assert all(ln.description.startswith("Late usage for 2025-03") for ln in deltas.values())


def test_late_usage_cannot_push_a_scope_past_its_cap() -> None:
    t = terms()
    _, s1 = billing.rate(t, billing.RatingInputs(usage=[q("7000")]), None, "2025-03")
    # 1,000 x 0.10 + 6,000 x 0.05 = 400.00 - 10% = 360.00 billed, 340.00 of cap room left
    d2, s2 = billing.rate(
        t, billing.RatingInputs(late_usage=[billing.LateUsage(period="2025-03", usage=[q("10000")])]), s1, "2025-04"
    )
    lines = amounts(d2)
    # all usage 17,000: 100.00 + 16,000 x 0.05 = 900.00, discount -90.00 -> 810.00: delta +500.00 - 50.00
    # = +450.00 of which only 340.00 fits under the cap
    assert lines["late|2025-03|usage|q|a|"] == "500.00"
    assert lines["late|2025-03|discount|d|a|"] == "-50.00"
    assert lines["late|2025-03|cap|cap|a|a|"] == "-110.00"
    acct = next(c for c in s2.caps if c.instance == "a")
    assert str(acct.billed) == "700.00"


def test_late_usage_arriving_twice_is_diffed_against_the_corrected_period() -> None:
    t = terms()
    _, s1 = billing.rate(t, billing.RatingInputs(usage=[q("900")]), None, "2025-03")
    d2, s2 = billing.rate(
        t, billing.RatingInputs(late_usage=[billing.LateUsage(period="2025-03", usage=[q("50")])]), s1, "2025-04"
    )
    d3, _ = billing.rate(
        t, billing.RatingInputs(late_usage=[billing.LateUsage(period="2025-03", usage=[q("100")])]), s2, "2025-05"
    )
    # 900 -> 950: +5.00 (tier 1); 950 -> 1,050: 50 x 0.10 + 50 x 0.05 = +7.50
    assert amounts(d2)["late|2025-03|usage|q|a|"] == "5.00"
    assert amounts(d3)["late|2025-03|usage|q|a|"] == "7.50"


def test_late_usage_outside_the_window_is_reported_not_billed() -> None:
    t = terms(window=1)
    _, s = billing.rate(t, billing.RatingInputs(usage=[q("10")]), None, "2025-03")
    _, s = billing.rate(t, billing.RatingInputs(), s, "2025-04")
    d, _ = billing.rate(
        t, billing.RatingInputs(late_usage=[billing.LateUsage(period="2025-03", usage=[q("5")])]), s, "2025-05"
    )
    assert not any(ln.delta_for for ln in d.lines)
    assert "late_usage_outside_window" in {n.code for n in d.notes}


def test_late_usage_without_a_billed_record_is_an_error_not_a_guess() -> None:
    t = terms()
    _, s = billing.rate(t, billing.RatingInputs(), None, "2025-03")
    bare = billing.CarriedState(contract_id=s.contract_id, last_period=s.last_period)
    with pytest.raises(billing.RatingError):
        billing.rate(
            t, billing.RatingInputs(late_usage=[billing.LateUsage(period="2025-03", usage=[q("5")])]), bare, "2025-04"
        )


def test_late_usage_for_the_current_or_a_future_period_is_rejected() -> None:
    with pytest.raises(billing.RatingError) as exc:
        billing.rate(
            terms(), billing.RatingInputs(late_usage=[billing.LateUsage(period="2025-03", usage=[])]), None, "2025-03"
        )
    assert exc.value.problems[0].path == "/late_usage/0/period"


def test_an_amendment_that_rewrites_a_closed_period_is_refused() -> None:
    t = terms()
    _, s = billing.rate(t, billing.RatingInputs(usage=[q("10")]), None, "2025-03")
    # the March clause is edited after March was invoiced (the discount becomes 15%)
    rewritten = billing.load_terms(TERMS.format(window=3).replace('percent: "10"', 'percent: "15"').encode())
    with pytest.raises(billing.RatingError) as exc:
        billing.rate(rewritten, billing.RatingInputs(), s, "2025-04")
    assert "changed since it was invoiced" in exc.value.problems[0].message


def test_rating_the_same_period_twice_is_refused() -> None:
    t = terms()
    _, s = billing.rate(t, billing.RatingInputs(), None, "2025-03")
    with pytest.raises(billing.RatingError):
        billing.rate(t, billing.RatingInputs(), s, "2025-03")


def test_several_late_batches_for_one_period_become_one_delta_per_line() -> None:
    t = terms()
    _, s1 = billing.rate(t, billing.RatingInputs(usage=[q("900")]), None, "2025-03")
    batches = [
        billing.LateUsage(period="2025-03", usage=[q("60")]),
        billing.LateUsage(period="2025-03", usage=[q("40")]),
    ]
    d, _ = billing.rate(t, billing.RatingInputs(late_usage=batches), s1, "2025-04")
    # 900 -> 1,000: 100 x 0.10 = +10.00 in one line (the tier boundary is exactly reached)
    assert amounts(d)["late|2025-03|usage|q|a|"] == "10.00"
