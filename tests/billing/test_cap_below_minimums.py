"""A yearly ceiling negotiated below twelve monthly floors is a valid contract (issue 14, item 4).

``options.minimum_vs_cap: cap_prevails`` (the default) already says what happens: minimums run first and
their true-ups count toward the cap, so once the scope has billed the cap in a contract year no further
true-up is billed that year. Validation used to refuse the shape outright ("12 x 1000.00 = 12000.00"),
even for a contract ending after six months; it is now a warning that says this, computed over the months
the contract actually spans.
"""

from __future__ import annotations

from decimal import Decimal

import billing
from billing.inputs import RatingInputs, UsageAggregate

FLOOR_AND_CEILING = """
contract_id: floor-ceiling
client: Enterprise with a monthly floor
currency: USD
timezone: UTC
start_date: 2025-01-01
end_date: {end}
versions:
  - effective_from: 2025-01
    usage_charges:
      - {{id: calls, meter: calls, pricing: {{model: per_unit, unit_price: "1.00"}}}}
    minimums:
      - {{id: floor, amount: "1000.00"}}
    annual_caps:
      - {{id: ceiling, amount: "{cap}"}}
"""


def _terms(end: str, cap: str) -> bytes:
    return FLOOR_AND_CEILING.format(end=end, cap=cap).encode()


def test_cap_below_twelve_minimums_validates_with_a_warning_saying_the_cap_prevails() -> None:
    source = _terms("2025-12-31", "10500.00")
    assert billing.validate_terms(source) == []
    warnings = billing.contract_warnings(billing.load_terms(source))
    assert [w.path for w in warnings] == ["/versions/0/annual_caps/0/amount"]
    msg = warnings[0].message
    assert "12 x 1000.00 = 12000.00" in msg
    assert "cap_prevails" in msg
    assert "no further true-ups are billed" in msg


def test_the_warning_counts_only_the_months_the_contract_spans() -> None:
    # Six months of 1,000.00 floors (6,000.00) under a 4,500.00 cap: warned over 6 months, not 12.
    six = billing.contract_warnings(billing.load_terms(_terms("2025-06-30", "4500.00")))
    assert len(six) == 1
    assert "6 month(s)" in six[0].message
    assert "6 x 1000.00 = 6000.00" in six[0].message
    # A 7,000.00 cap is above six months of floors: nothing to warn about (12 x 1,000 would have been).
    assert billing.contract_warnings(billing.load_terms(_terms("2025-06-30", "7000.00"))) == []
    assert billing.validate_terms(_terms("2025-06-30", "7000.00")) == []


# Usage per month (1.00 per call), the floor's true-up and what the scope bills, worked out by hand:
#
#  month  usage   true-up  in scope  billed this year before  cap adjustment  billed
#  Jan      200      800     1000        0                         0          1000.00
#  Feb     1800        0     1800     1000                         0          1800.00
#  Mar      950       50     1000     2800                         0          1000.00
#  Apr        0     1000     1000     3800                         0          1000.00
#  May     1000        0     1000     4800                         0          1000.00
#  Jun      400      600     1000     5800                         0          1000.00
#  Jul     2500        0     2500     6800                         0          2500.00
#  Aug      100      900     1000     9300                         0          1000.00
#  Sep        0     1000     1000    10300       -800 (only 200 left of 10500) 200.00
#  Oct      700      300     1000    10500     -1000                            0.00
#  Nov      300      700     1000    10500     -1000                            0.00
#  Dec        0     1000     1000    10500     -1000                            0.00
#                                                                   year:   10500.00 = the cap
USAGE = [200, 1800, 950, 0, 1000, 400, 2500, 100, 0, 700, 300, 0]
BILLED = ["1000.00", "1800.00", "1000.00", "1000.00", "1000.00", "1000.00", "2500.00", "1000.00", "200.00"]
BILLED += ["0.00", "0.00", "0.00"]
TRUE_UP = ["800.00", None, "50.00", "1000.00", None, "600.00", None, "900.00", "1000.00", "300.00", "700.00"]
TRUE_UP += ["1000.00"]
CAP_ADJ = [None] * 8 + ["-800.00", "-1000.00", "-1000.00", "-1000.00"]


def test_a_year_of_invoices_bills_the_floor_until_the_ceiling_then_stops() -> None:
    terms = billing.load_terms(_terms("2025-12-31", "10500.00"))
    state = None
    totals = []
    for month, calls in enumerate(USAGE, start=1):
        period = f"2025-{month:02d}"
        usage = [UsageAggregate(meter="calls", quantity=Decimal(calls))] if calls else []
        draft, state = billing.rate(terms, RatingInputs(usage=usage), state, period)
        assert draft.verification.balanced
        by_kind: dict[str, str] = {}
        for ln in draft.lines:
            by_kind[ln.kind] = str(sum((x.amount for x in draft.lines if x.kind == ln.kind), Decimal(0)))
        i = month - 1
        assert by_kind.get("minimum_true_up") == TRUE_UP[i], period
        assert by_kind.get("cap_adjustment") == CAP_ADJ[i], period
        assert str(draft.total) == BILLED[i], period
        totals.append(draft.total)
    assert sum(totals, Decimal(0)) == Decimal("10500.00")
