"""Deleting an organisation, for whoever runs the installation (the platform token, as for creating one).

``DELETE /v1/platform/orgs/{id}`` exports the org's data and soft-deletes it in one transaction
(``persistence.org_deletion``); a repeat answers the first deletion. ``GET …/export`` hands the operator the
zip to pass on to the agency. Both answer 404 when no platform token is configured, as creation does.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from datetime import UTC, datetime
from typing import Any

import msgspec
from litestar import Request, delete, get
from litestar.response import File

from api.platform import platform_operator
from api.problems import NotFound, not_found
from persistence import audit
from persistence.db import tenant_session
from persistence.models import Org
from persistence.org_deletion import OrgNotFound, delete_org
from workflows.org_stop import stop_org_workflows

log = logging.getLogger(__name__)
STOP_TIMEOUT_S = 20.0


class DeletedOrgOut(msgspec.Struct):
    org_id: uuid.UUID
    slug: str
    deleted_at: datetime
    deleted_by: str
    export_name: str
    export_sha256: str
    export_url: str
    rows_exported: dict[str, int]
    """Per table; empty when this answers an earlier deletion."""
    already_deleted: bool
    workflows_stopped: int | None
    """Engagements and billing cycles this call terminated (``workflows.org_stop``); null when Temporal could
    not be reached in time: the deletion stands, and repeating the DELETE stops them."""


@delete(
    "/platform/orgs/{org_id:uuid}",
    opt={"public": True},
    status_code=200,
    summary="Export an organisation's data, then soft-delete it (platform operator)",
)
async def delete_platform_org(request: Request[Any, Any, Any], org_id: uuid.UUID) -> DeletedOrgOut:
    settings = platform_operator(request)
    async with tenant_session(request.app.state.sessionmaker, org_id) as session:
        try:
            deleted = await delete_org(
                session,
                org_id,
                actor=audit.Actor(type="platform", id="operator"),
                exports_dir=settings.home / "exports",
                now=datetime.now(UTC),
            )
        except OrgNotFound:
            raise not_found("organisation", org_id) from None
    stopped = await _stop_workflows(request, org_id)
    return DeletedOrgOut(
        org_id=deleted.org_id,
        slug=deleted.slug,
        deleted_at=deleted.deleted_at,
        deleted_by=deleted.deleted_by,
        export_name=deleted.export_name,
        export_sha256=deleted.export_sha256,
        export_url=f"/v1/platform/orgs/{deleted.org_id}/export",
        rows_exported=deleted.rows,
        already_deleted=deleted.already,
        workflows_stopped=stopped,
    )


async def _stop_workflows(request: Request[Any, Any, Any], org_id: uuid.UUID) -> int | None:
    """After the deletion committed: a Temporal outage must not undo it or hang the operator's request."""
    try:
        client = await asyncio.wait_for(request.app.state.temporal_client(), timeout=STOP_TIMEOUT_S)
        return await asyncio.wait_for(stop_org_workflows(client, org_id), timeout=STOP_TIMEOUT_S)
    except Exception as exc:  # reported as null; repeating the DELETE retries
        log.warning("org %s deleted; its workflows were not stopped: %s", org_id, type(exc).__name__)
        return None


@get(
    "/platform/orgs/{org_id:uuid}/export",
    opt={"public": True},
    media_type="application/zip",
    summary="Download a deleted organisation's export (platform operator)",
)
async def download_org_export(request: Request[Any, Any, Any], org_id: uuid.UUID) -> File:
    settings = platform_operator(request)
    async with tenant_session(request.app.state.sessionmaker, org_id) as session:
        org = await session.get(Org, org_id)
        if org is None or org.export_name is None:
            raise not_found("organisation export", org_id)
        name = org.export_name
    path = settings.home / "exports" / name
    if not await asyncio.to_thread(path.is_file):
        raise NotFound(f"the export {name} is no longer on this server (exports live in {path.parent.name}/)")
    return File(path=path, filename=name, media_type="application/zip")


ROUTES = [delete_platform_org, download_org_export]
