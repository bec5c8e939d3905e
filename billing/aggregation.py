"""Turning raw usage files into per-period usage aggregates, the way the metering service does.

Input is either CloudEvents 1.0 (JSON Lines, or a JSON array as in the batch content type) or an
already aggregated CSV. For events, each meter whose ``event_type`` equals the event ``type`` reads its
value (and optional provider cost and dimensions) from ``data`` by dotted path, and aggregates per
(period, meter, dimension values) with the meter's aggregation. The period of an event is the calendar
month of its ``time`` *in the client's time zone*, using the same helper as the engine and workflows.

Numbers are read from their JSON text straight into Decimal, so token costs like 0.000125 stay exact.
Duplicates (same ``source`` and ``id``) count once, as in ingest; every rejected event is reported with
its reason rather than dropped silently.
"""

from __future__ import annotations

import csv
import io
from datetime import datetime
from decimal import Decimal
from typing import Any

import msgspec

from billing.inputs import UsageAggregate
from billing.periods import period_of_instant
from billing.terms import Meter
from core import decimal_bounds


class CloudEvent(msgspec.Struct, kw_only=True):
    specversion: str
    id: str
    source: str
    type: str
    subject: str | None = None
    time: str | None = None
    data: msgspec.Raw = msgspec.field(default_factory=lambda: msgspec.Raw(b"null"))


class Rejected(msgspec.Struct, frozen=True, kw_only=True):
    line: int
    id: str
    reason: str


class AggregationReport(msgspec.Struct, kw_only=True):
    """Aggregates per period (``YYYY-MM``) plus an account of every event that was not counted."""

    by_period: dict[str, list[UsageAggregate]]
    events: int = 0
    counted: int = 0
    duplicates: int = 0
    unmatched: int = 0
    other_subject: int = 0
    rejected: list[Rejected] = []


class _Bad(ValueError):
    pass


def _path(data: msgspec.Raw | None, path: str) -> bytes | None:
    if data is None:
        return None
    raw = bytes(data)
    for part in path.split("."):
        if not raw.lstrip().startswith(b"{"):
            return None
        obj = msgspec.json.decode(raw, type=dict[str, msgspec.Raw])
        nxt = obj.get(part)
        if nxt is None:
            return None
        raw = bytes(nxt)
    return raw.strip()


def _number(raw: bytes | None, what: str) -> Decimal:
    if raw is None:
        raise _Bad(f"{what} missing")
    if raw == b"null":
        raise _Bad(f"{what} is null")
    try:
        value = msgspec.json.decode(raw, type=Decimal)
    except msgspec.ValidationError as exc:
        raise _Bad(f"{what} not a number: {raw.decode(errors='replace')}") from exc
    bound = decimal_bounds.problem(value, "quantity")
    if bound is not None:
        raise _Bad(f"{what} {bound}")
    return value


def _text(raw: bytes | None) -> str | None:
    if raw is None or raw == b"null":
        return None
    if raw.startswith(b'"'):
        s: str = msgspec.json.decode(raw, type=str)
        return s
    return raw.decode()


class _Acc:
    __slots__ = ("cost", "latest", "seen", "value")

    def __init__(self) -> None:
        self.value: Decimal | None = None
        self.cost: Decimal | None = None
        self.seen: set[str] = set()
        self.latest: tuple[datetime, str] | None = None


