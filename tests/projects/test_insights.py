"""The pure calculations, each checked against numbers worked out by hand in the comments."""

from __future__ import annotations

import uuid
from datetime import date
from decimal import Decimal as D

from insights.burn import DayBurn, threshold_alerts
from insights.calendar import week_start, working_days
from insights.expenses import billable_amount
from insights.forecast import ForecastInput, WeekPlan, forecast
from insights.health import HealthInput, OpenMilestone, assess
from insights.profitability import ProjectFigures, client_rows, project_rows
from insights.rates import Rate, resolve_rate
from insights.timeimport import parse
from insights.utilization import PersonTime, per_person, per_team


def days(*items: tuple[str, str, str]) -> list[DayBurn]:
    return [DayBurn(date.fromisoformat(d), D(h), D(m)) for d, h, m in items]


def test_without_an_end_date_only_allocations_are_projected() -> None:
    # as of Fri 2026-03-06: the current week has no working day left, so its 10 h remainder is dropped;
    # next week's 20 h (2000) is projected; no run-rate extrapolation beyond it.
    result = forecast(
        ForecastInput(
            as_of=date(2026, 3, 6),
            daily_actuals=days(("2026-02-23", "30", "3000"), ("2026-03-02", "10", "1000")),
            allocations=[WeekPlan(date(2026, 3, 2), D(10), D(1000)), WeekPlan(date(2026, 3, 9), D(20), D(2000))],
            budget_hours=D(55),
            budget_amount=D(5500),
        )
    )
    assert (result.eac_hours, result.eac_amount) == (D(60), D(6000))
    assert (result.allocated_hours, result.run_rate_hours) == (D(20), D(0))
    assert result.horizon == date(2026, 3, 15)
    # 40 h actual; +4 h a day from Mon 03-09: 44, 48, 52, 56 on Thu 03-12
    assert result.hours_exhausted_on == date(2026, 3, 12)
    assert result.amount_exhausted_on == date(2026, 3, 12)
    # run rate over the 4 weeks before 03-02: 30 h in the week of 02-23 -> 7.5 h/week
    assert result.run_rate.weekly_hours == D("7.5")
    assert "no end date" in result.notes[0]


def test_a_budget_already_used_up_reports_the_day_it_ran_out() -> None:
    result = forecast(
        ForecastInput(
            as_of=date(2026, 3, 20),
            daily_actuals=days(("2026-03-02", "6", "600"), ("2026-03-03", "6", "600"), ("2026-03-10", "1", "100")),
            allocations=[],
            end_date=date(2026, 3, 1),
            budget_hours=D(10),
        )
    )
    assert result.hours_exhausted_on == date(2026, 3, 3)
    assert result.eac_hours == D(13) and result.vac_hours == D(-3)
    assert result.amount_exhausted_on is None  # no money budget


def test_a_budget_that_lasts_to_the_end_has_no_exhaustion_date() -> None:
    result = forecast(
        ForecastInput(
            as_of=date(2026, 3, 4),
            daily_actuals=days(("2026-02-10", "20", "2000")),
            allocations=[],
            end_date=date(2026, 3, 13),
            budget_hours=D(100),
        )
    )
    # run rate 20 h / 4 weeks = 5 h/week = 1 h a working day; Thu 03-05 .. Fri 03-13 = 7 working days
    assert result.run_rate_hours == D(7) and result.eac_hours == D(27)
    assert result.hours_exhausted_on is None


def test_health_reasons() -> None:
    base = {
        "as_of": date(2026, 5, 1),
        "project_status": "active",
        "currency": "EUR",
        "actual_amount": D(0),
        "eac_amount": D(0),
        "budget_amount": None,
    }
    calm = assess(HealthInput(end_date=None, budget_hours=D(100), actual_hours=D(10), eac_hours=D(90), **base))
    assert (calm.status, calm.reasons) == ("on_track", [])
    late = assess(
        HealthInput(
            end_date=date(2026, 4, 20),
            budget_hours=D(100),
            actual_hours=D(95),
            eac_hours=D(95),
            open_milestones=[OpenMilestone("M9", "Launch", date(2026, 4, 10))],
            **base,
        )
    )
    assert late.status == "off_track"
    assert [(r.code, r.severity) for r in late.reasons] == [
        ("budget_nearly_used", "at_risk"),
        ("past_end_date", "off_track"),
        ("milestone_overdue", "off_track"),  # 21 days > 14 days of grace
    ]
    assert late.reasons[1].message == "the end date 2026-04-20 passed 11 days ago"
    over = assess(HealthInput(end_date=None, budget_hours=D(100), actual_hours=D(101), eac_hours=D(130), **base))
    assert [(r.code, r.severity) for r in over.reasons] == [("budget_exceeded", "off_track")]
    unbudgeted = assess(HealthInput(end_date=None, budget_hours=None, actual_hours=D(5), eac_hours=D(5), **base))
    assert unbudgeted.status == "on_track"
    assert [(r.code, r.severity) for r in unbudgeted.reasons] == [("no_budget", "info")]


