"""Time & materials (increments, date-effective rate cards, NTE across periods) and retainer allowances."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest

import billing

from .conftest import amounts, terms_from

TM = """
contract_id: tm
currency: USD
timezone: UTC
start_date: 2025-01-01
versions:
  - effective_from: 2025-01
    time_and_materials:
      increment_minutes: {inc}
      increment_rounding: {mode}
      rate_cards:
        - effective_from: 2025-01-01
          roles: {{engineer: "100.00"}}
          people: {{p-star: "200.00"}}
        - effective_from: 2025-01-16
          roles: {{engineer: "120.00"}}
      projects:
        - {{code: P, not_to_exceed: "1000.00", phases: [{{code: x, not_to_exceed: "300.00"}}]}}
"""


def entry(
    id: str,
    minutes: str,
    day: date,
    person: str = "p-1",
    project: str = "Q",
    phase: str | None = None,
    billable: bool = True,
) -> billing.TimeEntry:
    return billing.TimeEntry(
        id=id,
        person=person,
        role="engineer",
        project=project,
        phase=phase,
        work_date=day,
        minutes=Decimal(minutes),
        billable=billable,
    )


def rate_time(entries: list[billing.TimeEntry], inc: int = 15, mode: str = "up", state=None, period="2025-01"):
    t = terms_from(TM.format(inc=inc, mode=mode))
    return billing.rate(t, billing.RatingInputs(time_entries=entries), state, period)


def test_each_entry_is_rounded_up_to_the_increment_before_summing() -> None:
    # 7 + 7 minutes: per entry 15 + 15 = 30 min = 0.5 h x 100.00 = 50.00 (summing first would bill 15 min)
    d, _ = rate_time([entry("a", "7", date(2025, 1, 2)), entry("b", "7", date(2025, 1, 3))])
    assert amounts(d) == {"services|Q||p-1|2025-01-01|100.00": "50.00"}
    assert d.lines[0].quantity == Decimal("0.5")


def test_nearest_increment_rounds_half_up_on_minutes() -> None:
    d, _ = rate_time([entry("a", "7", date(2025, 1, 2)), entry("b", "8", date(2025, 1, 3))], mode="nearest")
    # 7 -> 0, 8 -> 15: 15 min = 25.00
    assert amounts(d) == {"services|Q||p-1|2025-01-01|100.00": "25.00"}


def test_without_increments_minutes_are_billed_exactly_and_rounded_once() -> None:
    # 20 min at 100.00/h = 33.333... -> 33.33
    d, _ = rate_time([entry("a", "20", date(2025, 1, 2))], inc=0)
    assert amounts(d) == {"services|Q||p-1|2025-01-01|100.00": "33.33"}
    assert d.lines[0].quantity == Decimal("0.3333")


def test_rate_card_is_chosen_by_work_date_and_person_rates_win() -> None:
    d, _ = rate_time(
        [
            entry("a", "60", date(2025, 1, 15)),
            entry("b", "60", date(2025, 1, 16)),
            entry("c", "60", date(2025, 1, 10), person="p-star"),
        ]
    )
    assert amounts(d) == {
        "services|Q||p-1|2025-01-01|100.00": "100.00",
        "services|Q||p-1|2025-01-16|120.00": "120.00",
        "services|Q||p-star|2025-01-01|200.00": "200.00",
    }


def test_unrated_and_non_billable_time_is_reported_not_billed() -> None:
    t = terms_from(TM.format(inc=15, mode="up"))
    e = billing.TimeEntry(
        id="z", person="p-9", role="astronaut", project="Q", work_date=date(2025, 1, 5), minutes=Decimal(60)
    )
    d, _ = billing.rate(
        t, billing.RatingInputs(time_entries=[e, entry("n", "60", date(2025, 1, 5), billable=False)]), None, "2025-01"
    )
    assert d.lines == []
    assert {n.code for n in d.notes} == {"time_unrated", "time_nonbillable"}


def test_duplicate_time_entry_ids_are_rejected() -> None:
    with pytest.raises(billing.RatingError) as exc:
        rate_time([entry("a", "60", date(2025, 1, 2)), entry("a", "30", date(2025, 1, 3))])
    assert exc.value.problems[0].path == "/time_entries/1/id"


def test_not_to_exceed_is_a_lifetime_cap_carried_across_periods() -> None:
    # phase x NTE 300.00: January bills 2 h = 200.00, February 2 h more = 240.00 -> only 100.00 left
    d1, s1 = rate_time([entry("a", "120", date(2025, 1, 20), project="P", phase="x")])
    assert amounts(d1) == {"services|P|x|p-1|2025-01-16|120.00": "240.00"}
    d2, s2 = rate_time([entry("b", "120", date(2025, 2, 3), project="P", phase="x")], state=s1, period="2025-02")
    assert amounts(d2) == {"services|P|x|p-1|2025-01-16|120.00": "240.00", "nte|P|x|main|": "-180.00"}
    assert {(n.project, n.phase): str(n.billed) for n in s2.ntes} == {("P", "x"): "300.00", ("P", None): "300.00"}


def test_time_approved_late_for_an_earlier_period_is_billed_with_a_note() -> None:
    d, _ = rate_time([entry("old", "60", date(2024, 12, 31))], period="2025-01")
    assert amounts(d) == {}  # before the contract started: not billed
    _, s1 = rate_time([])
    d2, _ = rate_time([entry("late", "60", date(2025, 1, 30))], state=s1, period="2025-02")
    assert amounts(d2) == {"late|2025-01|services|Q||p-1|2025-01-16|120.00": "120.00"}
    assert "time_from_earlier_period" in {n.code for n in d2.notes}


RETAINER = """
contract_id: rt
currency: USD
timezone: UTC
start_date: {start}
versions:
  - effective_from: 2025-01
    retainers:
      - id: r
        amount: "1000.00"
        billing: arrears
        included_hours: 10
        covers_projects: [S]
        overage_rate: "100.00"
        rollover: {{max_hours: {cap}, expires_after_periods: {expiry}, consume: {consume}}}
