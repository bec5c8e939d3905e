"""Rewrite every stored sealed secret at once: sealing at upgrade, opening at downgrade, resealing after a
key rotation (``agencyflow secrets reseal``).

It sweeps every tenant, so it runs on an admin connection acting as the table owner, and gives that role a
policy seeing all rows for its own transaction only: the app role never gains cross-tenant reach.
"""

from __future__ import annotations

from collections.abc import Callable

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from core.settings import OWNER_ROLE

SECRET_SCOPES = ["POST /v1/api-keys", "POST /v1/webhooks"]
"""Idempotency scopes whose stored responses carry a secret (``idempotent_create(carries_secret=True)``)."""

_POLICY = "sealing_secrets"


def rewrite_sealed(bind: Connection, transform: Callable[[str], str]) -> int:
    """Apply ``transform`` to every webhook signing secret and every stored secret-bearing response; returns
    how many values were rewritten. Must run inside the caller's transaction, as the owner role."""
    bind.execute(
        sa.text(f'CREATE POLICY {_POLICY} ON webhook_endpoints TO "{OWNER_ROLE}" USING (true) WITH CHECK (true)')
    )
    rewritten = 0
    for row in bind.execute(sa.text("SELECT id, secret FROM webhook_endpoints")).all():
        bind.execute(
            sa.text("UPDATE webhook_endpoints SET secret = :secret WHERE id = :id"),
            {"id": row.id, "secret": transform(row.secret)},
        )
        rewritten += 1
    bind.execute(sa.text(f"DROP POLICY {_POLICY} ON webhook_endpoints"))
    replays = bind.execute(
        sa.text(
            "SELECT org_id, scope, key, response_body FROM idempotency_keys "
            "WHERE scope = ANY(:scopes) AND status_code > 0"
        ),
        {"scopes": SECRET_SCOPES},
    ).all()
    for row in replays:
        bind.execute(
            sa.text(
                "UPDATE idempotency_keys SET response_body = :body "
                "WHERE org_id = :org_id AND scope = :scope AND key = :key"
            ),
            {
                "org_id": row.org_id,
                "scope": row.scope,
                "key": row.key,
                "body": transform(bytes(row.response_body).decode()).encode(),
            },
        )
        rewritten += 1
    return rewritten
