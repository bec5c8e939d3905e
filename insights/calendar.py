"""ISO weeks and working days (Monday to Friday; public holidays are capacity planning's business)."""

from __future__ import annotations

from datetime import date, timedelta

WORKING_DAYS_PER_WEEK = 5


def week_start(day: date) -> date:
    """The Monday of ``day``'s ISO week."""
    return day - timedelta(days=day.weekday())


def is_working_day(day: date) -> bool:
    return day.weekday() < WORKING_DAYS_PER_WEEK


def working_days(start: date, end: date) -> int:
    """Monday-to-Friday days in ``[start, end]`` (both inclusive); 0 when ``end < start``."""
    if end < start:
        return 0
    total = (end - start).days + 1
    full_weeks, rest = divmod(total, 7)
    count = full_weeks * WORKING_DAYS_PER_WEEK
    for offset in range(rest):
        if is_working_day(start + timedelta(days=full_weeks * 7 + offset)):
            count += 1
    return count


def days(start: date, end: date) -> list[date]:
    """Every date in ``[start, end]``."""
    return [start + timedelta(days=i) for i in range((end - start).days + 1)]
