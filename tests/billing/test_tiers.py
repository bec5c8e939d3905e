"""Tier boundaries with fractional quantities, volume vs graduated, packages, included units, tier basis."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import billing
from billing.charge_models import GraduatedModel, PackageModel, VolumeModel
from billing.terms import Graduated, Package, Tier, Volume

from .conftest import amounts, terms_from, usage

TIERS = [
    Tier(from_=Decimal(0), up_to=Decimal(1000), unit_price=Decimal("0.10")),
    Tier(from_=Decimal(1000), up_to=Decimal(5000), unit_price=Decimal("0.08")),
    Tier(from_=Decimal(5000), up_to=None, unit_price=Decimal("0.05")),
]


@pytest.mark.parametrize(
    ("quantity", "expected"),
    [
        ("0", "0"),
        ("999.9999", "99.99999"),
        ("1000", "100.00"),  # exactly on the boundary: all in the lower tier
        ("1000.0001", "100.000008"),  # 0.0001 in tier 2 at 0.08
        ("1000.5", "100.04"),
        ("5000", "420.00"),
        ("5000.25", "420.0125"),
    ],
)
def test_graduated_boundary_belongs_to_the_lower_tier(quantity: str, expected: str) -> None:
    amount, steps, unit_price = GraduatedModel(Graduated(tiers=TIERS), "/p").price(Decimal(quantity), None)
    assert amount == Decimal(expected)
    assert unit_price is None
    assert sum((s.quantity or Decimal(0)) for s in steps) == Decimal(quantity)


@pytest.mark.parametrize(
    ("quantity", "expected", "price"),
    [
        ("1000", "100.00", "0.10"),
        ("1000.0001", "80.000008", "0.08"),
        ("4999.99", "399.9992", "0.08"),
        ("5000", "400.00", "0.08"),
        ("5000.0001", "250.000005", "0.05"),
    ],
)
def test_volume_tier_of_the_whole_quantity_prices_every_unit(quantity: str, expected: str, price: str) -> None:
    amount, _steps, unit_price = VolumeModel(Volume(tiers=TIERS), "/p").price(Decimal(quantity), None)
    assert amount == Decimal(expected)
    assert unit_price == Decimal(price)


def test_volume_zero_quantity_costs_nothing_even_with_a_flat_fee() -> None:
    tiers = [Tier(from_=Decimal(0), up_to=None, unit_price=Decimal(1), flat_fee=Decimal(50))]
    assert VolumeModel(Volume(tiers=tiers), "/p").price(Decimal(0), None)[0] == 0
    assert VolumeModel(Volume(tiers=tiers), "/p").price(Decimal("0.5"), None)[0] == Decimal("50.5")


def test_graduated_flat_fee_applies_once_when_a_tier_is_entered() -> None:
    tiers = [
        Tier(from_=Decimal(0), up_to=Decimal(10), unit_price=Decimal(0), flat_fee=Decimal(100)),
        Tier(from_=Decimal(10), up_to=None, unit_price=Decimal(2), flat_fee=Decimal(5)),
    ]
    m = GraduatedModel(Graduated(tiers=tiers), "/p")
    assert m.price(Decimal(0), None)[0] == 0
    assert m.price(Decimal(10), None)[0] == 100
    assert m.price(Decimal("10.5"), None)[0] == Decimal(106)  # 100 + 5 + 0.5 x 2


@pytest.mark.parametrize(("quantity", "packages"), [("0", 0), ("0.1", 1), ("500", 1), ("500.0001", 2), ("1000", 2)])
def test_package_counts_started_packages(quantity: str, packages: int) -> None:
    amount, _, _ = PackageModel(Package(package_size=Decimal(500), package_price=Decimal(12)), "/p").price(
        Decimal(quantity), None
    )
    assert amount == 12 * packages


@settings(max_examples=200, deadline=None)
@given(q=st.decimals(min_value=0, max_value=20000, places=4), d=st.decimals(min_value=0, max_value=100, places=4))
def test_graduated_amount_is_continuous_and_monotonic(q: Decimal, d: Decimal) -> None:
    m = GraduatedModel(Graduated(tiers=TIERS), "/p")
    a, b = m.price(q, None)[0], m.price(q + d, None)[0]
    assert Decimal("0.05") * d <= b - a <= Decimal("0.10") * d


TIER_BASIS = """
contract_id: tb
currency: USD
timezone: UTC
start_date: 2025-01-01
versions:
  - effective_from: 2025-01
    usage_charges:
      - id: c
        meter: m
        tier_basis: {basis}
        included_units: {included}
        pricing:
          model: graduated
          tiers:
            - {{from: 0, up_to: 100, unit_price: "1.00"}}
            - {{from: 100, unit_price: "0.50"}}
