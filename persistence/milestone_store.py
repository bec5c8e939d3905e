"""Accepted milestones, read by billing to bill fixed fees in the period they were accepted."""

from __future__ import annotations

import uuid
from datetime import date
from decimal import Decimal

import msgspec
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession


class AcceptedMilestone(msgspec.Struct, frozen=True, kw_only=True):
    """``id`` is the milestone's ``code`` — the id contract terms use — so ``{"id", "accepted_on"}`` is
    exactly ``billing.inputs.MilestoneAcceptance`` (see :meth:`acceptance`)."""

    id: str
    accepted_on: date
    milestone_id: uuid.UUID
    project_id: uuid.UUID
    project_code: str
    name: str
    amount: Decimal
    currency: str

    def acceptance(self) -> dict[str, object]:
        return {"id": self.id, "accepted_on": self.accepted_on}


_ACCEPTED = text(
    """
    SELECT m.id, m.code, m.name, m.amount, m.currency, m.accepted_on, p.id AS project_id, p.code AS project_code
    FROM milestones m JOIN projects p ON p.id = m.project_id
    WHERE p.client_id = :client_id AND m.status = 'accepted'
      AND m.accepted_on >= :start AND m.accepted_on <= :end
    ORDER BY m.accepted_on, p.code, m.code
    """
)


async def accepted_milestones(
    session: AsyncSession, client_id: uuid.UUID, start: date, end: date
) -> list[AcceptedMilestone]:
    """Milestones of the client's projects accepted on ``start``..``end`` (local dates, both inclusive)."""
    rows = await session.execute(_ACCEPTED, {"client_id": client_id, "start": start, "end": end})
    return [
        AcceptedMilestone(
            id=r.code,
            accepted_on=r.accepted_on,
            milestone_id=r.id,
            project_id=r.project_id,
            project_code=r.project_code,
            name=r.name,
            amount=r.amount,
            currency=r.currency,
        )
        for r in rows
    ]


_UNBILLED = text(
    """
    SELECT m.id, m.code, m.name, m.amount, m.currency, m.accepted_on, p.id AS project_id, p.code AS project_code
    FROM milestones m JOIN projects p ON p.id = m.project_id
    WHERE p.client_id = :client_id AND m.status = 'accepted'
      AND m.accepted_on >= :start AND m.accepted_on <= :end
      AND NOT (m.code = ANY(CAST(:billed AS text[])))
    ORDER BY m.accepted_on, p.code, m.code
    """
)


async def unbilled_accepted_milestones(
    session: AsyncSession, client_id: uuid.UUID, start: date, end: date, billed: list[str]
) -> list[AcceptedMilestone]:
    """Milestones accepted on ``start``..``end`` whose code is not in ``billed`` (the contract's carried
    ``billed_milestones``): includes one accepted in a period whose invoice was drafted before the
    acceptance, which the next invoice bills (the engine notes it as from an earlier period)."""
    rows = await session.execute(_UNBILLED, {"client_id": client_id, "start": start, "end": end, "billed": billed})
    return [
        AcceptedMilestone(
            id=r.code,
            accepted_on=r.accepted_on,
            milestone_id=r.id,
            project_id=r.project_id,
            project_code=r.project_code,
            name=r.name,
            amount=r.amount,
            currency=r.currency,
        )
        for r in rows
    ]
