"""The per-request context handlers receive: one tenant-bound transaction, the caller, the request id."""

from __future__ import annotations

from collections.abc import AsyncGenerator
from dataclasses import dataclass
from typing import Any

from litestar import Request
from sqlalchemy.ext.asyncio import AsyncSession

from api.auth import Principal
from api.problems import Forbidden
from core.logging import request_id_var
from core.secret_box import SecretBox
from persistence import audit
from persistence.db import set_tenant


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

    def require(self, action: str) -> None:
        if not self.principal.can(action):
            raise Forbidden(f"role {self.principal.role.value} may not {action}")

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
    async with request.app.state.sessionmaker() as session, session.begin():
        await set_tenant(session, principal.org_id)
        yield Ctx(session=session, principal=principal, request_id=request_id_var.get(), request=request)
