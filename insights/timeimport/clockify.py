"""Clockify: the detailed report CSV export."""

from __future__ import annotations

from datetime import date, time
from decimal import Decimal

from insights.timeimport.common import (
    Columns,
    ParsedRow,
    attempt,
    check_minutes,
    minutes_from_hms,
    minutes_from_hours,
    parse_date,
    parse_flag,
    parse_time,
)

REQUIRED = (("Email",), ("Project",), ("Start Date",), ("Duration (h)", "Duration (decimal)"))


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
    raw_date = columns.get(cells, "Start Date")
    if raw_date is None:
        row.problems.append("Start Date: missing")
    else:
        value = attempt(row, "Start Date", lambda: parse_date(raw_date, date_order))
        row.work_date = value if isinstance(value, date) else None
    raw_time = columns.get(cells, "Start Time")
    if raw_time is not None:
        start = attempt(row, "Start Time", lambda: parse_time(raw_time))
        row.start_time = start if isinstance(start, time) else None
    # The H:MM:SS column is exact to the second; the decimal one is rounded to 0.01 h.
    hms, decimal_hours = columns.get(cells, "Duration (h)"), columns.get(cells, "Duration (decimal)")
    column = "Duration (h)" if hms is not None else "Duration (decimal)"
    if hms is None and decimal_hours is None:
        row.problems.append("Duration: missing")
    else:
        minutes = attempt(
            row,
            column,
            lambda: minutes_from_hms(hms) if hms is not None else minutes_from_hours(decimal_hours or ""),
        )
        row.minutes = minutes if isinstance(minutes, Decimal) else None
        check_minutes(row, column)
    billable = attempt(row, "Billable", lambda: parse_flag(columns.get(cells, "Billable")))
    row.billable = billable if isinstance(billable, bool) else True
    return row
