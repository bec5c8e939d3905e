"""The query plan tiles [from, to) exactly once with tier buckets that never straddle a window boundary."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from persistence.usage_store import DAY, HOUR, UsageQueryError, plan, window_starts

ZONES = [
    "UTC",
    "Asia/Kolkata",
    "Asia/Kathmandu",
    "America/New_York",
    "Australia/Lord_Howe",
    "Pacific/Chatham",
    "America/Santiago",
]


def _next_month(t: datetime) -> datetime:
    return t.replace(year=t.year + 1, month=1) if t.month == 12 else t.replace(month=t.month + 1)


def pieces(p) -> list[tuple[datetime, datetime, str]]:
    out = [(m, _next_month(m), "month") for m in p.months]
    out += [(d, d + DAY, "day") for d in p.days]
    out += [(h, h + HOUR, "hour") for h in p.hours]
    out += [(max(h, p.starts[0]), min(h + HOUR, p.end), "raw") for h in p.split_hours]
    return sorted(out)


@pytest.mark.parametrize("seed", range(40))
def test_tiers_tile_the_range_once_inside_single_windows(seed: int) -> None:
    rnd = random.Random(seed)
    zone = ZoneInfo(rnd.choice(ZONES))
    start = datetime(2025, 1, 1, tzinfo=UTC) + timedelta(
        seconds=rnd.randint(0, 300 * 86400), microseconds=rnd.randint(0, 999_999)
    )
    end = start + timedelta(seconds=rnd.randint(1, 70 * 86400))
    window = rnd.choice([None, "day", "month", "hour"])
    if window == "hour":
        end = start + timedelta(seconds=rnd.randint(1, 20 * 86400))
    p = plan(start, end, window, zone)
    cursor = start
    for lo, hi, kind in pieces(p):
        assert lo == cursor, (lo, cursor)
        assert hi > lo
        if kind != "raw":  # raw events are assigned to windows one by one; tier buckets must not straddle
            assert not any(lo < b < hi for b in p.starts), (kind, lo, hi)
        cursor = hi
    assert cursor == end


def test_local_boundaries_follow_the_zone() -> None:
    kolkata = ZoneInfo("Asia/Kolkata")
    starts = window_starts(datetime(2026, 9, 15, tzinfo=UTC), datetime(2026, 12, 1, tzinfo=UTC), "month", kolkata)
    assert [s.isoformat() for s in starts] == [
        "2026-09-15T00:00:00+00:00",
        "2026-09-30T18:30:00+00:00",
        "2026-10-31T18:30:00+00:00",
        "2026-11-30T18:30:00+00:00",  # December starts in Kolkata before `to` (00:00 UTC)
    ]
    new_york = ZoneInfo("America/New_York")
    days = window_starts(datetime(2026, 3, 7, 12, tzinfo=UTC), datetime(2026, 3, 10, tzinfo=UTC), "day", new_york)
    assert [d.astimezone(new_york).isoformat() for d in days[1:]] == [
        "2026-03-08T00:00:00-05:00",
        "2026-03-09T00:00:00-04:00",  # a 23-hour day
    ]
    hours = window_starts(datetime(2026, 3, 8, 5, tzinfo=UTC), datetime(2026, 3, 8, 9, tzinfo=UTC), "hour", new_york)
    assert len(hours) == 4  # 00:00, 01:00, 03:00, 04:00 local: 02:00 does not exist


def test_limits() -> None:
    utc = ZoneInfo("UTC")
    with pytest.raises(UsageQueryError) as exc:
        plan(datetime(2026, 1, 1, tzinfo=UTC), datetime(2026, 1, 1, tzinfo=UTC), None, utc)
    assert exc.value.parameter == "to"
    with pytest.raises(UsageQueryError):
        plan(datetime(2026, 1, 1), datetime(2026, 1, 2, tzinfo=UTC), None, utc)
