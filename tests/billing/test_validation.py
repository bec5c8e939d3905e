"""Invalid terms are rejected with every problem listed, each naming its path in the document."""

from __future__ import annotations

import pytest

import billing

GOOD = """
contract_id: v
currency: USD
timezone: America/Chicago
start_date: 2025-01-01
versions:
  - effective_from: 2025-01
    sites: [{id: main}, {id: b}]
    usage_charges:
      - id: c
        meter: m
        pricing:
          model: graduated
          tiers: [{from: 0, up_to: 100, unit_price: "1.00"}, {from: 100, unit_price: "0.50"}]
    minimums: [{id: mn, amount: "100.00", per_site: true}]
    annual_caps: [{id: cap, amount: "5000.00", per_site: true}]
"""


def problems(doc: str) -> dict[str, str]:
    return {p.path: p.message for p in billing.validate_terms(doc.encode())}


def test_a_valid_contract_has_no_problems() -> None:
    assert problems(GOOD) == {}


def test_every_problem_is_listed_at_once_with_its_path() -> None:
    bad = """
contract_id: v
currency: USX
timezone: Mars/Olympus_Mons
start_date: 2025-01-01
versions:
  - effective_from: 2025-01
    sites: [{id: main}]
    usage_charges:
      - id: c
        meter: m
        pricing:
          model: graduated
          tiers:
            - {from: 0, up_to: 100, unit_price: "1.00"}
            - {from: 90, up_to: 200, unit_price: "-0.50"}
            - {from: 250, up_to: 300, unit_price: "0.25"}
    minimums: [{id: mn, amount: "500.00"}]
    annual_caps: [{id: cap, amount: "1000.00"}]
  - effective_from: 2025-01
"""
    got = problems(bad)
    assert "unknown ISO 4217 currency" in got["/currency"]
    assert "unknown IANA time zone" in got["/timezone"]
    assert "overlapping tiers" in got["/versions/0/usage_charges/0/pricing/tiers/1/from"]
    assert "negative price" in got["/versions/0/usage_charges/0/pricing/tiers/1/unit_price"]
    assert "gap between tiers" in got["/versions/0/usage_charges/0/pricing/tiers/2/from"]
    assert "last tier must be unbounded" in got["/versions/0/usage_charges/0/pricing/tiers/2/up_to"]
    assert "overlaps the previous version" in got["/versions/1/effective_from"]
    # a cap below the minimums it contains is a warning (billing.contract_warnings), not an error
    assert "/versions/0/annual_caps/0/amount" not in got
    assert len(got) == 7


def test_structural_problems_are_all_reported_too() -> None:
    bad = """
contract_id: v
currency: USD
timezone: UTC
start_date: 2025-13-01
versions:
  - effective_from: 2025-03-15
    usage_charges:
      - {id: c, meter: m, pricing: {model: per_unit, unit_prise: "1.00"}}
      - {id: d, meter: m, pricing: {model: tiered}}
    options: {rounding: bankers}
"""
    got = problems(bad)
    assert set(got) == {
        "/start_date",
        "/versions/0/effective_from",
        "/versions/0/options/rounding",
        "/versions/0/usage_charges/0/pricing/unit_prise",
        "/versions/0/usage_charges/0/pricing/unit_price",
        "/versions/0/usage_charges/1/pricing/model",
    }
    assert "period boundaries" in got["/versions/0/effective_from"]
    assert "unknown field" in got["/versions/0/usage_charges/0/pricing/unit_prise"]


def test_references_and_ids_are_checked() -> None:
    doc = GOOD.replace(
        'minimums: [{id: mn, amount: "100.00", per_site: true}]',
        'minimums: [{id: mn, amount: "100.00", scope: {sites: [zz], charges: [nope]}}, {id: mn, amount: "10.00"}]',
    )
    got = problems(doc)
    assert "unknown site" in got["/versions/0/minimums/0/scope/sites/0"]
    assert "unknown usage charge" in got["/versions/0/minimums/0/scope/charges/0"]
    assert "duplicate minimum id" in got["/versions/0/minimums/1/id"]


def test_ambiguous_usage_charges_on_one_meter_are_rejected() -> None:
    doc = GOOD.replace(
        "    minimums:",
        """      - {id: s, meter: m, filter: {site: b}, pricing: {model: per_unit, unit_price: "1"}}
      - {id: k, meter: m, filter: {category: x}, pricing: {model: per_unit, unit_price: "2"}}
    minimums:""",
    )
    got = problems(doc)
    # c (no filter) is less specific than both: fine. s and k overlap for site b + category x: ambiguous.
    assert list(got) == ["/versions/0/usage_charges/2/filter"]
    fixed = doc.replace(
        "    minimums:",
        """      - {id: sk, meter: m, filter: {site: b, category: x}, pricing: {model: per_unit, unit_price: "3"}}
    minimums:""",
    )
    assert problems(fixed) == {}


def test_a_minimum_half_overlapping_a_cap_is_rejected() -> None:
    doc = GOOD.replace(
        'annual_caps: [{id: cap, amount: "5000.00", per_site: true}]',
        'annual_caps: [{id: cap, amount: "5000.00", scope: {categories: [x]}}]',
    )
    got = problems(doc)
    assert "partially overlaps annual cap" in got["/versions/0/minimums/0/scope"]


def test_money_negative_amounts_and_percentages_are_checked() -> None:
    doc = GOOD.replace(
        "    minimums:",
        """    discounts: [{id: d, percent: "120"}, {id: e, percent: "5", amount: "1.00"}]
    retainers: [{id: r, amount: "-5.00"}]
    tax: {rates: [{id: t, percent: "20"}], by_kind: {retainer: nope}}
    minimums:""",
    )
    got = problems(doc)
    assert "between more than 0 and 100" in got["/versions/0/discounts/0/percent"]
    assert "exactly one of percent or amount" in got["/versions/0/discounts/1"]
    assert "zero or more" in got["/versions/0/retainers/0/amount"]
    assert "default tax rate is required" in got["/versions/0/tax/default"]
    assert "unknown tax rate" in got["/versions/0/tax/by_kind/retainer"]


def test_duplicate_yaml_keys_are_an_error_not_a_silent_override() -> None:
    doc = GOOD.replace("contract_id: v", "contract_id: v\ncurrency: EUR")
    got = problems(doc)
    assert "duplicate key" in got[""]


def test_json_documents_keep_decimal_numbers_exact() -> None:
    doc = (
        '{"contract_id": "j", "currency": "USD", "timezone": "UTC", "start_date": "2025-01-01", "versions": '
        '[{"effective_from": "2025-01", "usage_charges": [{"id": "c", "meter": "m", "pricing": '
        '{"model": "per_unit", "unit_price": 0.1}}]}]}'
    )
    t = billing.load_terms(doc.encode())
    assert str(t.versions[0].usage_charges[0].pricing.unit_price) == "0.1"  # type: ignore[union-attr]


def test_load_terms_raises_with_the_full_list() -> None:
    with pytest.raises(billing.InvalidTerms) as exc:
        billing.load_terms(GOOD.replace("USD", "usd").replace("America/Chicago", "Chicago").encode())
    assert [p.path for p in exc.value.problems] == ["/currency", "/timezone"]


def test_terms_in_force_from_contract_start_are_required() -> None:
    got = problems(GOOD.replace("start_date: 2025-01-01", "start_date: 2024-11-20"))
    assert "no terms are in force for 2024-11..2024-12" in got["/versions/0/effective_from"]