def test_threshold_alerts_and_a_zero_budget() -> None:
    burn = days(("2026-01-05", "4", "0"), ("2026-01-06", "4", "0"))
    alerts = threshold_alerts(burn, [D("0.5"), D("1")], D(8), None)
    assert [(a.threshold_pct, a.crossed_on) for a in alerts] == [
        (D("50.00"), date(2026, 1, 5)),
        (D("100.00"), date(2026, 1, 6)),
    ]
    zero = threshold_alerts(burn, [D("0.5")], D(0), None)
    assert [(a.crossed_on, a.consumed_pct) for a in zero] == [(date(2026, 1, 5), D(100))]


def figures(**kw: object) -> ProjectFigures:
    defaults: dict[str, object] = {
        "project_id": uuid.UUID(int=1),
        "project_code": "P1",
        "project_name": "P",
        "client_id": uuid.UUID(int=9),
        "client_name": "C",
        "currency": "USD",
    }
    return ProjectFigures(**{**defaults, **kw})  # type: ignore[arg-type]


def test_profitability_with_invoices_counts_locked_time_as_invoiced_not_wip() -> None:
    f = figures(
        minutes=D(600),
        billable_minutes=D(540),
        time_value_open={"USD": D("333.3333")},
        time_value_locked={"USD": D(700)},
        rebill_locked={"USD": D(50)},
        staff_cost={"USD": D("400.005")},
        expense_cost={"USD": D(45)},
        ai_cost={"USD": D("12.499")},
        invoiced={"USD": D(760)},
    )
    (with_invoices,) = project_rows([f], invoiced_available=True)
    # revenue = 760 invoiced + 333.3333 WIP = 1093.3333; margin = 1093.3333 - 400.005 - 45 - 12.499 = 635.8293
    assert (with_invoices.invoiced, with_invoices.wip, with_invoices.revenue) == (
        D("760.00"),
        D("333.33"),
        D("1093.33"),
    )
    assert (with_invoices.staff_cost, with_invoices.ai_cost) == (D("400.01"), D("12.50"))
    assert with_invoices.margin == D("635.83")
    assert with_invoices.margin_pct == D("58.16")  # 635.8293 / 1093.3333
    (without,) = project_rows([f], invoiced_available=False)
    # without invoicing every billable hour is WIP: 333.3333 + 700 + 50 = 1083.3333
    assert (without.invoiced, without.wip) == (D("0.00"), D("1083.33"))
    empty = project_rows(
        [figures(staff_cost={"USD": D(10)}, unpriced_billable_minutes=D(90))], invoiced_available=False
    )
    assert empty[0].margin_pct is None and empty[0].margin == D("-10.00")
    assert empty[0].warnings == ["1.50 billable hours have no bill rate (set a rate card): WIP is understated"]
    extra = {uuid.UUID(int=9): figures(project_name="(unattributed)", ai_cost={"USD": D(5)})}
    (by_client,) = client_rows([f], invoiced_available=True, client_extra=extra)
    assert by_client.ai_cost == D("17.50") and by_client.project_id is None


def test_utilization_counts_working_days_and_weights_team_targets() -> None:
    assert working_days(date(2026, 3, 2), date(2026, 3, 15)) == 10
    assert working_days(date(2026, 3, 7), date(2026, 3, 8)) == 0  # a weekend
    assert week_start(date(2026, 3, 8)) == date(2026, 3, 2)
    people = [
        PersonTime(
            person_id=uuid.UUID(int=1),
            name="A",
            team="dev",
            weekly_capacity_hours=D(40),
            utilization_target=D("0.9"),
            billable_minutes=D(60 * 36),
            minutes=D(60 * 40),
        ),
        PersonTime(
            person_id=uuid.UUID(int=2),
            name="B",
            team="dev",
            weekly_capacity_hours=D(20),
            utilization_target=D("0.6"),
            billable_minutes=D(60 * 6),
            minutes=D(60 * 10),
        ),
        PersonTime(
            person_id=uuid.UUID(int=3), name="C", team="ops", weekly_capacity_hours=D(0), utilization_target=D("0.5")
        ),
    ]
    one_week = (date(2026, 3, 2), date(2026, 3, 8))
    rows = {r.name: r for r in per_person(people, *one_week)}
    assert (rows["A"].utilization_pct, rows["A"].total_pct, rows["A"].variance_pts) == (
        D("90.00"),
        D("100.00"),
        D("0.00"),
    )
    assert (rows["B"].utilization_pct, rows["B"].variance_pts) == (D("30.00"), D("-30.00"))
    assert rows["C"].utilization_pct is None  # no capacity: undefined, not zero
    dev = next(r for r in per_team(people, *one_week) if r.team == "dev")
    # (36 + 6) / (40 + 20) = 70 %; target (40 x 0.9 + 20 x 0.6) / 60 = 0.8
    assert (dev.utilization_pct, dev.target_pct, dev.people) == (D("70.00"), D("80.00"), 2)


