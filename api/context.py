"""The per-request context handlers receive: one tenant-bound transaction, the caller, the request id."""

from __future__ import annotations

from collections.abc import AsyncGenerator, AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

from litestar import Request
from sqlalchemy.ext.asyncio import AsyncSession

from api.auth import Principal, _client_address
from api.problems import Forbidden
from core.logging import request_id_var
from core.secret_box import SecretBox
from persistence import audit
from persistence.db import set_tenant

VIEWS_AUDITED_WITH_ORIGIN = frozenset({"invoice.read", "invoice.list"})
"""Every invoice view is recorded with who (the actor), when (the entry) and from where (address, agent)."""


@dataclass(slots=True)
class Ctx:
    session: AsyncSession
    principal: Principal
    request_id: str | None
    request: Request

    @property
    def org_id(self):  # type: ignore[no-untyped-def]
        return self.principal.org_id

    @property
    def secret_box(self) -> SecretBox:
        """Seals secrets the API must store yet never show again (``core.secret_box``)."""
        box: SecretBox = self.request.app.state.secret_box
        return box

    @asynccontextmanager
    async def transaction_released(self) -> AsyncIterator[None]:
        """Commit what the request did so far and give its connection back while it waits on something slow
        (a workflow Update): an open transaction must not idle for as long as a workflow may take. Afterwards,
        whatever happened, a new transaction bound to the same tenant is open for the rest of the request."""
        await self.session.commit()
        try:
            yield
        finally:
            await self.session.begin()
            await set_tenant(self.session, self.principal.org_id)

    def require(self, action: str) -> None:
        if not self.principal.can(action):
            raise Forbidden(f"role {self.principal.role.value} may not {action}")

    def origin(self) -> dict[str, str]:
        """From where the caller acted: the peer address (see ``api.auth._client_address``) and user agent."""
        agent = self.request.headers.get("user-agent", "")[:400]
        return {"ip": _client_address(self.request), "user_agent": agent}

    async def audit(
        self,
        action: str,
        entity_type: str,
        entity_id: object | None = None,
        *,
        before: Any = None,
        after: Any = None,
        detail: dict[str, Any] | None = None,
    ) -> None:
        if action in VIEWS_AUDITED_WITH_ORIGIN:
            detail = {**(detail or {}), **self.origin()}
        await audit.record(
            self.session,
            org_id=self.principal.org_id,
            actor=self.principal.actor,
            action=action,
            entity_type=entity_type,
            entity_id=entity_id,
            before=before,
            after=after,
            request_id=self.request_id,
            detail=detail,
        )


async def provide_ctx(request: Request) -> AsyncGenerator[Ctx, None]:
    """Commit happens after the handler and serialisation but before the response is sent, so an
    acknowledged write is a committed write; any exception rolls the whole request back."""
    principal: Principal = request.state.principal
    async with request.app.state.sessionmaker() as session:
        # An explicit transaction rather than ``session.begin()`` as a context manager, so that
        # ``Ctx.transaction_released`` can end it and open the next one on the same session.
        await session.begin()
        await set_tenant(session, principal.org_id)
        try:
            yield Ctx(session=session, principal=principal, request_id=request_id_var.get(), request=request)
        except BaseException:
            await session.rollback()
            raise
        await session.commit()
