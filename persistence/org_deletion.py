"""Deleting an organisation: export everything it owns first, then a soft delete that locks everyone out.

The rows stay (invoices and the audit log are financial records a regulator may ask for), so "deleted"
means: nobody signs in any more (keys, sessions and open invites revoked in the same transaction; the
login lookup skips the org), and the owner holds an export taken just before. The export is one zip with
a JSON-lines file per tenant table, read under the org's own row-level security, so it can only hold that
org's rows; credential columns (hashes, sealed secrets, TOTP seeds) are left out of it by name.

Deleting twice answers the first deletion's record: a retried CLI run or API call does not export again.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import re
import uuid
import zipfile
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import select, text, update
from sqlalchemy.ext.asyncio import AsyncSession

from persistence import audit
from persistence.models import ApiKey, Invite, Org, UserSession

CREDENTIAL_COLUMN = re.compile(r"secret|password|token|sealed|totp|recovery|csrf|_hash$", re.IGNORECASE)
"""Columns never exported: whoever holds the zip must not hold a way in (or a webhook's signing key)."""

_TENANT_TABLES = text(
    """
    SELECT c.relname AS name
    FROM pg_class c
    JOIN pg_namespace n ON n.oid = c.relnamespace
    JOIN pg_attribute a ON a.attrelid = c.oid AND a.attname = 'org_id' AND NOT a.attisdropped
    WHERE n.nspname = current_schema() AND c.relkind IN ('r', 'p') AND NOT c.relispartition
      AND has_table_privilege(c.oid, 'SELECT')
    ORDER BY c.relname
    """
)
_COLUMNS = text(
    """
    SELECT a.attname AS name
    FROM pg_attribute a
    WHERE a.attrelid = CAST(:table AS regclass) AND a.attnum > 0 AND NOT a.attisdropped
      AND has_column_privilege(a.attrelid, a.attnum, 'SELECT')
    ORDER BY a.attnum
    """
)


@dataclass(frozen=True, slots=True)
class DeletedOrg:
    org_id: uuid.UUID
    slug: str
    deleted_at: datetime
    deleted_by: str
    export_name: str
    export_sha256: str
    rows: dict[str, int]
    """Rows exported per table (empty when this answers an earlier deletion)."""
    already: bool = False


_CHUNK_BYTES = 1 << 20


class OrgNotFound(LookupError):
    pass


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


async def _export_table(
    session: AsyncSession, archive: zipfile.ZipFile, table: str, where: str, org_id: uuid.UUID
) -> tuple[int, list[str]]:
    columns = [r.name for r in (await session.execute(_COLUMNS, {"table": _quote(table)})).all()]
    kept = [c for c in columns if not CREDENTIAL_COLUMN.search(c)]
    dropped = [c for c in columns if CREDENTIAL_COLUMN.search(c)]
    if not kept:
        return 0, dropped
    select_list = ", ".join(_quote(c) for c in kept)
    query = text(f"SELECT row_to_json(t)::text AS row FROM (SELECT {select_list} FROM {_quote(table)} WHERE {where}) t")
    count = 0
    chunk: list[bytes] = []
    size = 0
    # The file work runs in a thread, a chunk at a time, so a large org's export never stalls the event loop.
    with archive.open(f"{table}.jsonl", "w", force_zip64=True) as out:
        result = await session.stream(query, {"org_id": org_id})
        async for row in result:
            line = row.row.encode() + b"\n"
            chunk.append(line)
            size += len(line)
            count += 1
            if size >= _CHUNK_BYTES:
                await asyncio.to_thread(out.write, b"".join(chunk))
                chunk, size = [], 0
        await asyncio.to_thread(out.write, b"".join(chunk))
    return count, dropped


async def delete_org(
    session: AsyncSession, org_id: uuid.UUID, *, actor: audit.Actor, exports_dir: Path, now: datetime
) -> DeletedOrg:
    """In ``session`` (a tenant transaction bound to ``org_id``): export, then mark deleted and revoke access.

    The org row is locked first, so two deletions at once export once; the export is fsynced and renamed
    into place before the deletion is written, so a crash leaves either a live org or a deleted one with
    its export on disk — never a deleted org without one.
    """
    org = (await session.execute(select(Org).where(Org.id == org_id).with_for_update())).scalar_one_or_none()
    if org is None:
        raise OrgNotFound(str(org_id))
    if org.deleted_at is not None:
        by, name, digest = org.deleted_by or "", org.export_name or "", org.export_sha256 or ""
        return DeletedOrg(org.id, org.slug, org.deleted_at, by, name, digest, {}, already=True)
    await asyncio.to_thread(exports_dir.mkdir, parents=True, exist_ok=True)
    name = f"{org.slug}-{now.strftime('%Y%m%dT%H%M%SZ')}.zip"
    final = exports_dir / name
    partial = exports_dir / (name + ".partial")
    rows: dict[str, int] = {}
    excluded: dict[str, list[str]] = {}
    try:
        with zipfile.ZipFile(partial, "w", compression=zipfile.ZIP_DEFLATED) as archive:
            rows["orgs"], _ = await _export_table(session, archive, "orgs", "id = :org_id", org_id)
            tables = [r.name for r in (await session.execute(_TENANT_TABLES)).all()]
            for table in tables:
                rows[table], dropped = await _export_table(session, archive, table, "org_id = :org_id", org_id)
                if dropped:
                    excluded[table] = dropped
            manifest = {
                "org_id": str(org_id),
                "slug": org.slug,
                "name": org.name,
                "exported_at": now.isoformat(),
                "rows": rows,
                "excluded_columns": excluded,
                "format": "one JSON object per line per table, as PostgreSQL's row_to_json writes it",
            }
            archive.writestr("manifest.json", json.dumps(manifest, indent=2, sort_keys=True))
        digest = await asyncio.to_thread(_seal, partial, final)
    finally:
        await asyncio.to_thread(partial.unlink, missing_ok=True)
    by = actor.type if actor.user_id is None else f"{actor.type}:{actor.user_id}"
    by = f"{by}:{actor.id}"[:200]
    await session.execute(
        update(Org)
        .where(Org.id == org_id)
        .values(deleted_at=now, deleted_by=by, export_name=name, export_sha256=digest, version=Org.version + 1)
    )
    revoked = await _revoke_everything(session, now)
    await audit.record(
        session,
        org_id=org_id,
        actor=actor,
        action="org.delete",
        entity_type="org",
        entity_id=org_id,
        before={"slug": org.slug},
        after={"deleted_at": now.isoformat(), "export_name": name, "export_sha256": digest},
        detail={"rows_exported": rows, **revoked},
    )
    return DeletedOrg(org_id, org.slug, now, by, name, digest, rows)


def _seal(partial: Path, final: Path) -> str:
    """Hash and fsync the finished zip, then move it into place (a reader never sees half an export)."""
    with partial.open("rb") as handle:
        digest = hashlib.file_digest(handle, "sha256").hexdigest()
        os.fsync(handle.fileno())
    partial.replace(final)
    return digest


async def _revoke_everything(session: AsyncSession, now: datetime) -> dict[str, Any]:
    keys = await session.execute(
        update(ApiKey).where(ApiKey.revoked_at.is_(None)).values(revoked_at=now, version=ApiKey.version + 1)
    )
    sessions = await session.execute(update(UserSession).where(UserSession.revoked_at.is_(None)).values(revoked_at=now))
    invites = await session.execute(
        update(Invite)
        .where(Invite.accepted_at.is_(None), Invite.revoked_at.is_(None))
        .values(revoked_at=now, version=Invite.version + 1)
    )
    return {
        "keys_revoked": keys.rowcount,  # type: ignore[attr-defined]
        "sessions_revoked": sessions.rowcount,  # type: ignore[attr-defined]
        "invites_revoked": invites.rowcount,  # type: ignore[attr-defined]
    }