def test_rate_resolution_prefers_the_most_specific_rate_valid_on_the_day() -> None:
    p = uuid.UUID(int=7)
    rates = [
        Rate(project_id=None, role=None, hourly_rate=D(90), currency="EUR"),
        Rate(project_id=None, role="dev", hourly_rate=D(100), currency="EUR"),
        Rate(project_id=p, role=None, hourly_rate=D(110), currency="EUR"),
        Rate(project_id=p, role="dev", hourly_rate=D(130), currency="EUR", valid_from=date(2026, 4, 1)),
        Rate(project_id=p, role="dev", hourly_rate=D(120), currency="EUR"),
    ]

    def rate(project: uuid.UUID, role: str, day: str) -> D | None:
        found = resolve_rate(rates, project, role, date.fromisoformat(day))
        return found.hourly_rate if found else None

    assert rate(p, "dev", "2026-03-31") == D(120)
    assert rate(p, "dev", "2026-04-01") == D(130)
    assert rate(p, "qa", "2026-04-01") == D(110)
    assert rate(uuid.UUID(int=8), "dev", "2026-04-01") == D(100)
    assert rate(uuid.UUID(int=8), "qa", "2026-04-01") == D(90)
    assert resolve_rate([], p, "dev", date(2026, 1, 1)) is None


def test_expense_markup_rounds_once_to_the_currencys_minor_unit() -> None:
    assert billable_amount(D("1000"), D("0.125"), "JPY", billable=True) == D(1125)
    assert billable_amount(D("10.01"), D("0.05"), "USD", billable=True) == D("10.51")  # 10.5105
    assert billable_amount(D("1.234"), D("0"), "KWD", billable=True) == D("1.234")
    assert billable_amount(D("99"), D("0.5"), "USD", billable=False) == D(0)


def test_csv_parsing_edge_cases() -> None:
    toggl = (
        "\ufeffUser,Email,Client,Project,Task,Description,Billable,"
        "Start date,Start time,End date,End time,Duration,Tags\n"
        'A,a@x.example,C,P,,"two\nlines",Yes,2026-02-02,09:00:00,2026-02-02,09:30:00,00:30:00,\n'
        "A,a@x.example,C,P,,same,Maybe,2026-02-02,09:00:00,2026-02-02,09:30:00,00:30:00,\n"
        "A,a@x.example,C,P,,same,No,2026-02-02,,2026-02-02,,0:30:00,\n"
        "A,a@x.example,C,P,,same,No,2026-02-02,,2026-02-02,,0:30:00,\n"
    )
    parsed = parse("toggl", toggl)
    assert [r.line for r in parsed.rows] == [3, 4, 5, 6]  # the quoted newline keeps line numbers honest
    assert parsed.rows[0].notes == "two\nlines" and parsed.rows[0].minutes == D(30)
    assert parsed.rows[1].problems == ["Billable: 'Maybe' is neither Yes nor No"]
    assert parsed.rows[2].fingerprint != parsed.rows[3].fingerprint  # identical rows stay distinct
    assert parse("toggl", toggl).rows[3].fingerprint == parsed.rows[3].fingerprint  # and stable
    clockify = (
        "Project,Client,Description,Task,User,Group,Email,Tags,Billable,Start Date,Start Time,End Date,End Time,"
        "Duration (h),Duration (decimal),Billable Rate (EUR),Billable Amount (EUR)\n"
        'P,C,d,,U,,u@x.example,,Yes,05/02/2026,01:26:00 PM,05/02/2026,02:43:00 PM,,"1,5",0,0\n'
        "P,C,d,,U,,u@x.example,,Yes,31/02/2026,01:26 PM,,,25:00:00,,0,0\n"
    )
    rows = parse("clockify", clockify, date_order="dmy").rows
    assert (rows[0].work_date, rows[0].minutes, str(rows[0].start_time)) == (date(2026, 2, 5), D(90), "13:26:00")
    assert rows[1].problems == [
        "Start Date: day is out of range for month",
        "Duration (h): more than 24 hours in one entry",
    ]
    harvest = "Date,Client,Project,Task,Notes,Hours,First name,Last name\n8/25/2026,C,P,T,,7.5,Ada,Lovelace\n"
    (row,) = parse("harvest", harvest).rows
    assert (row.work_date, row.minutes, row.person_name, row.billable) == (
        date(2026, 8, 25),
        D(450),
        "Ada Lovelace",
        True,
    )
    assert parse("harvest", "").problems == ["the file is empty"]
    assert parse("toggl", "User,Email\n").problems == [
        "missing column(s) Project, Start date, Duration: is this a toggl detailed export?"
    ]
