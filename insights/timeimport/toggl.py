"""Toggl Track: the detailed report CSV export."""

from __future__ import annotations

from datetime import date, time
from decimal import Decimal

from insights.timeimport.common import (
    Columns,
    ParsedRow,
    attempt,
    check_minutes,
    minutes_from_hms,
    parse_date,
    parse_flag,
    parse_time,
)

REQUIRED = (("Email",), ("Project",), ("Start date",), ("Duration",))


def parse_row(columns: Columns, cells: list[str], line: int, date_order: str) -> ParsedRow:
    row = ParsedRow(line=line)
    row.person_email = columns.get(cells, "Email")
    row.person_name = columns.get(cells, "User")
    if row.person_email is None:
        row.problems.append("Email: missing")
    row.client = columns.get(cells, "Client")
    row.project = columns.get(cells, "Project")
    if row.project is None:
        row.problems.append("Project: missing (time without a project cannot be imported)")
    row.task = columns.get(cells, "Task")
    row.notes = columns.get(cells, "Description")
    raw_date = columns.get(cells, "Start date")
    if raw_date is None:
        row.problems.append("Start date: missing")
    else:
        value = attempt(row, "Start date", lambda: parse_date(raw_date, date_order))
        row.work_date = value if isinstance(value, date) else None
    raw_time = columns.get(cells, "Start time")
    if raw_time is not None:
        start = attempt(row, "Start time", lambda: parse_time(raw_time))
        row.start_time = start if isinstance(start, time) else None
    raw_duration = columns.get(cells, "Duration")
    if raw_duration is None:
        row.problems.append("Duration: missing")
    else:
        minutes = attempt(row, "Duration", lambda: minutes_from_hms(raw_duration))
        row.minutes = minutes if isinstance(minutes, Decimal) else None
        check_minutes(row, "Duration")
    billable = attempt(row, "Billable", lambda: parse_flag(columns.get(cells, "Billable")))
    row.billable = billable if isinstance(billable, bool) else True
    return row