def aggregate_events(
    data: bytes, meters: list[Meter], timezone: str, client_key: str | None = None
) -> AggregationReport:
    """Aggregate CloudEvents (JSON Lines or a JSON array) into usage per period."""
    stripped = data.lstrip()
    if stripped.startswith(b"["):
        raws = [bytes(r) for r in msgspec.json.decode(stripped, type=list[msgspec.Raw])]
        numbered = list(enumerate(raws, start=1))
    else:
        numbered = [(i, ln) for i, ln in enumerate(data.splitlines(), start=1) if ln.strip()]
    by_type: dict[str, list[Meter]] = {}
    for m in meters:
        by_type.setdefault(m.event_type, []).append(m)
    report = AggregationReport(by_period={})
    seen: set[tuple[str, str]] = set()
    accs: dict[tuple[str, str, tuple[tuple[str, str], ...]], _Acc] = {}
    decoder = msgspec.json.Decoder(CloudEvent)
    for lineno, raw in numbered:
        report.events += 1
        try:
            ev = decoder.decode(raw)
        except (msgspec.DecodeError, msgspec.ValidationError) as exc:
            report.rejected.append(Rejected(line=lineno, id="", reason=f"not a CloudEvent: {exc}"))
            continue
        try:
            if ev.specversion != "1.0":
                raise _Bad(f"unsupported specversion {ev.specversion!r}")
            if not ev.time:
                raise _Bad("missing time")
            try:
                when = datetime.fromisoformat(ev.time)
            except ValueError as exc:
                raise _Bad(f"bad time {ev.time!r}") from exc
            if when.tzinfo is None:
                raise _Bad(f"time without offset {ev.time!r}")
            if client_key is not None:
                if not ev.subject:
                    raise _Bad("missing subject")
                if ev.subject != client_key:
                    report.other_subject += 1
                    continue
            if (ev.source, ev.id) in seen:
                report.duplicates += 1
                continue
            seen.add((ev.source, ev.id))
            matching = by_type.get(ev.type)
            if not matching:
                report.unmatched += 1
                continue
            period = period_of_instant(when, timezone).key
            updates = []
            for m in matching:
                distinct: str | None = None
                if m.aggregation == "count":
                    value = Decimal(1)
                elif m.aggregation == "unique_count":
                    # distinct values may be ids (text) as well as numbers
                    distinct = _text(_path(ev.data, m.value or ""))
                    if distinct is None:
                        raise _Bad("value missing")
                    value = Decimal(1)
                else:
                    value = _number(_path(ev.data, m.value or ""), "value")
                cost = None
                if m.provider_cost:
                    craw = _path(ev.data, m.provider_cost)
                    if craw is not None and craw != b"null":
                        cost = _number(craw, "provider cost")
                dim_list: list[tuple[str, str]] = []
                for name, path in sorted(m.dimensions.items()):
                    v = _text(_path(ev.data, path))
                    if v is not None and v != "":
                        dim_list.append((name, v))
                updates.append((m, value, distinct, cost, tuple(dim_list)))
        except _Bad as exc:
            report.rejected.append(Rejected(line=lineno, id=ev.id, reason=str(exc)))
            continue
        report.counted += 1
        for m, value, distinct, cost, dims in updates:
            key = (period, m.id, dims)
            acc = accs.get(key)
            if acc is None:
                acc = accs[key] = _Acc()
            if distinct is not None:
                acc.seen.add(distinct)
            else:
                _update(acc, m, value, when, ev.id)
            if cost is not None:
                acc.cost = cost if acc.cost is None else acc.cost + cost
    for (period, meter, dkey), acc in sorted(accs.items()):
        agg = next(m for m in meters if m.id == meter).aggregation
        qty = Decimal(len(acc.seen)) if agg == "unique_count" else (acc.value or Decimal(0))
        report.by_period.setdefault(period, []).append(
            UsageAggregate(meter=meter, dimensions=dict(dkey), quantity=qty, provider_cost=acc.cost)
        )
    return report


def _update(acc: _Acc, m: Meter, value: Decimal, when: datetime, ev_id: str) -> None:
    agg = m.aggregation
    if agg in ("sum", "count"):
        acc.value = value if acc.value is None else acc.value + value
    elif agg == "max":
        acc.value = value if acc.value is None or value > acc.value else acc.value
    else:  # latest: the event with the latest time wins, ties broken by id for determinism
        stamp = (when, ev_id)
        if acc.latest is None or stamp > acc.latest:
            acc.latest = stamp
            acc.value = value


def parse_usage_csv(text: str) -> dict[str | None, list[UsageAggregate]]:
    """Aggregated CSV: ``meter,site,<dimension>...,quantity[,provider_cost][,period]``.

    Every column other than meter/quantity/provider_cost/period is a dimension (empty cells are left
    out). Rows without a ``period`` column are returned under the key ``None``.
    """
    reader = csv.DictReader(io.StringIO(text))
    fields = reader.fieldnames or []
    missing = [c for c in ("meter", "quantity") if c not in fields]
    if missing:
        raise ValueError(f"usage CSV needs columns {', '.join(missing)}; got {', '.join(fields)}")
    special = {"meter", "quantity", "provider_cost", "period"}
    dims = [f for f in fields if f not in special]
    out: dict[str | None, list[UsageAggregate]] = {}
    for n, row in enumerate(reader, start=2):
        try:
            qty = decimal_bounds.parse(row["quantity"] or "", "quantity", "quantity")
            cost_text = (row.get("provider_cost") or "").strip()
            cost = decimal_bounds.parse(cost_text, "quantity", "provider_cost") if cost_text else None
        except decimal_bounds.OutOfBounds as exc:
            raise ValueError(f"usage CSV line {n}: {exc}") from exc
        period = (row.get("period") or "").strip() or None
        d: dict[str, Any] = {k: row[k].strip() for k in dims if row.get(k) and row[k].strip()}
        out.setdefault(period, []).append(
            UsageAggregate(meter=row["meter"].strip(), dimensions=d, quantity=qty, provider_cost=cost)
        )
    return out
