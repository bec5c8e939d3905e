"""Clockify: the detailed report CSV export."""

from __future__ import annotations

from decimal import Decimal

from insights.timeimport.common import (
    Columns,
    ParsedRow,
    attempt,
    check_minutes,
    minutes_from_hms,
    minutes_from_hours,
    parse_detailed_report_row,
)

REQUIRED = (("Email",), ("Project",), ("Start Date",), ("Duration (h)", "Duration (decimal)"))


def parse_row(columns: Columns, cells: list[str], line: int, date_order: str) -> ParsedRow:
    row = parse_detailed_report_row(
        columns, cells, line, date_order, date_column="Start Date", time_column="Start Time"
    )
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
    return row
