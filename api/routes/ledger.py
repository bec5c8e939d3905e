"""``GET /v1/ledger``: the org's Beancount ledger file, for an accountant to load, check and query.

The file is written only by the ledger workflows (invoices, credit grants, credit notes), each posting once
and checked with ``bean-check`` before it lands; this route hands it over as it is, and audits the read.
"""

from __future__ import annotations

import asyncio
import hashlib
from pathlib import Path
from typing import Any

from litestar import Response, get

from api.context import Ctx
from api.problems import NotFound


def _read(path: Path) -> bytes | None:
    return path.read_bytes() if path.exists() else None


@get(
    "/ledger",
    opt={"action": "ledger.read"},
    media_type="text/plain",
    summary="Download the organisation's Beancount ledger",
)
async def download_ledger(ctx: Ctx) -> Response[bytes]:
    settings: Any = ctx.request.app.state.settings
    content = await asyncio.to_thread(_read, settings.ledger_dir / f"{ctx.org_id}.beancount")
    if content is None:
        raise NotFound("nothing has been posted to this organisation's ledger yet")
    digest = hashlib.sha256(content).hexdigest()
    await ctx.audit("ledger.download", "ledger", ctx.org_id, detail={"sha256": digest, "bytes": len(content)})
    return Response(
        content=content,
        media_type="text/plain; charset=utf-8",
        headers={"Content-Disposition": 'attachment; filename="ledger.beancount"', "Digest": f"sha-256={digest}"},
    )


ROUTES = [download_ledger]
