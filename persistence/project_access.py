"""Who a caller is in project terms: the person behind an API key's user, and the projects they manage.

A key acts for the person whose ``user_id`` is the key's user. A ``pm`` manages the projects on which that
person is a ``manager`` member (table ``project_members``); owners, admins and delivery leads act on all
projects, finance reads all of them.
"""

from __future__ import annotations

import uuid

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from persistence.models import Person, ProjectMember


async def person_for_user(session: AsyncSession, user_id: uuid.UUID | None) -> Person | None:
    if user_id is None:
        return None
    row = await session.execute(select(Person).where(Person.user_id == user_id).limit(1))
    return row.scalar_one_or_none()


async def managed_project_ids(session: AsyncSession, person_id: uuid.UUID | None) -> set[uuid.UUID]:
    if person_id is None:
        return set()
    rows = await session.execute(
        select(ProjectMember.project_id).where(ProjectMember.person_id == person_id, ProjectMember.role == "manager")
    )
    return set(rows.scalars().all())
