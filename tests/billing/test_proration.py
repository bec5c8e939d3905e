"""Proration denominators: calendar days of the client's month, and telescoping so parts add up exactly."""

from __future__ import annotations

from datetime import date
from itertools import pairwise

from hypothesis import given, settings
from hypothesis import strategies as st

import billing
from billing.money import ROUNDING_MODES
from billing.periods import Period
from billing.proration import active_days, prorate

from .conftest import amounts, terms_from

HALF_UP = ROUNDING_MODES["half_up"]


def retainer_terms(start: str, amount: str, billing_mode: str = "arrears", tz: str = "UTC") -> billing.ContractTerms:
    return terms_from(f"""
contract_id: p
currency: USD
timezone: {tz}
start_date: {start}
versions:
  - effective_from: {start[:7]}
    retainers:
      - {{id: r, amount: "{amount}", billing: {billing_mode}}}
""")


def test_denominator_is_the_days_of_that_month_not_thirty() -> None:
    # Feb 2025 has 28 days: starting on the 15th bills 14/28 of 2,800.00 = 1,400.00
    d, _ = billing.rate(retainer_terms("2025-02-15", "2800.00"), billing.RatingInputs(), None, "2025-02")
    assert amounts(d) == {"retainer|r|fee|2025-02": "1400.00"}
    # Feb 2024 has 29: starting on the 15th bills 15/29 of 2,900.00 = 1,500.00
    d, _ = billing.rate(retainer_terms("2024-02-15", "2900.00"), billing.RatingInputs(), None, "2024-02")
    assert amounts(d) == {"retainer|r|fee|2024-02": "1500.00"}
    # a 31-day month: starting on the 15th bills 17/31 of 3,100.00 = 1,700.00
    d, _ = billing.rate(retainer_terms("2025-01-15", "3100.00"), billing.RatingInputs(), None, "2025-01")
    assert amounts(d) == {"retainer|r|fee|2025-01": "1700.00"}


def test_dst_month_is_still_counted_in_days() -> None:
    # New York's March 2025 is 743 hours long; proration still counts 31 local days
    d, _ = billing.rate(
        retainer_terms("2025-03-17", "3100.00", tz="America/New_York"), billing.RatingInputs(), None, "2025-03"
    )
    assert amounts(d) == {"retainer|r|fee|2025-03": "1500.00"}  # 15/31 x 3,100.00


def test_split_month_adds_up_to_the_fee_where_naive_rounding_would_not() -> None:
    # 1,234.55 over a 30-day month, days 1-15 and 16-30: naive rounding gives 617.28 + 617.28 = 1,234.56
    first = prorate(123455, 1, 15, 30, HALF_UP)
    second = prorate(123455, 16, 30, 30, HALF_UP)
    assert (first, second) == (61728, 61727)
    assert first + second == 123455


def test_termination_mid_month_credits_the_unused_days_of_an_advance_fee() -> None:
    t = retainer_terms("2025-01-01", "3100.00", billing_mode="advance")
    d1, s1 = billing.rate(t, billing.RatingInputs(), None, "2025-01")
    # first invoice: January (no earlier invoice) and February in advance, each a full monthly fee
    assert amounts(d1) == {"retainer|r|fee|2025-01": "3100.00", "retainer|r|fee|2025-02": "3100.00"}
    d2, s2 = billing.rate(t, billing.RatingInputs(), s1, "2025-02")
    assert amounts(d2) == {"retainer|r|fee|2025-03": "3100.00"}
    # terminated on 10 March (last day of service): 10/31 of 3,100.00 = 1,000.00 was due, 3,100.00 billed
    d3, s3 = billing.rate(t, billing.RatingInputs(terminated_on=date(2025, 3, 10)), s2, "2025-03")
    assert amounts(d3) == {"retainer|r|adjust|2025-03": "-2100.00"}
    assert s3.advance_billed == []


def test_active_days_respect_start_and_inclusive_end() -> None:
    p = Period(2025, 4)
    assert active_days(p, date(2025, 1, 1), None) == (1, 30)
    assert active_days(p, date(2025, 4, 10), date(2025, 4, 20)) == (10, 20)
    assert active_days(p, date(2025, 5, 1), None) is None
    assert active_days(p, date(2025, 1, 1), date(2025, 3, 31)) is None


@settings(max_examples=300, deadline=None)
@given(fee=st.integers(0, 10**9), days=st.sampled_from([28, 29, 30, 31]), data=st.data())
def test_proration_over_a_month_equals_the_full_fee_for_any_split(fee: int, days: int, data: st.DataObject) -> None:
    assert prorate(fee, 1, days, days, HALF_UP) == fee
    cuts = sorted(data.draw(st.sets(st.integers(2, days), max_size=6)))
    bounds = [1, *cuts, days + 1]
    parts = [prorate(fee, a, b - 1, days, HALF_UP) for a, b in pairwise(bounds)]
    assert sum(parts) == fee
    assert all(p >= 0 for p in parts)
