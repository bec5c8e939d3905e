"""Minimums, annual caps, discounts, prepaid credits and tax, and the named options that order them."""

from __future__ import annotations

from decimal import Decimal

import billing

from .conftest import amounts, terms_from, usage

BASE = """
contract_id: cm
currency: USD
timezone: UTC
start_date: {start}
contract_year_anchor: 2025-01
default_site: a
{extra}
versions:
  - effective_from: 2025-01
    options: {options}
    sites: [{{id: a}}, {{id: b}}]
    usage_charges:
      - {{id: std, meter: m, filter: {{category: std}}, pricing: {{model: per_unit, unit_price: "1.00"}}}}
      - {{id: pro, meter: m, filter: {{category: pro}}, pricing: {{model: per_unit, unit_price: "2.00"}}}}
{clauses}
"""


def make(clauses: str, options: str = "{}", start: str = "2025-01-01", extra: str = "") -> billing.ContractTerms:
    return terms_from(BASE.format(clauses=clauses, options=options, start=start, extra=extra))


def rate(t: billing.ContractTerms, aggs: list[billing.UsageAggregate], state=None, period="2025-01"):
    return billing.rate(t, billing.RatingInputs(usage=aggs), state, period)


def u(q: str, site: str = "a", cat: str = "std") -> billing.UsageAggregate:
    return usage("m", q, site=site, category=cat)


def test_minimum_true_up_tops_the_scope_up_and_is_prorated_in_a_partial_month() -> None:
    t = make("    minimums: [{id: mn, amount: '310.00', per_site: true}]", start="2025-01-11")
    d, _ = rate(t, [u("100"), u("400", site="b")])
    # 21 of 31 days active: the minimum is 310.00 x 21/31 = 210.00; site a 100.00 -> true-up 110.00
    assert amounts(d) == {"usage|std|a|std": "100.00", "minimum|mn|a": "110.00", "usage|std|b|std": "400.00"}


def test_minimum_counts_only_its_categories() -> None:
    t = make("    minimums: [{id: mn, amount: '100.00', scope: {sites: [a], categories: [pro]}}]")
    d, _ = rate(t, [u("500"), u("10", cat="pro")])
    # std usage does not count: pro 20.00 -> true-up 80.00
    assert amounts(d)["minimum|mn|"] == "80.00"


def test_minimum_basis_before_discounts_is_a_named_option() -> None:
    clauses = (
        "    minimums: [{id: mn, amount: '100.00', scope: {sites: [a]}}]\n    discounts: [{id: d10, percent: '10'}]"
    )
    after = make(clauses)
    before = make(clauses, options="{minimum_basis: before_discounts}")
    # 100.00 of usage, 10% discount -> 90.00 after discounts
    assert amounts(rate(after, [u("100")])[0])["minimum|mn|"] == "10.00"
    assert "minimum|mn|" not in amounts(rate(before, [u("100")])[0])


def test_minimum_true_up_never_pushes_a_scope_past_its_cap_by_default() -> None:
    t = make(
        "    minimums: [{id: mn, amount: '100.00', per_site: true}]\n"
        "    annual_caps: [{id: cap, amount: '1250.00', per_site: true}]"
    )
    state = None
    for month in range(1, 13):
        d, state = rate(t, [u("120"), u("100", site="b")], state, f"2025-{month:02d}")
    # site a bills 120.00/month: 10 x 120 = 1,200.00 by October; November has 50.00 of room -> -70.00,
    # December none -> usage 120.00 capped to 0.00 (no true-up can exceed the cap).
    assert amounts(d)["cap|cap|a|a|"] == "-120.00"
    a_total = next(c for c in state.caps if c.instance == "a")
    assert (str(a_total.billed), str(a_total.uncapped)) == ("1250.00", "1440.00")


def test_minimum_prevails_lets_the_true_up_exceed_an_exhausted_cap() -> None:
    t = make(
        "    minimums: [{id: mn, amount: '100.00', per_site: true}]\n"
        "    annual_caps: [{id: cap, amount: '1200.00', per_site: true}]",
        options="{minimum_vs_cap: minimum_prevails}",
    )
    state = None
    for month in range(1, 12):
        _, state = rate(t, [u("110"), u("110", site="b")], state, f"2025-{month:02d}")
    # after 11 months site a billed 1,200.00 (10 x 110 + 100 of November); December's 50.00 of usage is
    # capped to 0.00 and the minimum then tops up to 100.00 outside the cap
    d, state = rate(t, [u("50"), u("110", site="b")], state, "2025-12")
    lines = amounts(d)
    assert lines["usage|std|a|std"] == "50.00"
    assert lines["cap|cap|a|a|"] == "-50.00"
    assert lines["minimum|mn|a"] == "100.00"
    assert str(d.site_subtotals[0].amount) == "100.00"


def test_annual_cap_resets_at_the_contract_year_anchor() -> None:
    t = make("    annual_caps: [{id: cap, amount: '150.00', scope: {sites: [a]}}]")
    _, s = rate(t, [u("100")], None, "2025-12")
    d, s = rate(t, [u("100")], s, "2026-01")
    assert "cap|cap||a|" not in amounts(d)  # new contract year: room 150.00 again


def test_cap_consumption_is_split_across_sites_exactly() -> None:
    t = make("    annual_caps: [{id: cap, amount: '100.00'}]")
    d, _ = rate(t, [u("100"), u("50", site="b")])
    # 150.00 in scope, cap 100.00 -> -50.00 split 100:50 -> -33.33 / -16.67 (largest remainder)
    assert amounts(d)["cap|cap||a|"] == "-33.33"
    assert amounts(d)["cap|cap||b|"] == "-16.67"
    assert str(d.subtotal) == "100.00"


