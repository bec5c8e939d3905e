"""Properties over random usage: the invoice adds up, caps hold over the year, minimums are met,
late usage splits exactly, and rating is deterministic and independent of input order."""

from __future__ import annotations

import random
from decimal import Decimal

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import billing

from .conftest import amounts, terms_from

SITES = ["a", "b", "c"]
CATS = ["std", "pro"]
CAP = Decimal("2000.00")
MINIMUM = Decimal("100.00")

TERMS = terms_from("""
contract_id: prop
currency: USD
timezone: Europe/Berlin
start_date: 2025-01-01
default_site: a
versions:
  - effective_from: 2025-01
    sites: [{id: a}, {id: b}, {id: c}]
    usage_charges:
      - id: std
        meter: m
        filter: {category: std}
        pricing:
          model: graduated
          tiers: [{from: 0, up_to: 100, unit_price: "1.15"}, {from: 100, up_to: 1000.5, unit_price: "0.8333"},
                  {from: 1000.5, unit_price: "0.41"}]
      - id: pro
        meter: m
        filter: {category: pro}
        pricing:
          model: volume
          tiers: [{from: 0, up_to: 250, unit_price: "2.335"}, {from: 250, unit_price: "1.995"}]
    minimums: [{id: mn, amount: "100.00", per_site: true}]
    annual_caps: [{id: cap, amount: "2000.00", per_site: true}]
    discounts: [{id: d, percent: "7.5", scope: {sites: [b]}}]
    tax:
      rates: [{id: vat, percent: "19"}]
      default: vat
""")

quantity = st.decimals(min_value=0, max_value=1500, places=3, allow_nan=False, allow_infinity=False)
aggregate = st.builds(
    lambda site, cat, q: billing.UsageAggregate(meter="m", dimensions={"site": site, "category": cat}, quantity=q),
    st.sampled_from(SITES),
    st.sampled_from(CATS),
    quantity,
)
month_usage = st.lists(aggregate, max_size=8)
FAST = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def site_totals(d: billing.InvoiceDraft) -> dict[str, Decimal]:
    return {s.site: s.amount for s in d.site_subtotals}


@FAST
@given(month_usage)
def test_lines_equal_site_subtotals_equal_the_total(aggs: list[billing.UsageAggregate]) -> None:
    d, _ = billing.rate(TERMS, billing.RatingInputs(usage=aggs), None, "2025-01")
    assert d.verification.balanced
    assert sum((ln.amount for ln in d.lines), Decimal(0)) == d.subtotal
    for s in d.site_subtotals:
        assert sum((ln.amount for ln in d.lines if ln.site == s.site), Decimal(0)) == s.amount
    assert d.subtotal + sum((t.amount for t in d.tax), Decimal(0)) == d.total
    assert all(ln.amount == ln.amount.quantize(Decimal("0.01")) for ln in d.lines)
    assert billing.verify(d) == []


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(month_usage, min_size=12, max_size=12))
def test_a_cap_is_never_exceeded_and_a_minimum_always_met_within_it(months: list[list[billing.UsageAggregate]]) -> None:
    state = None
    billed = dict.fromkeys(SITES, Decimal(0))
    for i, aggs in enumerate(months):
        d, state = billing.rate(TERMS, billing.RatingInputs(usage=aggs), state, f"2025-{i + 1:02d}")
        totals = site_totals(d)
        for site in SITES:
            amount = totals.get(site, Decimal(0))
            room = CAP - billed[site]
            # the minimum is met unless the cap leaves less room than the minimum
            assert amount >= min(MINIMUM, room)
            billed[site] += amount
            assert billed[site] <= CAP
    for acct in state.caps:
        assert acct.billed == billed[acct.instance]
        assert acct.billed == min(CAP, acct.uncapped)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(month_usage, st.data())
