"""The shared shape of a tenant-owned REST resource: fetch-or-404, keyset pages, ETag'd reads, audited
patches and deletes. Route modules describe *their* resource; this module is the one place the rules live.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any, TypeVar

import msgspec
from litestar import Response
from sqlalchemy import Select, select
from sqlalchemy.exc import IntegrityError

from api.context import Ctx
from api.etags import check_if_match, etag_for, not_modified
from api.idempotency import json_response
from api.member_scope import narrow
from api.pagination import Page, page_of, paginate
from api.problems import Conflict, not_found
from core import plain_decimal

Out = TypeVar("Out", bound=msgspec.Struct)
_encoder = plain_decimal.Encoder()  # Decimals in plain fixed-point form


def to_out(row: Any, out_type: type[Out]) -> Out:
    return msgspec.convert(row, out_type, from_attributes=True)


def state_of(row: Any, out_type: type[msgspec.Struct]) -> dict[str, Any]:
    """A row's representation as plain JSON data, the thing audit digests are taken over."""
    result: dict[str, Any] = msgspec.json.decode(_encoder.encode(to_out(row, out_type)))
    return result


async def get_row(ctx: Ctx, model: Any, row_id: uuid.UUID, entity: str, *, for_update: bool = False) -> Any:
    query = await narrow(ctx, select(model).where(model.id == row_id), model)
    if for_update:
        query = query.with_for_update()
    row = (await ctx.session.execute(query)).scalar_one_or_none()
    if row is None:
        raise not_found(entity, row_id)
    return row


async def list_page(
    ctx: Ctx, query: Select[Any], model: Any, out_type: type[Out], limit: int, cursor: str | None
) -> Page[Out]:
    query = await narrow(ctx, query, model)
    rows = (await ctx.session.execute(paginate(query, model.id, limit, cursor))).scalars().all()
    items, next_cursor = page_of(rows, limit, lambda row: row.id)
    return Page(items=[to_out(row, out_type) for row in items], next_cursor=next_cursor)


def read_response(ctx: Ctx, row: Any, out_type: type[msgspec.Struct]) -> Response[bytes]:
    if not_modified(ctx.request, row.version):
        return Response(b"", status_code=304, headers={"ETag": etag_for(row.version)})
    return json_response(200, to_out(row, out_type), {"ETag": etag_for(row.version)})


async def create_row(
    ctx: Ctx, row: Any, out_type: type[msgspec.Struct], entity: str, *, location: str
) -> tuple[int, Any, dict[str, str]]:
    ctx.session.add(row)
    await ctx.session.flush()
    after = state_of(row, out_type)
    await ctx.audit(f"{entity}.create", entity, row.id, after=after)
    return 201, to_out(row, out_type), {"ETag": etag_for(row.version), "Location": f"{location}/{row.id}"}


async def patch_row(
    ctx: Ctx,
    row: Any,
    patch: msgspec.Struct,
    out_type: type[msgspec.Struct],
    entity: str,
    *,
    check: Callable[[Any], None] | None = None,
) -> Response[bytes]:
    check_if_match(ctx.request, row.version)
    before = state_of(row, out_type)
    changes = {name: value for name, value in msgspec.structs.asdict(patch).items() if value is not msgspec.UNSET}
    for name, value in changes.items():
        # Nested structs live in JSONB columns as plain data.
        setattr(row, name, msgspec.to_builtins(value) if isinstance(value, msgspec.Struct) else value)
    if check is not None:
        check(row)
    if changes:
        await ctx.session.flush()
    after = state_of(row, out_type)
    await ctx.audit(f"{entity}.update", entity, row.id, before=before, after=after, detail={"fields": sorted(changes)})
    return json_response(200, to_out(row, out_type), {"ETag": etag_for(row.version)})


async def delete_row(ctx: Ctx, row: Any, out_type: type[msgspec.Struct], entity: str) -> Response[bytes]:
    check_if_match(ctx.request, row.version)
    before = state_of(row, out_type)
    try:
        async with ctx.session.begin_nested():
            await ctx.session.delete(row)
            await ctx.session.flush()
    except IntegrityError as exc:
        raise Conflict(f"{entity} {row.id} is still referenced by other records; archive it instead") from exc
    await ctx.audit(f"{entity}.delete", entity, row.id, before=before)
    return Response(b"", status_code=204)
