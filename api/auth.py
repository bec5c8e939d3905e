"""API-key authentication and the permission check, run before the body is even decoded.

Order matters: an unauthenticated caller must get 401 and a forbidden one 403 before we tell either of
them anything about what a valid body would look like.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from litestar import Request

from api.problems import Forbidden, TooManyRequests, Unauthorized
from api.rate_limits import limiter, retry_after
from api.sessions import SESSION_COOKIE, require_step_up, session_principal
from core import api_keys
from core.logging import org_id_var
from core.permissions import PERMISSIONS, SCOPED_ACTIONS, Role
from identity.tokens import parse_org_token
from persistence.audit import Actor
from persistence.db import raw_tenant_transaction

# A personal key (one with a user) acts with at most its person's current role: the membership is read with it,
# and a key whose person is no longer a member does not authenticate at all.
_LOOKUP = (
    "SELECT k.id, k.secret_hash, k.role, k.scopes, k.user_id, k.client_id, k.revoked_at, m.role AS member_role, "
    "m.scope_client_ids, m.scope_project_ids "
    "FROM api_keys k LEFT JOIN memberships m ON m.user_id = k.user_id WHERE k.prefix = $1 "
    # a deleted org's keys were revoked with it; this also refuses one minted by a request racing the deletion
    "AND NOT EXISTS (SELECT 1 FROM orgs o WHERE o.deleted_at IS NOT NULL)"
)
_TOUCH = "UPDATE api_keys SET last_used_at = now() WHERE id = $1"
_TOUCH_EVERY_S = 60.0
# The API's own documentation is public; everything under /v1 needs a key.
PUBLIC_PREFIXES = ("/schema",)
_last_touch: dict[uuid.UUID, float] = {}
MONEY_DECISIONS = frozenset({"invoices.approve", "invoices.adjust", "invoices.void", "credit_notes.write"})
"""Approving, rejecting, adjusting, resolving or voiding an invoice and issuing a credit note: a person must
answer for these, so a service key (one that acts for nobody) is refused whatever its role."""


@dataclass(frozen=True, slots=True)
class Principal:
    org_id: uuid.UUID
    key_id: uuid.UUID
    role: Role
    scopes: frozenset[str]
    user_id: uuid.UUID | None
    client_id: uuid.UUID | None
    # A browser session (``api.sessions``): ``key_id`` is then the session's id.
    session_id: uuid.UUID | None = None
    mfa_enabled: bool = False
    mfa_verified_at: datetime | None = None
    mfa_roles: frozenset[str] = frozenset()
    # A personal key's person's role: the key may do only what both its own role and this one allow.
    member_role: Role | None = None
    # A membership scoped to some clients/projects (``api.member_scope``): None means the role's whole reach.
    scope_clients: frozenset[uuid.UUID] | None = None
    scope_projects: frozenset[uuid.UUID] | None = None

    @property
    def scoped(self) -> bool:
        return self.scope_clients is not None

    @property
    def actor(self) -> Actor:
        kind = "api_key" if self.session_id is None else "session"
        return Actor(type=kind, id=str(self.key_id), user_id=self.user_id, role=self.role.value)

    def can(self, action: str) -> bool:
        roles, scope = PERMISSIONS[action]
        capped = self.member_role is None or self.member_role in roles
        return self.role in roles and capped and scope.value in self.scopes


def member_scope(
    clients: list[uuid.UUID] | None, projects: list[uuid.UUID] | None
) -> tuple[frozenset[uuid.UUID] | None, frozenset[uuid.UUID] | None]:
    """A membership's scope columns as the principal carries them: both empty (or no membership) is unscoped."""
    if not clients and not projects:
        return None, None
    return frozenset(clients or ()), frozenset(projects or ())


def bearer_token(request: Request) -> str | None:
    header = request.headers.get("authorization")
    if header:
        scheme, _, value = header.partition(" ")
        if scheme.lower() == "bearer" and value.strip():
            return value.strip()
        return None
    return request.headers.get("x-api-key")


def _client_address(request: Request[Any, Any, Any]) -> str:
    """The peer address as the server sees it. Behind a proxy, run uvicorn with ``--proxy-headers`` and
    ``--forwarded-allow-ips`` so this is the real client, not the proxy (docs/api.md, "Rate limits")."""
    client = request.scope.get("client")
    return str(client[0]) if client else "unknown"


