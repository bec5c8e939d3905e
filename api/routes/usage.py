"""Usage read side: aggregates per window (the running-period dashboard) and the unmatched-event inbox.

``GET /v1/usage`` calls ``persistence.usage_store.usage_windows``, the same function billing calls through
``period_usage``, so the dashboard and the invoice are computed from the same data the same way.
"""

from __future__ import annotations

import base64
import uuid
import zoneinfo
from datetime import datetime
from decimal import Decimal
from typing import Annotated, Any, Literal

import msgspec
from litestar import Request, Response, get, post
from litestar.params import Parameter, QueryParameter
from sqlalchemy import select, text

from api.auth import Principal
from api.context import Ctx
from api.dto import Body
from api.idempotency import json_response
from api.member_scope import client_reach
from api.pagination import Limit, check_limit
from api.problems import BadRequest, FieldError, not_found
from core.gc_pause import gc_paused
from core.logging import request_id_var
from persistence.ingest import rematch_unmatched
from persistence.models import Client, Org
from persistence.usage_store import WINDOWS, UsageQueryError, usage_windows


class UsageItem(msgspec.Struct, gc=False):
    client_id: uuid.UUID
    meter: str
    aggregation: str
    window_start: datetime
    window_end: datetime
    dimensions: dict[str, str]
    quantity: Decimal
    provider_cost: Decimal | None
    event_count: int


class UsageOut(msgspec.Struct):
    start: datetime = msgspec.field(name="from")
    end: datetime = msgspec.field(name="to")
    window: str | None = None
    tz: str = "UTC"
    items: list[UsageItem] = []


class UnmatchedEvent(msgspec.Struct):
    batch_id: int
    pos: int
    reason: str
    time: datetime
    source: str
    id: str
    type: str
    subject: str | None
    client_id: uuid.UUID | None
    late: bool
    data: msgspec.Raw


class UnmatchedPage(msgspec.Struct):
    items: list[UnmatchedEvent]
    next_cursor: str | None = None


def _instant(name: str, value: str) -> datetime:
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        parsed = None
    if parsed is None or parsed.tzinfo is None:
        raise BadRequest(
            f"`{name}` must be an RFC 3339 instant with an offset",
            errors=[FieldError(parameter=name, detail="expected e.g. 2026-11-01T00:00:00Z")],
        )
    return parsed


def _names(value: str | None) -> list[str] | None:
    if value is None:
        return None
    return [part.strip() for part in value.split(",") if part.strip()]


@get("/usage", opt={"action": "usage.read"}, summary="Usage aggregates per window, client, meter and dimensions")
async def get_usage(
    ctx: Ctx,
    start: Annotated[str, QueryParameter(name="from", description="inclusive start, RFC 3339 with offset")],
    end: Annotated[str, QueryParameter(name="to", description="exclusive end, RFC 3339 with offset")],
    client: Annotated[uuid.UUID | None, Parameter(description="client id; all clients when omitted")] = None,
    meter: Annotated[str | None, Parameter(description="meter key(s), comma-separated; all when omitted")] = None,
    group_by: Annotated[
        str | None,
        Parameter(
            description="dimension names to keep, comma-separated (`site`, a meter's group-by names); "
            "omitted keeps every dimension, empty aggregates over all"
        ),
    ] = None,
    window: Annotated[str | None, Parameter(description="hour | day | month; omitted: one window")] = None,
    tz: Annotated[
        str | None, Parameter(description="IANA zone for window boundaries; default the client's, else the org's")
    ] = None,
) -> Response[UsageOut]:
    """Exactly what aggregating the raw events would return, at any moment (rollups plus not-yet-folded
    events, read in one snapshot). Quantities and costs are decimal strings."""
    from_, to = _instant("from", start), _instant("to", end)
    if window is not None and window not in WINDOWS:
        raise BadRequest("bad window", errors=[FieldError(parameter="window", detail=f"one of {', '.join(WINDOWS)}")])
    reach = client_reach(ctx)
    if reach is not None:
        if client is not None and client not in reach:
            raise not_found("client", client)
        if client is None and len(reach) != 1:
            detail = "this membership reaches several clients: name one"
            raise BadRequest("client required", errors=[FieldError(parameter="client", detail=detail)])
        client = client or next(iter(reach))
    zone_name = tz
    if client is not None:
        row = (await ctx.session.execute(select(Client.timezone).where(Client.id == client))).first()
        if row is None:
            raise not_found("client", client)
        zone_name = zone_name or row[0]
    if zone_name is None:
        zone_name = (await ctx.session.execute(select(Org.timezone).where(Org.id == ctx.org_id))).scalar_one()
    try:
        zone = zoneinfo.ZoneInfo(zone_name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError) as exc:
        raise BadRequest(
            "bad tz", errors=[FieldError(parameter="tz", detail=f"{zone_name!r} is not an IANA zone")]
        ) from exc
    try:
        rows = await usage_windows(
            ctx.session,
            from_,
            to,
            window=window,
            tz=zone,
            client_id=client,
            meters=_names(meter),
            group_by=_names(group_by),
        )
    except UsageQueryError as exc:
        raise BadRequest(exc.detail, errors=[FieldError(parameter=exc.parameter, detail=exc.detail)]) from exc
    await ctx.audit(
        "usage.read",
        "usage",
        client,
        detail={"from": start, "to": end, "meter": meter, "group_by": group_by, "window": window, "rows": len(rows)},
    )
    with gc_paused():  # tens of thousands of items for a month of all clients; none is part of a cycle
        items = [
            UsageItem(
                client_id=r.client_id,
                meter=r.meter,
                aggregation=r.aggregation,
                window_start=r.window_start,
                window_end=r.window_end,
                dimensions=r.dimensions,
                quantity=r.quantity,
                provider_cost=r.provider_cost,
                event_count=r.event_count,
            )
            for r in rows
        ]
    out = UsageOut(start=from_, end=to, window=window, tz=zone_name, items=items)
    return json_response(200, out)  # type: ignore[return-value]


