"""Dates relative to today, so the engagement tests mean the same thing on any day they run."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import billing

NEW_YORK = "America/New_York"


def today(tz: str = NEW_YORK) -> date:
    return datetime.now(UTC).astimezone(ZoneInfo(tz)).date()


def this_period(tz: str = NEW_YORK) -> billing.Period:
    return billing.Period.of_date(today(tz))


def period(offset: int, tz: str = NEW_YORK) -> str:
    """``period(0)`` is the client's current month, ``period(-1)`` the last closed one."""
    return str(this_period(tz).shift(offset))


def first_day(period_text: str) -> str:
    return billing.Period.parse(period_text).first_day.isoformat()


def retainer_terms(start: str, amount: str, retainer_id: str = "platform") -> dict[str, Any]:
    return {
        "start_date": first_day(start),
        "versions": [
            {
                "effective_from": start,
                "retainers": [{"id": retainer_id, "description": "Retainer", "amount": amount, "billing": "arrears"}],
            }
        ],
    }


def yesterday_in_this_month(tz: str = NEW_YORK) -> date | None:
    """A day of the current month that has already ended, or None on the 1st."""
    day = today(tz) - timedelta(days=1)
    return day if day.month == today(tz).month else None


def future_year() -> int:
    """A year entirely in the time-skipping test server's future (its clock starts at real time)."""
    return datetime.now(UTC).year + 2
