"""``POST /v1/events``: CloudEvents 1.0 usage ingest, single or batched, with per-event results.

This handler deliberately does not take ``ctx``: it must refuse oversized, malformed or rate-limited bodies
before borrowing a database connection, and it opens its own tenant transaction (``persistence.ingest``)
that is retried as a whole on deadlock. It audits in that transaction like every other mutation.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import msgspec
from litestar import Request, Response, post
from litestar.openapi.spec import OpenAPIMediaType, OpenAPIResponse, Operation, RequestBody, Schema
from litestar.openapi.spec.enums import OpenAPIType

from api import cloudevents_binary
from api.auth import Principal
from api.problems import (
    PROBLEM_MEDIA_TYPE,
    FieldError,
    MalformedJson,
    PayloadTooLarge,
    TooManyRequests,
    UnsupportedMediaType,
    ValidationFailed,
)
from api.rate_limits import TokenBuckets as TokenBuckets  # re-exported: the events limiter was born here
from api.rate_limits import limiter, retry_after
from core.logging import request_id_var
from persistence.ingest import (
    MAX_BATCH_EVENTS,
    BodyError,
    CloudEvent,
    EventResult,
    Rejected,
    body_has_nul,
    decode_body,
    ingest,
)

SINGLE = "application/cloudevents+json"
BATCH = "application/cloudevents-batch+json"
JSON = "application/json"
_encoder = msgspec.json.Encoder()


class IngestResponse(msgspec.Struct):
    """Counts plus one result per request index, in order."""

    batch_id: int | None
    accepted: int
    duplicates: int
    rejected: int
    late: int
    unmatched: int
    results: list[EventResult]


# ---- per-key token bucket ------------------------------------------------------------------------------------


def _limiter(request: Request[Any, Any, Any]) -> TokenBuckets:
    settings = request.app.state.settings
    return limiter(request, "events_limiter", settings.events_rate_per_s, settings.events_burst)


# ---- body ----------------------------------------------------------------------------------------------------


async def _read_body(request: Request[Any, Any, Any], limit: int) -> bytes:
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise PayloadTooLarge(f"the body is {declared} bytes; the events endpoint accepts at most {limit}")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise PayloadTooLarge(f"the body exceeds {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


def _mode(content_type: str) -> bool | None:
    media = content_type.split(";", 1)[0].strip().lower()
    if media == BATCH:
        return True
    if media == SINGLE:
        return False
    if media == JSON:
        return None
    raise UnsupportedMediaType(
        f"send {SINGLE} (one event), {BATCH} (an array) or {JSON}; not {content_type or 'no Content-Type'}"
    )


# ---- OpenAPI -------------------------------------------------------------------------------------------------

_EVENT_SCHEMA = Schema(
    type=OpenAPIType.OBJECT,
    required=["specversion", "id", "source", "type", "subject", "time"],
    properties={
        "specversion": Schema(type=OpenAPIType.STRING, const="1.0"),
        "id": Schema(type=OpenAPIType.STRING, max_length=256, description="unique per source; dedupe key"),
        "source": Schema(type=OpenAPIType.STRING, max_length=512),
        "type": Schema(type=OpenAPIType.STRING, description="matched against meters' event_type"),
        "subject": Schema(type=OpenAPIType.STRING, description="the client's external_key"),
        "time": Schema(type=OpenAPIType.STRING, format="date-time", description="RFC 3339 with an offset"),
        "data": Schema(type=OpenAPIType.OBJECT, description="meter paths point into this object"),
    },
    examples=[
        {
            "specversion": "1.0",
            "id": "2f1c0e0a-1b7e-4c55-9a0e-4c1f2b7f6f01",
            "source": "https://app.example/assistant",
            "type": "com.example.ai.tokens",
            "subject": "acme",
            "time": "2026-11-24T10:15:00Z",
            "data": {"site": "berlin", "model": "gpt-4o", "tokens": 1234, "cost": 0.0185},
        }
    ],
)


@dataclass
class EventsOperation(Operation):
    """Documents the raw body the handler reads itself (three media types, one schema)."""

    def __post_init__(self) -> None:
        batch = Schema(type=OpenAPIType.ARRAY, items=_EVENT_SCHEMA, max_items=MAX_BATCH_EVENTS, min_items=1)
        self.request_body = RequestBody(
            required=True,
            description=f"One CloudEvent, or a batch of up to {MAX_BATCH_EVENTS}.",
            content={
                SINGLE: OpenAPIMediaType(schema=_EVENT_SCHEMA),
                BATCH: OpenAPIMediaType(schema=batch),
                JSON: OpenAPIMediaType(schema=Schema(one_of=[_EVENT_SCHEMA, batch])),
            },
        )
        self.responses = self.responses or {}
        self.responses["422"] = OpenAPIResponse(
            description="A single event was rejected (the reason is in extra.reason), or the body is not an "
            "event/array.",
            content={PROBLEM_MEDIA_TYPE: OpenAPIMediaType(schema=Schema(type=OpenAPIType.OBJECT))},
        )


# ---- the handler ---------------------------------------------------------------------------------------------


@post(
    "/events",
    opt={"action": "events.write", "own_rate_limit": True},
    request_max_body_size=None,
    operation_class=EventsOperation,
    status_code=200,
    summary="Ingest usage events (CloudEvents 1.0, single or batch)",
)
async def ingest_events(request: Request[Any, Any, Any]) -> Response[IngestResponse]:
    """Each event is accepted, a duplicate (same `source` and `id` as an earlier event, in this batch or
    before), or rejected with a reason; a bad event never rejects the others. Accepted events whose client
    or meter is unknown are stored as `unmatched` (see `GET /v1/usage/unmatched`); events in an invoiced
    period are stored as `late`. The API key needs the `events:write` scope; over the per-key rate the
    answer is 429 with `Retry-After`.

    Binary content mode (the CloudEvents HTTP binding) works too: send the attributes as `ce-specversion`,
    `ce-id`, `ce-source`, `ce-type`, `ce-subject`, `ce-time` headers and the event's JSON `data` as the
    body (`Content-Type: application/json`)."""
    principal: Principal = request.state.principal
    settings = request.app.state.settings
    content_type = request.headers.get("content-type", "")
    media_type = content_type.split(";", 1)[0].strip().lower()
    binary = cloudevents_binary.is_binary(request.headers, media_type)
    batch = None if binary else _mode(content_type)
    body = await _read_body(request, settings.events_max_body_bytes)
    if binary:
        event = cloudevents_binary.binary_event(request.headers, media_type, body)
        events: list[CloudEvent | Rejected] = [event]
        is_batch = False
        check_nul = body_has_nul(body) or cloudevents_binary.has_nul(event)
    else:
        try:
            events, is_batch = decode_body(body, batch=batch)
        except BodyError as exc:
            if exc.status == 400:
                raise MalformedJson(exc.detail) from exc
            if exc.status == 413:
                raise PayloadTooLarge(exc.detail) from exc
            raise ValidationFailed(exc.detail, errors=[FieldError(pointer="/", detail=exc.detail)]) from exc
        check_nul = body_has_nul(body)
    wait = _limiter(request).take(principal.key_id, len(events))
    if wait is not None:
        raise TooManyRequests(retry_after(wait), f"over {settings.events_rate_per_s:g} events/s for this key")
    outcome = await ingest(
        request.app.state.sessionmaker,
        principal.org_id,
        events,
        actor=principal.actor,
        api_key_id=principal.key_id,
        request_id=request_id_var.get(),
        check_nul=check_nul,
        body=None if binary else body,
    )
    if not is_batch and outcome.rejected:
        result = outcome.results[0]
        detail = result.detail or "rejected"
        error = (
            cloudevents_binary.field_error(result.pointer, detail)
            if binary
            else FieldError(pointer=result.pointer or "/", detail=detail)
        )
        raise ValidationFailed(f"event rejected: {result.detail}", errors=[error], extra={"reason": result.reason})
    response = IngestResponse(
        batch_id=outcome.batch_id,
        accepted=outcome.accepted,
        duplicates=outcome.duplicates,
        rejected=outcome.rejected,
        late=outcome.late,
        unmatched=outcome.unmatched,
        results=outcome.results,
    )
    return Response(_encoder.encode(response), status_code=200, media_type=JSON)  # type: ignore[arg-type]


ROUTES = [ingest_events]
