"""The shared row shape and the primitive parsers (dates, times, durations, flags) with exact Decimals."""

from __future__ import annotations

import csv
import hashlib
import io
import re
from collections.abc import Callable
from datetime import date, datetime, time
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

import msgspec

from core import decimal_bounds

SOURCES = ("harvest", "toggl", "clockify")
MAX_MINUTES = Decimal(1440)
_MINUTE_STEP = Decimal("0.01")


class ParsedRow(msgspec.Struct, kw_only=True):
    """One data row; ``line`` is the 1-based line of the file (the header is line 1)."""

    line: int
    work_date: date | None = None
    person_email: str | None = None
    person_name: str | None = None
    client: str | None = None
    project: str | None = None
    project_code: str | None = None
    task: str | None = None
    notes: str | None = None
    minutes: Decimal | None = None
    billable: bool = True
    start_time: time | None = None
    fingerprint: str = ""
    problems: list[str] = []


class ParsedFile(msgspec.Struct, kw_only=True):
    source: str
    rows: list[ParsedRow]
    problems: list[str]

    @property
    def ok(self) -> bool:
        return not self.problems and all(not r.problems for r in self.rows)


class Columns:
    """Case-insensitive header lookup that tolerates a currency suffix like ``Amount (USD)``."""

    def __init__(self, header: list[str]) -> None:
        self.index: dict[str, int] = {}
        for i, name in enumerate(header):
            key = _norm(name)
            self.index.setdefault(key, i)
            bare = re.sub(r"\s*\([a-z]{3}\)$", "", key)
            self.index.setdefault(bare, i)

    def has(self, name: str) -> bool:
        return _norm(name) in self.index

    def get(self, row: list[str], name: str) -> str | None:
        i = self.index.get(_norm(name))
        if i is None or i >= len(row):
            return None
        value = row[i].strip()
        return value or None


def _norm(name: str) -> str:
    return " ".join(name.strip().lstrip("\ufeff").lower().split())


def read_rows(text: str) -> tuple[list[str], list[tuple[int, list[str]]]]:
    """Header and (line number, cells) per non-empty row; handles a BOM and quoted newlines."""
    reader = csv.reader(io.StringIO(text.lstrip("\ufeff")), strict=True)
    header: list[str] = []
    rows: list[tuple[int, list[str]]] = []
    for cells in reader:
        if not header:
            header = cells
            continue
        if any(c.strip() for c in cells):
            rows.append((reader.line_num, cells))
    return header, rows


def parse_date(value: str, order: str = "mdy") -> date:
    """ISO ``YYYY-MM-DD`` always; slashed or dotted dates in ``order`` (``mdy``, ``dmy`` or ``ymd``)."""
    value = value.strip()
    if re.fullmatch(r"\d{4}-\d{2}-\d{2}", value):
        return date.fromisoformat(value)
    parts = re.split(r"[/.]", value)
    if len(parts) != 3 or not all(p.isdigit() for p in parts):
        raise ValueError(f"{value!r} is not a date")
    a, b, c = (int(p) for p in parts)
    if order == "mdy":
        return date(c, a, b)
    if order == "dmy":
        return date(c, b, a)
    return date(a, b, c)


def parse_time(value: str) -> time:
    """``HH:MM[:SS]`` in 24 h, or with ``AM``/``PM``."""
    text = value.strip().upper()
    for fmt in ("%H:%M:%S", "%H:%M", "%I:%M:%S %p", "%I:%M %p"):
        try:
            return datetime.strptime(text, fmt).time()  # noqa: DTZ007 - a wall-clock time, no zone
        except ValueError:
            continue
    raise ValueError(f"{value!r} is not a time of day")


def minutes_from_hms(value: str) -> Decimal:
    """``H:MM:SS`` (hours may exceed 24) to minutes, rounded half-up to 0.01 minute."""
    parts = value.strip().split(":")
    if len(parts) not in (2, 3) or not all(p.isdigit() for p in parts):
        raise ValueError(f"{value!r} is not a duration (H:MM:SS)")
    h, m = int(parts[0]), int(parts[1])
    s = int(parts[2]) if len(parts) == 3 else 0
    if m >= 60 or s >= 60:
        raise ValueError(f"{value!r} is not a duration (H:MM:SS)")
    if len(parts[0]) > decimal_bounds.BOUNDS["hours"].integer_digits:
        raise ValueError(f"{value!r} is too long a duration")
    return (Decimal(h * 3600 + m * 60 + s) / 60).quantize(_MINUTE_STEP, rounding=ROUND_HALF_UP)


