"""Milestone edge cases, advance retainers across an amendment, cost-plus fx, trace explanations, tampering."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import msgspec

import billing
from billing.explain import explain

from .conftest import amounts, terms_from, usage

MILESTONES = """
contract_id: ms
currency: GBP
timezone: Europe/London
start_date: 2025-01-01
versions:
  - effective_from: 2025-01
    milestones:
      - {id: a, amount: "1000.00", retention: {percent: "12.5", release_after_periods: 0}}
      - {id: b, amount: "333.33", retention: {percent: "10", release_on_milestone: a}}
    tax:
      rates: [{id: vat, percent: "20"}, {id: out, percent: "0"}]
      default: vat
      by_kind: {retention: out}
"""


def accept(id: str, day: date) -> billing.MilestoneAcceptance:
    return billing.MilestoneAcceptance(id=id, accepted_on=day)


def test_milestones_bill_once_and_report_unknown_or_repeated_acceptances() -> None:
    t = terms_from(MILESTONES)
    d1, s1 = billing.rate(
        t,
        billing.RatingInputs(milestones=[accept("b", date(2025, 1, 9)), accept("zz", date(2025, 1, 9))]),
        None,
        "2025-01",
    )
    # b 333.33; 10% retention = 33.333 -> 33.33 withheld, taxed at "out" (VAT charged now on the full amount)
    assert amounts(d1) == {"milestone|b": "333.33", "retention|b|withheld": "-33.33"}
    assert {(t.rate_id, str(t.base)) for t in d1.tax} == {("vat", "333.33"), ("out", "-33.33")}
    assert "milestone_unknown" in {n.code for n in d1.notes}
    d2, s2 = billing.rate(
        t,
        billing.RatingInputs(milestones=[accept("b", date(2025, 1, 9)), accept("a", date(2025, 2, 1))]),
        s1,
        "2025-02",
    )
    # a: 1,000.00 with 12.5% = 125.00 withheld and released in the same period (0 periods after);
    # its acceptance releases b's 33.33
    assert amounts(d2) == {
        "milestone|a": "1000.00",
        "retention|a|withheld": "-125.00",
        "retention|a|release": "125.00",
        "retention|b|release": "33.33",
    }
    assert "milestone_already_billed" in {n.code for n in d2.notes}
    assert s2.retentions == []


def test_advance_retainer_is_billed_at_the_amended_fee_for_the_amended_period() -> None:
    t = terms_from("""
contract_id: adv
currency: USD
timezone: UTC
start_date: 2025-01-01
versions:
  - effective_from: 2025-01
    retainers: [{id: r, amount: "1000.00"}]
  - effective_from: 2025-03
    retainers: [{id: r, amount: "1200.00"}]
""")
    _, s = billing.rate(t, billing.RatingInputs(), None, "2025-01")
    d2, s = billing.rate(t, billing.RatingInputs(), s, "2025-02")
    # February's invoice bills March in advance, under March's (amended) terms
    assert amounts(d2) == {"retainer|r|fee|2025-03": "1200.00"}
    d3, _ = billing.rate(t, billing.RatingInputs(), s, "2025-03")
    assert amounts(d3) == {"retainer|r|fee|2025-04": "1200.00"}


def test_cost_plus_converts_provider_cost_at_the_contract_fx_rate() -> None:
    t = terms_from("""
contract_id: fx
currency: EUR
timezone: Europe/Amsterdam
start_date: 2025-01-01
versions:
  - effective_from: 2025-01
    usage_charges:
      - {id: llm, meter: tok, pricing: {model: cost_plus, margin_percent: "30", fx_rate: "0.92"}}
""")
    d, _ = billing.rate(t, billing.RatingInputs(usage=[usage("tok", "1000000", cost="12.345678")]), None, "2025-01")
    # 12.345678 USD x 0.92 = 11.35802376 EUR x 1.30 = 14.765430888 -> 14.77
    assert amounts(d) == {"usage|llm|main|": "14.77"}
    text = "\n".join(explain(d.lines[0]))
    assert "provider cost 12.345678" in text and "30% margin" in text and "rounded once" in text


def test_every_line_explains_itself_with_the_clause_it_applied() -> None:
    t = terms_from("""
contract_id: ex
currency: USD
timezone: UTC
start_date: 2025-01-01
versions:
  - effective_from: 2025-01
    usage_charges:
      - id: c
        meter: m
        pricing: {model: graduated, tiers: [{from: 0, up_to: 10, unit_price: "1"}, {from: 10, unit_price: "0.5"}]}
    minimums: [{id: mn, amount: "50.00"}]
    annual_caps: [{id: cap, amount: "600.00"}]
""")
    d, _ = billing.rate(t, billing.RatingInputs(usage=[usage("m", "12.5")]), None, "2025-01")
    usage_line = next(ln for ln in d.lines if ln.kind == "ai_usage")
    text = explain(usage_line)
    assert text[1].startswith("graduated tier (0, 10]: 10 × 1 = 10") and "/pricing/tiers/0" in text[1]
    assert text[2].startswith("graduated tier (10, ∞]: 2.5 × 0.5 = 1.25")
    assert text[3].startswith("rounded once (half_up): 11.25 → 11.25")
    true_up = next(ln for ln in d.lines if ln.kind == "minimum_true_up")
    assert explain(true_up)[0].startswith("minimum 50.00; scope billed 11.25; true-up 38.75 → 50.00")
    assert all(ln.trace for ln in d.lines)


def test_verify_detects_a_tampered_draft() -> None:
    t = terms_from("""
contract_id: vt
currency: USD
timezone: UTC
start_date: 2025-01-01
versions:
  - effective_from: 2025-01
    usage_charges: [{id: c, meter: m, pricing: {model: per_unit, unit_price: "1"}}]
""")
    d, _ = billing.rate(t, billing.RatingInputs(usage=[usage("m", "5")]), None, "2025-01")
    assert billing.verify(d) == []
    bad_line = msgspec.structs.replace(d.lines[0], amount=Decimal("6.00"))
    tampered = msgspec.structs.replace(d, lines=[bad_line])
    assert any("lines = site subtotals" in f for f in billing.verify(tampered))


def test_state_from_another_contract_is_refused() -> None:
    t = terms_from("""
contract_id: one
currency: USD
timezone: UTC
start_date: 2025-01-01
versions: [{effective_from: 2025-01}]
""")
    other = billing.CarriedState(contract_id="two", last_period="2024-12")
    try:
        billing.rate(t, billing.RatingInputs(), other, "2025-01")
    except billing.RatingError as exc:
        assert exc.problems[0].path == "/state/contract_id"
    else:
        raise AssertionError("expected RatingError")
