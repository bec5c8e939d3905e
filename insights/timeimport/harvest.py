"""Harvest: the detailed time report export (or the 8-column time-import layout)."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from insights.timeimport.common import (
    Columns,
    ParsedRow,
    attempt,
    check_minutes,
    minutes_from_hours,
    parse_date,
    parse_flag,
)

# Alternatives per required column: the first name is the one reported when missing.
REQUIRED = (("Date",), ("Project",), ("Hours",), ("First Name",), ("Last Name",))


def parse_row(columns: Columns, cells: list[str], line: int, date_order: str) -> ParsedRow:
    row = ParsedRow(line=line)
    raw_date = columns.get(cells, "Date")
    if raw_date is None:
        row.problems.append("Date: missing")
    else:
        # Harvest writes ISO or M/D/YYYY (US order) whatever the account's display format.
        value = attempt(row, "Date", lambda: parse_date(raw_date, "mdy"))
        row.work_date = value if isinstance(value, date) else None
    first, last = columns.get(cells, "First Name"), columns.get(cells, "Last Name")
    if not first and not last:
        row.problems.append("First Name/Last Name: missing")
    row.person_name = " ".join(p for p in (first, last) if p) or None
    row.client = columns.get(cells, "Client")
    row.project = columns.get(cells, "Project")
    row.project_code = columns.get(cells, "Project Code")
    if row.project is None and row.project_code is None:
        row.problems.append("Project: missing")
    row.task = columns.get(cells, "Task")
    row.notes = columns.get(cells, "Notes")
    raw_hours = columns.get(cells, "Hours")
    if raw_hours is None:
        row.problems.append("Hours: missing")
    else:
        minutes = attempt(row, "Hours", lambda: minutes_from_hours(raw_hours))
        row.minutes = minutes if isinstance(minutes, Decimal) else None
        check_minutes(row, "Hours")
    billable = attempt(row, "Billable?", lambda: parse_flag(columns.get(cells, "Billable?")))
    row.billable = billable if isinstance(billable, bool) else True
    return row