def minutes_from_hours(value: str) -> Decimal:
    """Decimal hours (``7.5``, ``0,25`` with a decimal comma) to minutes, rounded to 0.01 minute."""
    text = value.strip().replace(",", ".")
    try:
        hours = Decimal(text)
    except InvalidOperation:
        raise ValueError(f"{value!r} is not a number of hours") from None
    # exports write decimal hours with any number of places (1.266666667), so the generic decimal bounds:
    # NaN, 1e400, 1e-400 are refused with the reason, never a quantize overflow
    bound = decimal_bounds.problem(hours, "decimal")
    if bound is not None:
        raise ValueError(f"{value!r} {bound}")
    return (hours * 60).quantize(_MINUTE_STEP, rounding=ROUND_HALF_UP)


def parse_flag(value: str | None, *, default: bool = True) -> bool:
    if value is None:
        return default
    text = value.strip().lower()
    if text in ("yes", "y", "true", "1", "billable"):
        return True
    if text in ("no", "n", "false", "0", "non-billable", "not billable"):
        return False
    raise ValueError(f"{value!r} is neither Yes nor No")


def check_minutes(row: ParsedRow, column: str) -> None:
    if row.minutes is None:
        return
    if row.minutes <= 0:
        row.problems.append(f"{column}: the duration must be more than zero")
    elif row.minutes > MAX_MINUTES:
        row.problems.append(f"{column}: more than 24 hours in one entry")


def attempt(row: ParsedRow, column: str, fn: Callable[[], object]) -> object | None:
    try:
        return fn()
    except ValueError as exc:
        row.problems.append(f"{column}: {exc}")
        return None


def fingerprint(source: str, row: ParsedRow, occurrence: int) -> str:
    """A stable id for a row without one: the same export imported twice gives the same fingerprints."""
    parts = [
        source,
        str(row.work_date),
        (row.person_email or row.person_name or "").lower(),
        row.client or "",
        row.project_code or row.project or "",
        row.task or "",
        row.notes or "",
        str(row.minutes),
        str(row.start_time or ""),
        str(row.billable),
        str(occurrence),
    ]
    return hashlib.sha256("\x1f".join(parts).encode()).hexdigest()[:40]


def parse(source: str, text: str, *, date_order: str = "mdy") -> ParsedFile:
    """Parse one export. File-level problems (missing columns) leave ``rows`` empty."""
    from insights.timeimport import clockify, harvest, toggl

    parsers = {"harvest": harvest.parse_row, "toggl": toggl.parse_row, "clockify": clockify.parse_row}
    required = {"harvest": harvest.REQUIRED, "toggl": toggl.REQUIRED, "clockify": clockify.REQUIRED}
    if source not in parsers:
        return ParsedFile(source=source, rows=[], problems=[f"unknown source {source!r}"])
    try:
        header, cells = read_rows(text)
    except csv.Error as exc:
        return ParsedFile(source=source, rows=[], problems=[f"not a readable CSV file: {exc}"])
    if not header:
        return ParsedFile(source=source, rows=[], problems=["the file is empty"])
    columns = Columns(header)
    missing = [group[0] for group in required[source] if not any(columns.has(name) for name in group)]
    if missing:
        return ParsedFile(
            source=source,
            rows=[],
            problems=[f"missing column(s) {', '.join(missing)}: is this a {source} detailed export?"],
        )
    rows: list[ParsedRow] = []
    seen: dict[str, int] = {}
    for line, row_cells in cells:
        row = parsers[source](columns, row_cells, line, date_order)
        base = fingerprint(source, row, 0)
        occurrence = seen.get(base, 0)
        seen[base] = occurrence + 1
        row.fingerprint = fingerprint(source, row, occurrence)
        rows.append(row)
    if not rows:
        return ParsedFile(source=source, rows=[], problems=["the file has a header but no rows"])
    return ParsedFile(source=source, rows=rows, problems=[])


def parse_detailed_report_row(
    columns: Columns, cells: list[str], line: int, date_order: str, *, date_column: str, time_column: str
) -> ParsedRow:
    """The columns Toggl Track's and Clockify's detailed reports share (they differ in capitalisation and in
    how they give the duration, which each importer then reads itself)."""
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
    raw_date = columns.get(cells, date_column)
    if raw_date is None:
        row.problems.append(f"{date_column}: missing")
    else:
        value = attempt(row, date_column, lambda: parse_date(raw_date, date_order))
        row.work_date = value if isinstance(value, date) else None
    raw_time = columns.get(cells, time_column)
    if raw_time is not None:
        start = attempt(row, time_column, lambda: parse_time(raw_time))
        row.start_time = start if isinstance(start, time) else None
    billable = attempt(row, "Billable", lambda: parse_flag(columns.get(cells, "Billable")))
    row.billable = billable if isinstance(billable, bool) else True
    return row
