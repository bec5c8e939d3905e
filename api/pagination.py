"""Cursor pagination over time-ordered ids: new rows sort after every cursor, so pages never shift."""

from __future__ import annotations

import base64
import uuid
from collections.abc import Sequence
from typing import Annotated, Any, Generic, TypeVar

import msgspec
from litestar.params import QueryParameter
from sqlalchemy import Select

from api.problems import BadRequest, FieldError

T = TypeVar("T")
MAX_LIMIT = 200

Limit = Annotated[int, QueryParameter(ge=1, le=MAX_LIMIT, description="page size (1 to 200)")]
Cursor = Annotated[
    str | None,
    QueryParameter(description="`next_cursor` of the previous page", pattern=r"^[A-Za-z0-9_-]{22}$"),
]


class Page(msgspec.Struct, Generic[T]):
    items: list[T]
    next_cursor: str | None = None


def encode_cursor(last_id: uuid.UUID) -> str:
    return base64.urlsafe_b64encode(last_id.bytes).decode().rstrip("=")


def decode_cursor(cursor: str) -> uuid.UUID:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        return uuid.UUID(bytes=raw)
    except (ValueError, TypeError) as exc:
        raise BadRequest(
            "cursor is not one this API issued",
            errors=[FieldError(parameter="cursor", detail="invalid cursor")],
        ) from exc


def check_limit(limit: int) -> int:
    if not 1 <= limit <= MAX_LIMIT:
        raise BadRequest(
            f"limit must be between 1 and {MAX_LIMIT}",
            errors=[FieldError(parameter="limit", detail=f"must be between 1 and {MAX_LIMIT}")],
        )
    return limit


def paginate(query: Select[Any], id_column: Any, limit: int, cursor: str | None) -> Select[Any]:
    """Apply keyset pagination; fetch one extra row to know whether a next page exists."""
    check_limit(limit)
    if cursor:
        query = query.where(id_column > decode_cursor(cursor))
    return query.order_by(id_column).limit(limit + 1)


def page_of(rows: Sequence[T], limit: int, id_of: Any) -> tuple[list[T], str | None]:
    items = list(rows[:limit])
    next_cursor = encode_cursor(id_of(items[-1])) if len(rows) > limit and items else None
    return items, next_cursor
