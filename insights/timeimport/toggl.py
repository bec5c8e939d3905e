"""Toggl Track: the detailed report CSV export."""

from __future__ import annotations

from decimal import Decimal

from insights.timeimport.common import (
    Columns,
    ParsedRow,
    attempt,
    check_minutes,
    minutes_from_hms,
    parse_detailed_report_row,
)

REQUIRED = (("Email",), ("Project",), ("Start date",), ("Duration",))


def parse_row(columns: Columns, cells: list[str], line: int, date_order: str) -> ParsedRow:
    row = parse_detailed_report_row(
        columns, cells, line, date_order, date_column="Start date", time_column="Start time"
    )
    raw_duration = columns.get(cells, "Duration")
    if raw_duration is None:
        row.problems.append("Duration: missing")
    else:
        minutes = attempt(row, "Duration", lambda: minutes_from_hms(raw_duration))
        row.minutes = minutes if isinstance(minutes, Decimal) else None
        check_minutes(row, "Duration")
    return row