async def authenticate(request: Request) -> None:
    """``before_request`` hook: resolve the principal and enforce the handler's declared action.

    Preflight ``OPTIONS`` requests carry no credentials by design (browsers never send them), so they pass
    unauthenticated; they reveal only which methods a path allows (``api.cors``).

    Failed authentications are limited per client address *and* the organisation the token claims: once a
    source has failed too often for one org it gets 429 before any lookup, while keys of other orgs sent
    from the same address (one office, one proxy) keep working.
    """
    opt = request.route_handler.opt
    if request.method == "OPTIONS" or opt.get("public") or request.scope["path"].startswith(PUBLIC_PREFIXES):
        return
    settings = request.app.state.settings
    token = bearer_token(request)
    cookie = request.cookies.get(SESSION_COOKIE) if token is None else None
    if cookie:
        await _check_session(request, settings, cookie, opt)
        return
    parsed = api_keys.parse(token) if token else None
    failures = limiter(request, "auth_fail_limiter", settings.auth_fail_rate_per_s, settings.auth_fail_burst)
    source = (_client_address(request), parsed.org_id if parsed else None)
    blocked = failures.wait(source)
    if blocked is not None:
        raise TooManyRequests(retry_after(blocked), "too many failed authentications from this address")
    if parsed is None:
        failures.take(source)
        raise Unauthorized()
    # Every request pays for this lookup, so it runs on the pooled driver connection, not through the ORM.
    async with raw_tenant_transaction(request.app.state.sessionmaker, parsed.org_id) as conn:
        row = await conn.fetchrow(_LOOKUP, parsed.prefix)
        valid = (
            row is not None
            and row["revoked_at"] is None
            and (row["user_id"] is None or row["member_role"] is not None)
            and api_keys.verify(parsed.secret, row["secret_hash"])
        )
        if valid:
            now = time.monotonic()
            if now - _last_touch.get(row["id"], -_TOUCH_EVERY_S) >= _TOUCH_EVERY_S:
                _last_touch[row["id"]] = now
                await conn.execute(_TOUCH, row["id"])
    if not valid:
        failures.take(source)
        raise Unauthorized()
    scope = member_scope(row["scope_client_ids"], row["scope_project_ids"])
    principal = Principal(
        org_id=parsed.org_id,
        key_id=row["id"],
        role=Role(row["role"]),
        scopes=frozenset(row["scopes"]),
        user_id=row["user_id"],
        client_id=row["client_id"],
        member_role=Role(row["member_role"]) if row["member_role"] else None,
        scope_clients=scope[0],
        scope_projects=scope[1],
    )
    await _authorise(request, settings, principal, opt)


async def _check_session(request: Request[Any, Any, Any], settings: Any, cookie: str, opt: Any) -> None:
    """The cookie path (``api.sessions``): same failed-authentication limit, same permission check."""
    parsed = parse_org_token(cookie)
    failures = limiter(request, "auth_fail_limiter", settings.auth_fail_rate_per_s, settings.auth_fail_burst)
    source = (_client_address(request), parsed[0] if parsed else None)
    blocked = failures.wait(source)
    if blocked is not None:
        raise TooManyRequests(retry_after(blocked), "too many failed authentications from this address")
    try:
        principal = await session_principal(request, settings, cookie)
    except Unauthorized:
        failures.take(source)
        raise
    await _authorise(request, settings, principal, opt)


async def _authorise(request: Request[Any, Any, Any], settings: Any, principal: Principal, opt: Any) -> None:
    request.state.principal = principal
    org_id_var.set(str(principal.org_id))
    action = opt.get("action")
    if action is None:
        raise RuntimeError(f"route {request.url.path} declares neither an action nor public access")
    if not principal.can(action):
        raise Forbidden(f"role {principal.role.value} with scopes {sorted(principal.scopes)} may not {action}")
    if principal.scoped and action not in SCOPED_ACTIONS:
        raise Forbidden(f"this membership is scoped to some clients or projects; {action} spans the organisation")
    if action in MONEY_DECISIONS and principal.user_id is None:
        raise Forbidden(f"a service key acts for nobody and may not {action}: use a personal key or sign in")
    require_step_up(principal, action, settings)
    if not opt.get("own_rate_limit"):
        requests = limiter(request, "request_limiter", settings.api_rate_per_s, settings.api_burst)
        wait = requests.take(principal.key_id)
        if wait is not None:
            raise TooManyRequests(retry_after(wait), f"over {settings.api_rate_per_s:g} requests/s for this key")