def test_rating_all_usage_equals_rating_part_plus_the_late_delta(
    aggs: list[billing.UsageAggregate], data: st.DataObject
) -> None:
    part, late = [], []
    for a in aggs:
        share = data.draw(st.decimals(min_value=0, max_value=1, places=2))
        first = (a.quantity * share).quantize(Decimal("0.001"))
        part.append(billing.UsageAggregate(meter=a.meter, dimensions=a.dimensions, quantity=first))
        late.append(billing.UsageAggregate(meter=a.meter, dimensions=a.dimensions, quantity=a.quantity - first))
    full, _ = billing.rate(TERMS, billing.RatingInputs(usage=aggs), None, "2025-01")
    billed, s1 = billing.rate(TERMS, billing.RatingInputs(usage=part), None, "2025-01")
    nxt, _ = billing.rate(
        TERMS, billing.RatingInputs(late_usage=[billing.LateUsage(period="2025-01", usage=late)]), s1, "2025-02"
    )
    deltas = {ln.key.removeprefix("late|2025-01|"): ln.amount for ln in nxt.lines if ln.delta_for == "2025-01"}
    f, b = amounts(full), amounts(billed)
    for key in set(f) | set(b) | set(deltas):
        assert Decimal(b.get(key, "0")) + deltas.get(key, Decimal(0)) == Decimal(f.get(key, "0")), key
    assert billed.subtotal + sum(deltas.values(), Decimal(0)) == full.subtotal


@FAST
@given(month_usage, st.randoms(use_true_random=False))
def test_rating_is_deterministic_and_independent_of_input_order(
    aggs: list[billing.UsageAggregate], rnd: random.Random
) -> None:
    d1, s1 = billing.rate(TERMS, billing.RatingInputs(usage=aggs), None, "2025-01")
    d2, s2 = billing.rate(TERMS, billing.RatingInputs(usage=list(aggs)), None, "2025-01")
    shuffled = list(aggs)
    rnd.shuffle(shuffled)
    d3, s3 = billing.rate(TERMS, billing.RatingInputs(usage=shuffled), None, "2025-01")
    assert billing.encode(d1) == billing.encode(d2) == billing.encode(d3)
    assert billing.encode(s1) == billing.encode(s2) == billing.encode(s3)


FEE_TERMS = """
contract_id: fee
currency: {currency}
timezone: {tz}
start_date: {start}
versions:
  - effective_from: 2024-01
    retainers: [{{id: r, amount: "{fee}", billing: arrears}}]
"""


@settings(max_examples=80, deadline=None)
@given(
    fee=st.integers(0, 10**8),
    month=st.integers(1, 12),
    year=st.integers(2024, 2026),
    tz=st.sampled_from(["UTC", "America/New_York", "Australia/Lord_Howe", "Asia/Kathmandu"]),
    currency=st.sampled_from(["USD", "JPY", "KWD"]),
)
def test_proration_over_a_whole_month_equals_the_full_fee(
    fee: int, month: int, year: int, tz: str, currency: str
) -> None:
    minor = billing.minor_units(currency)
    amount = Decimal(fee).scaleb(-minor)
    period = f"{year}-{month:02d}"
    # a contract that starts mid-month in one cycle and ends mid-month in the next cycle: the parts of a
    # month billed to a client who starts on day k and a client who ended on day k-1 add up to the fee
    t_full = terms_from(FEE_TERMS.format(currency=currency, tz=tz, start=f"{period}-01", fee=amount))
    d, _ = billing.rate(t_full, billing.RatingInputs(), None, period)
    assert d.subtotal == amount
    k = 1 + fee % 28
    if k > 1:
        t_start = terms_from(FEE_TERMS.format(currency=currency, tz=tz, start=f"{period}-{k:02d}", fee=amount))
        late_start, _ = billing.rate(t_start, billing.RatingInputs(), None, period)
        early_end, _ = billing.rate(
            t_full, billing.RatingInputs(terminated_on=__import__("datetime").date(year, month, k - 1)), None, period
        )
        assert late_start.subtotal + early_end.subtotal == amount