def test_sequential_and_additive_discount_stacking() -> None:
    clauses = "    discounts: [{id: d1, percent: '10'}, {id: d2, percent: '10'}]"
    seq = amounts(rate(make(clauses), [u("1000")])[0])
    add = amounts(rate(make(clauses, options="{discount_stacking: additive}"), [u("1000")])[0])
    assert (seq["discount|d1|a|"], seq["discount|d2|a|"]) == ("-100.00", "-90.00")
    assert (add["discount|d1|a|"], add["discount|d2|a|"]) == ("-100.00", "-100.00")


def test_fixed_discount_is_split_pro_rata_and_limited_to_the_scope() -> None:
    t = make("    discounts: [{id: f, amount: '100.00', scope: {categories: [std]}}]")
    d, _ = rate(t, [u("200"), u("100", site="b"), u("50", cat="pro")])
    assert amounts(d)["discount|f|a|"] == "-66.67"
    assert amounts(d)["discount|f|b|"] == "-33.33"
    d, _ = rate(t, [u("30")])
    assert amounts(d)["discount|f|a|"] == "-30.00"


def test_discount_validity_window() -> None:
    t = make("    discounts: [{id: promo, percent: '50', valid_from: 2025-02, valid_until: 2025-03}]")
    _, s = rate(t, [u("10")], None, "2025-01")
    d2, s = rate(t, [u("10")], s, "2025-02")
    d4, _ = rate(t, [u("10")], rate(t, [u("10")], s, "2025-03")[1], "2025-04")
    assert amounts(d2)["discount|promo|a|"] == "-5.00"
    assert "discount|promo|a|" not in amounts(d4)


CREDITS = """prepaid_credits:
  - {id: low, amount: "50.00", granted: 2025-01, expires_after: 2025-02, priority: 1}
  - {id: high, amount: "500.00", granted: 2025-01, priority: 2, scope: {kinds: [ai_usage]}}"""


def test_credits_apply_in_priority_order_and_expire_with_a_note() -> None:
    t = make("", extra=CREDITS)
    d1, s1 = rate(t, [u("30")])
    assert amounts(d1) == {"usage|std|a|std": "30.00", "credit|low|a|": "-30.00"}
    d2, s2 = rate(t, [u("70")], s1, "2025-02")
    # low has 20.00 left, then high covers 50.00
    assert amounts(d2) == {"usage|std|a|std": "70.00", "credit|low|a|": "-20.00", "credit|high|a|": "-50.00"}
    d3, s3 = rate(t, [u("10")], s2, "2025-03")
    assert {c.grant: str(c.remaining) for c in s3.credits} == {"low": "0.00", "high": "440.00"}
    assert "credit_expired" not in {n.code for n in d3.notes}  # low was used up, nothing forfeited


def test_unused_credit_is_forfeited_after_expiry() -> None:
    t = make("", extra=CREDITS)
    _, s = rate(t, [u("10")])
    _, s = rate(t, [u("0")], s, "2025-02")
    d, s = rate(t, [u("10")], s, "2025-03")
    assert any(n.code == "credit_expired" and "40.00" in n.message for n in d.notes)
    assert amounts(d)["credit|high|a|"] == "-10.00"


def test_tax_rates_per_line_kind_and_adjustments_split_by_rate() -> None:
    t = terms_from("""
contract_id: tx
currency: EUR
timezone: Europe/Paris
start_date: 2025-01-01
versions:
  - effective_from: 2025-01
    retainers: [{id: r, amount: "1000.00", billing: arrears}]
    usage_charges: [{id: ai, meter: m, pricing: {model: per_unit, unit_price: "1.00"}}]
    discounts: [{id: d, percent: "10"}]
    tax:
      rates: [{id: std, percent: "20"}, {id: red, percent: "5.5"}]
      default: std
      by_kind: {ai_usage: red}
""")
    d, _ = billing.rate(t, billing.RatingInputs(usage=[usage("m", "200")]), None, "2025-01")
    # one site, two tax rates: the 10% discount becomes one line per rate
    assert amounts(d)["discount|d|main|std"] == "-100.00"
    assert amounts(d)["discount|d|main|red"] == "-20.00"
    # std: 1,000.00 - 100.00 = 900.00 x 20% = 180.00; red: 200.00 - 20.00 = 180.00 x 5.5% = 9.90
    assert {t.rate_id: (str(t.base), str(t.amount)) for t in d.tax} == {
        "std": ("900.00", "180.00"),
        "red": ("180.00", "9.90"),
    }
    assert str(d.total) == "1269.90"


def test_category_disabled_at_a_site_is_noted_not_billed() -> None:
    t = terms_from("""
contract_id: tg
currency: USD
timezone: UTC
start_date: 2025-01-01
default_site: a
versions:
  - effective_from: 2025-01
    sites: [{id: a, disabled_categories: [pro]}, {id: b}]
    usage_charges: [{id: c, meter: m, pricing: {model: per_unit, unit_price: "1.00"}}]
""")
    d, _ = rate(t, [u("5", cat="pro"), u("5", site="b", cat="pro")])
    assert amounts(d) == {"usage|c|b|pro": "5.00"}
    assert [n.code for n in d.notes] == ["usage_category_disabled"]


def test_unpriced_and_unmatched_usage_is_reported() -> None:
    t = make("")
    d, _ = rate(t, [usage("other", "5"), usage("m", "3", category="nope")])
    assert d.lines == []
    assert sorted(n.code for n in d.notes) == ["usage_no_matching_charge", "usage_unpriced_meter"]
    assert Decimal(0) == d.total
