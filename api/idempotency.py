"""``Idempotency-Key`` for creating POSTs: same key and body replay the first response (status, body, ETag
and Location), a different body with the same key is refused (422), and concurrent retries serialise on the
key's row.

The key row is inserted first, in the request's own transaction: a concurrent duplicate blocks on that
row until the first request commits (then replays it) or rolls back (then runs itself).
"""

from __future__ import annotations

import hashlib
from collections.abc import Awaitable, Callable
from typing import Any

from litestar import Response
from sqlalchemy import text

from api.context import Ctx
from api.problems import BadRequest, Conflict, FieldError, ValidationFailed
from core import plain_decimal

_encoder = plain_decimal.Encoder()  # Decimals in plain fixed-point form

_CLAIM = text(
    "INSERT INTO idempotency_keys (org_id, scope, key, request_hash, status_code, response_body, content_type) "
    "VALUES (:org_id, :scope, :key, :hash, 0, ''::bytea, '') ON CONFLICT DO NOTHING RETURNING 1"
)
_LOAD = text(
    "SELECT request_hash, status_code, response_body, content_type, response_headers FROM idempotency_keys "
    "WHERE org_id = :org_id AND scope = :scope AND key = :key"
)
_STORE = text(
    "UPDATE idempotency_keys SET status_code = :status, response_body = :body, content_type = :ctype, "
    "response_headers = CAST(:headers AS jsonb) WHERE org_id = :org_id AND scope = :scope AND key = :key"
)
# The headers a replay repeats: the ones that describe the created resource (never per-request ones).
_REPLAYED_HEADERS = ("ETag", "Location")

JSON = "application/json"


def json_response(status: int, body: Any, headers: dict[str, str] | None = None) -> Response[bytes]:
    return Response(_encoder.encode(body), status_code=status, media_type=JSON, headers=headers)


async def idempotent_create(
    ctx: Ctx,
    create: Callable[[], Awaitable[tuple[int, Any, dict[str, str]]]],
    *,
    carries_secret: bool = False,
) -> Response[bytes]:
    """``carries_secret``: the response shows a secret once (an API key token, a webhook signing secret). A
    retry must get it back, so the stored copy is kept sealed (``core.secret_box``): otherwise the table
    would hold for a day, readable, exactly what the rest of the product never stores."""
    key = ctx.request.headers.get("idempotency-key")
    if key is None:
        status, body, headers = await create()
        return json_response(status, body, headers)
    if not 1 <= len(key) <= 255:
        raise BadRequest(
            "Idempotency-Key must be 1 to 255 characters",
            errors=[FieldError(parameter="Idempotency-Key", detail="must be 1 to 255 characters")],
        )
    raw = await ctx.request.body()
    request_hash = hashlib.sha256(raw).hexdigest()
    params = {
        "org_id": ctx.org_id,
        "scope": f"{ctx.request.method} {ctx.request.url.path}",
        "key": key,
    }
    claimed = (await ctx.session.execute(_CLAIM, {**params, "hash": request_hash})).first()
    if claimed is None:
        row = (await ctx.session.execute(_LOAD, params)).one()
        if row.request_hash != request_hash:
            raise ValidationFailed(
                "this Idempotency-Key was already used with a different request body",
                errors=[FieldError(parameter="Idempotency-Key", detail="reused with a different body")],
            )
        if row.status_code == 0:  # pragma: no cover - only visible if the first request is still running
            raise Conflict("a request with this Idempotency-Key is still in progress")
        replayed = bytes(row.response_body)
        if carries_secret:
            replayed = ctx.secret_box.open(replayed.decode()).encode()
        return Response(
            replayed,
            status_code=row.status_code,
            media_type=row.content_type,
            headers={**(row.response_headers or {}), "Idempotent-Replayed": "true"},
        )
    status, body, headers = await create()
    encoded = _encoder.encode(body)
    stored = ctx.secret_box.seal(encoded.decode()).encode() if carries_secret else encoded
    kept = {name: value for name, value in (headers or {}).items() if name in _REPLAYED_HEADERS}
    await ctx.session.execute(
        _STORE, {**params, "status": status, "body": stored, "ctype": JSON, "headers": _encoder.encode(kept).decode()}
    )
    return Response(encoded, status_code=status, media_type=JSON, headers=headers)