"""


def hours(h: str, day: date, id: str) -> billing.TimeEntry:
    return entry(id, str(Decimal(h) * 60), day, project="S")


def run_retainer(
    months: list[list[billing.TimeEntry]],
    consume: str = "oldest_first",
    cap: int = 100,
    expiry: int = 2,
    start: str = "2025-01-01",
) -> list[tuple[billing.InvoiceDraft, billing.CarriedState]]:
    t = terms_from(RETAINER.format(consume=consume, cap=cap, expiry=expiry, start=start))
    state = None
    out = []
    for i, es in enumerate(months):
        d, state = billing.rate(t, billing.RatingInputs(time_entries=es), state, f"2025-{i + 1:02d}")
        out.append((d, state))
    return out


def test_rollover_expires_after_the_configured_number_of_periods() -> None:
    runs = run_retainer([[hours("4", date(2025, 1, 3), "a")], [], [], [hours("25", date(2025, 4, 3), "b")]])
    # Jan: 6 h unused -> bucket usable through March. Feb: 10 h unused -> bucket through April.
    # Mar: 10 h unused -> through May; the January bucket expires (forfeited).
    # Apr: 25 h used: oldest first Feb 10 h, Mar 10 h, then 5 h of April's 10 -> no overage.
    assert {b.earned: b.minutes / 60 for b in runs[2][1].rollover} == {"2025-02": 10, "2025-03": 10}
    assert "allowance_forfeited" in {n.code for n in runs[2][0].notes}
    assert amounts(runs[3][0]) == {"retainer|r|fee|2025-04": "1000.00"}
    assert {b.earned: b.minutes / 60 for b in runs[3][1].rollover} == {"2025-04": 5}


def test_current_first_consumption_uses_this_months_hours_before_rolled_over_ones() -> None:
    months = [[hours("4", date(2025, 1, 3), "a")], [hours("12", date(2025, 2, 3), "b")]]
    oldest = run_retainer(months, consume="oldest_first")[1]
    current = run_retainer(months, consume="current_first")[1]
    # Feb, 12 h: oldest first = 6 rolled + 6 current, 4 current unused carried; current first = 10 current +
    # 2 rolled, 4 rolled left (still usable through March). No overage either way.
    assert {b.earned: b.minutes / 60 for b in oldest[1].rollover} == {"2025-02": 4}
    assert {b.earned: b.minutes / 60 for b in current[1].rollover} == {"2025-01": 4}
    assert amounts(oldest[0]) == amounts(current[0]) == {"retainer|r|fee|2025-02": "1000.00"}


def test_overage_beyond_allowance_and_rollover_is_billed_at_the_overage_rate() -> None:
    runs = run_retainer([[hours("8", date(2025, 1, 3), "a")], [hours("13.25", date(2025, 2, 3), "b")]])
    # Feb: 2 rolled + 10 current = 12 h available; 1.25 h overage x 100.00 = 125.00
    assert amounts(runs[1][0]) == {"retainer|r|fee|2025-02": "1000.00", "retainer|r|overage": "125.00"}


def test_carried_hours_are_capped() -> None:
    runs = run_retainer([[], []], cap=15)
    # Jan: 10 unused carried; Feb: 10 unused but only 5 fit under the 15 h cap
    assert {b.earned: b.minutes / 60 for b in runs[1][1].rollover} == {"2025-01": 10, "2025-02": 5}


def test_a_partial_first_month_prorates_fee_and_allowance() -> None:
    runs = run_retainer([[hours("5", date(2025, 1, 20), "a")]], start="2025-01-17")
    # 15 of 31 days: fee 1,000.00 x 15/31 = 483.87; allowance 10 x 15/31 = 4.84 h; overage 0.16 h = 16.00
    assert amounts(runs[0][0]) == {"retainer|r|fee|2025-01": "483.87", "retainer|r|overage": "16.00"}