"""


def test_included_units_come_off_before_the_tier_walk() -> None:
    t = terms_from(TIER_BASIS.format(basis="line", included=50))
    d, _ = billing.rate(t, billing.RatingInputs(usage=[usage("m", 180)]), None, "2025-01")
    # 180 - 50 included = 130 billable: 100 x 1.00 + 30 x 0.50 = 115.00
    assert amounts(d) == {"usage|c|main|": "115.00"}


def test_client_tier_basis_walks_the_combined_quantity_and_splits_it_exactly_by_quantity() -> None:
    t = terms_from(TIER_BASIS.format(basis="client", included=0))
    aggs = [usage("m", 60, site="a"), usage("m", 60, site="b"), usage("m", 30, site="c")]
    d, _ = billing.rate(t, billing.RatingInputs(usage=aggs), None, "2025-01")
    # combined 150: 100 x 1.00 + 50 x 0.50 = 125.00, split 60:60:30 -> 50.00, 50.00, 25.00
    assert amounts(d) == {"usage|c|a|": "50.00", "usage|c|b|": "50.00", "usage|c|c|": "25.00"}
    # per line each site would have paid 60 + 60 + 30 = 150.00 instead
    t2 = terms_from(TIER_BASIS.format(basis="line", included=0))
    d2, _ = billing.rate(t2, billing.RatingInputs(usage=aggs), None, "2025-01")
    assert str(d2.subtotal) == "150.00"


def test_client_tier_basis_split_with_remainder_still_adds_up() -> None:
    t = terms_from(TIER_BASIS.format(basis="client", included=0))
    aggs = [usage("m", 1, site="a"), usage("m", 1, site="b"), usage("m", 1, site="c")]
    d, _ = billing.rate(t, billing.RatingInputs(usage=aggs), None, "2025-01")
    # 3.00 split in three equal shares: exactly 1.00 each
    assert sorted(amounts(d).values()) == ["1.00", "1.00", "1.00"]
    aggs = [
        usage("m", "0.5", site="a"),
        usage("m", "0.5", site="b"),
        usage("m", "0.5", site="c"),
        usage("m", "0.01", site="d"),
    ]
    d, _ = billing.rate(t, billing.RatingInputs(usage=aggs), None, "2025-01")
    # combined 1.51 -> 1.51; shares 0.50:0.50:0.50:0.01 -> 0.5 each of 1.51 x 50/151, remainders exact
    assert str(d.subtotal) == "1.51"
    assert sum(ln.amount for ln in d.lines) == Decimal("1.51")


def test_prices_per_dimension_most_specific_charge_wins() -> None:
    t = terms_from("""
contract_id: dims
currency: USD
timezone: UTC
start_date: 2025-01-01
versions:
  - effective_from: 2025-01
    usage_charges:
      - {id: any-model, meter: tok, group_by: [model], pricing: {model: per_unit, unit_price: "0.001"}}
      - {id: gpt, meter: tok, filter: {model: gpt-4o}, pricing: {model: per_unit, unit_price: "0.003"}}
      - {id: gpt-boston, meter: tok, filter: {model: gpt-4o, site: boston},
         pricing: {model: per_unit, unit_price: "0.0025"}}
""")
    aggs = [
        usage("tok", "1000", model="gpt-4o", site="boston"),
        usage("tok", "1000", model="gpt-4o", site="nyc"),
        usage("tok", "1000", model="mini", site="nyc"),
    ]
    d, _ = billing.rate(t, billing.RatingInputs(usage=aggs), None, "2025-01")
    assert amounts(d) == {
        "usage|gpt-boston|boston|": "2.50",
        "usage|gpt|nyc|": "3.00",
        "usage|any-model|nyc||mini": "1.00",
    }
