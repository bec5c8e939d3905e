"""Billing periods: calendar months in the client's time zone.

A period is named ``YYYY-MM`` and means the calendar month *as the client experiences it*: it starts at
local midnight on the 1st in the client's IANA zone and ends at local midnight on the 1st of the next
month. The Temporal workflows and the metering service compute boundaries with these same helpers, so
an event near midnight lands in the same period everywhere.

Why not UTC months: a Sydney client's usage at 09:00 on 1 March local time happened on 28 February UTC.
Billing it in February is the most common period-edge dispute. DST changes make local months 1 hour
shorter or longer in UTC; the helpers convert through zoneinfo so that never shifts a boundary.
"""

from __future__ import annotations

import calendar
import re
from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import msgspec

_PERIOD_RE = re.compile(r"^(\d{4})-(0[1-9]|1[0-2])$")


class Period(msgspec.Struct, frozen=True, order=True):
    """A billing period (calendar month in the client's time zone). ``str(p)`` is ``YYYY-MM``."""

    year: int
    month: int

    @classmethod
    def parse(cls, text: str) -> Period:
        m = _PERIOD_RE.match(text)
        if not m:
            raise ValueError(f"not a period (expected YYYY-MM): {text!r}")
        return cls(int(m.group(1)), int(m.group(2)))

    @classmethod
    def of_date(cls, d: date) -> Period:
        return cls(d.year, d.month)

    @classmethod
    def from_index(cls, index: int) -> Period:
        y, m0 = divmod(index, 12)
        return cls(y, m0 + 1)

    def __str__(self) -> str:
        return f"{self.year:04d}-{self.month:02d}"

    @property
    def key(self) -> str:
        return f"{self.year:04d}-{self.month:02d}"

    @property
    def index(self) -> int:
        """Months since year 0; differences of indexes count periods."""
        return self.year * 12 + self.month - 1

    def shift(self, months: int) -> Period:
        return Period.from_index(self.index + months)

    @property
    def first_day(self) -> date:
        return date(self.year, self.month, 1)

    @property
    def last_day(self) -> date:
        return date(self.year, self.month, self.days)

    @property
    def days(self) -> int:
        """Calendar days in the month: the proration denominator (never a fixed 30)."""
        return calendar.monthrange(self.year, self.month)[1]


def is_period(text: str) -> bool:
    return bool(_PERIOD_RE.match(text))


def zone(tz: str) -> ZoneInfo:
    """Load an IANA zone; raises ValueError for unknown or malformed names."""
    try:
        return ZoneInfo(tz)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError(f"unknown IANA time zone: {tz!r}") from exc


def is_known_zone(tz: str) -> bool:
    try:
        zone(tz)
    except ValueError:
        return False
    return True


def local_midnight_utc(d: date, tz: str) -> datetime:
    """The UTC instant at which local date ``d`` begins in ``tz``.

    ``fold=0`` resolves both DST edge cases correctly for a start-of-day: where midnight is skipped
    (e.g. America/Santiago springs forward at 00:00) it yields the transition instant, which is the
    first instant of the new day; where midnight repeats it yields the first occurrence.
    """
    local = datetime(d.year, d.month, d.day, tzinfo=zone(tz))
    return local.astimezone(UTC)


def period_bounds(period: Period | str, tz: str) -> tuple[datetime, datetime]:
    """Half-open UTC interval ``[start, end)`` of the period in the client's zone."""
    p = Period.parse(period) if isinstance(period, str) else period
    nxt = p.shift(1)
    return local_midnight_utc(p.first_day, tz), local_midnight_utc(nxt.first_day, tz)


def period_of_instant(instant: datetime, tz: str) -> Period:
    """The client-local period an instant belongs to. Naive datetimes are rejected."""
    if instant.tzinfo is None or instant.utcoffset() is None:
        raise ValueError("instant must be timezone-aware")
    local = instant.astimezone(zone(tz))
    return Period(local.year, local.month)


def local_date_of_instant(instant: datetime, tz: str) -> date:
    if instant.tzinfo is None or instant.utcoffset() is None:
        raise ValueError("instant must be timezone-aware")
    return instant.astimezone(zone(tz)).date()


def contract_year_start(period: Period, anchor: Period) -> Period:
    """First period of the contract year containing ``period`` (years run 12 periods from ``anchor``)."""
    k = (period.index - anchor.index) // 12
    return Period.from_index(anchor.index + 12 * k)
