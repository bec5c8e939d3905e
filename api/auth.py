"""API-key authentication and the permission check, run before the body is even decoded.

Order matters: an unauthenticated caller must get 401 and a forbidden one 403 before we tell either of
them anything about what a valid body would look like.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass

from litestar import Request

from api.problems import Forbidden, Unauthorized
from core import api_keys
from core.logging import org_id_var
from core.permissions import PERMISSIONS, Role
from persistence.audit import Actor
from persistence.db import raw_tenant_transaction

_LOOKUP = "SELECT id, secret_hash, role, scopes, user_id, client_id, revoked_at FROM api_keys WHERE prefix = $1"
_TOUCH = "UPDATE api_keys SET last_used_at = now() WHERE id = $1"
_TOUCH_EVERY_S = 60.0
# The API's own documentation is public; everything under /v1 needs a key.
PUBLIC_PREFIXES = ("/schema",)
_last_touch: dict[uuid.UUID, float] = {}


@dataclass(frozen=True, slots=True)
class Principal:
    org_id: uuid.UUID
    key_id: uuid.UUID
    role: Role
    scopes: frozenset[str]
    user_id: uuid.UUID | None
    client_id: uuid.UUID | None

    @property
    def actor(self) -> Actor:
        return Actor(type="api_key", id=str(self.key_id), user_id=self.user_id, role=self.role.value)

    def can(self, action: str) -> bool:
        roles, scope = PERMISSIONS[action]
        return self.role in roles and scope.value in self.scopes


def bearer_token(request: Request) -> str | None:
    header = request.headers.get("authorization")
    if header:
        scheme, _, value = header.partition(" ")
        if scheme.lower() == "bearer" and value.strip():
            return value.strip()
        return None
    return request.headers.get("x-api-key")


async def authenticate(request: Request) -> None:
    """``before_request`` hook: resolve the principal and enforce the handler's declared action."""
    opt = request.route_handler.opt
    if opt.get("public") or request.scope["path"].startswith(PUBLIC_PREFIXES):
        return
    token = bearer_token(request)
    parsed = api_keys.parse(token) if token else None
    if parsed is None:
        raise Unauthorized()
    # Every request pays for this lookup, so it runs on the pooled driver connection, not through the ORM.
    async with raw_tenant_transaction(request.app.state.sessionmaker, parsed.org_id) as conn:
        row = await conn.fetchrow(_LOOKUP, parsed.prefix)
        if row is None or row["revoked_at"] is not None or not api_keys.verify(parsed.secret, row["secret_hash"]):
            raise Unauthorized()
        now = time.monotonic()
        if now - _last_touch.get(row["id"], -_TOUCH_EVERY_S) >= _TOUCH_EVERY_S:
            _last_touch[row["id"]] = now
            await conn.execute(_TOUCH, row["id"])
    principal = Principal(
        org_id=parsed.org_id,
        key_id=row["id"],
        role=Role(row["role"]),
        scopes=frozenset(row["scopes"]),
        user_id=row["user_id"],
        client_id=row["client_id"],
    )
    request.state.principal = principal
    org_id_var.set(str(principal.org_id))
    action = opt.get("action")
    if action is None:
        raise RuntimeError(f"route {request.url.path} declares neither an action nor public access")
    if not principal.can(action):
        raise Forbidden(f"role {principal.role.value} with scopes {sorted(principal.scopes)} may not {action}")