def _encode_cursor(batch_id: int, pos: int) -> str:
    return base64.urlsafe_b64encode(f"{batch_id}:{pos}".encode()).decode().rstrip("=")


def _decode_cursor(cursor: str) -> tuple[int, int]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        batch, pos = raw.split(":")
        return int(batch), int(pos)
    except (ValueError, UnicodeDecodeError) as exc:
        raise BadRequest(
            "cursor is not one this API issued", errors=[FieldError(parameter="cursor", detail="invalid cursor")]
        ) from exc


_UNMATCHED = """
SELECT batch_id, pos, unmatched, time, source, event_id, type, subject, client_id, late,
       coalesce(data, 'null'::jsonb)::text
FROM usage_events
WHERE org_id = af_current_org() AND unmatched IS NOT NULL AND (batch_id, pos) > (:batch, :pos) {extra}
ORDER BY batch_id, pos
LIMIT :limit
"""


@get("/usage/unmatched", opt={"action": "usage.read"}, summary="Stored events no client or meter matched")
async def list_unmatched(
    ctx: Ctx,
    limit: Limit = 50,
    cursor: Annotated[str | None, Parameter(description="`next_cursor` of the previous page")] = None,
    reason: Annotated[str | None, Parameter(description="unknown_subject | no_meter")] = None,
) -> Response[UnmatchedPage]:
    """Accepted events that count for nobody yet: their `subject` is no client's external key
    (`unknown_subject`) or no active meter has their `type` (`no_meter`). Oldest first."""
    check_limit(limit)
    batch, pos = _decode_cursor(cursor) if cursor else (0, -1)
    extra = ""
    params: dict[str, Any] = {"batch": batch, "pos": pos, "limit": limit + 1}
    if reason is not None:
        extra += " AND unmatched = :reason"
        params["reason"] = reason
    reach = client_reach(ctx)
    if reach is not None:
        extra += " AND client_id = ANY(:clients)"
        params["clients"] = list(reach)
    rows = (await ctx.session.execute(text(_UNMATCHED.format(extra=extra)), params)).all()
    items = [
        UnmatchedEvent(
            batch_id=r[0],
            pos=r[1],
            reason=r[2],
            time=r[3],
            source=r[4],
            id=r[5],
            type=r[6],
            subject=r[7],
            client_id=r[8],
            late=r[9],
            data=msgspec.Raw(r[10].encode()),
        )
        for r in rows[:limit]
    ]
    next_cursor = _encode_cursor(items[-1].batch_id, items[-1].pos) if len(rows) > limit and items else None
    return json_response(200, UnmatchedPage(items=items, next_cursor=next_cursor))  # type: ignore[return-value]


class RematchRequest(msgspec.Struct, forbid_unknown_fields=True):
    limit: Annotated[int, msgspec.Meta(ge=1, le=10_000)] = 1_000
    reason: Literal["unknown_subject", "no_meter"] | None = None


class RematchOut(msgspec.Struct):
    examined: int
    matched: int
    still_unmatched: int
    invalid: int
    batch_id: int | None


@post(
    "/usage/unmatched/rematch",
    opt={"action": "meters.write"},
    dto=Body[RematchRequest],
    return_dto=None,
    status_code=200,
    summary="Match stored unmatched events against today's clients and meters",
)
async def rematch(request: Request, data: RematchRequest) -> Response[RematchOut]:  # type: ignore[type-arg]
    """After creating the client or meter an unmatched event was missing, this makes the oldest `limit`
    unmatched events count (their late flag is computed now). Events a meter now matches but that fail its
    checks stay listed with reason `invalid:<reason>`. Call again while `examined == limit`."""
    principal: Principal = request.state.principal
    outcome = await rematch_unmatched(
        request.app.state.sessionmaker,
        principal.org_id,
        limit=data.limit,
        reason=data.reason,
        actor=principal.actor,
        api_key_id=principal.key_id,
        request_id=request_id_var.get(),
    )
    return json_response(200, RematchOut(**{f: getattr(outcome, f) for f in RematchOut.__struct_fields__}))  # type: ignore[return-value]


ROUTES = [get_usage, list_unmatched, rematch]
