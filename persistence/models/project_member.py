"""Who works on a project, and who manages it: a ``manager`` member is the project's PM.

"Their projects", for a key with the ``pm`` role, means the projects on which the key's person (the person
whose ``user_id`` is the key's user) is a ``manager`` member. Owners, admins and delivery leads act on all.
"""

from __future__ import annotations

import uuid

from sqlalchemy import ForeignKeyConstraint, String, UniqueConstraint
from sqlalchemy.dialects.postgresql import UUID
from sqlalchemy.orm import Mapped, mapped_column

from persistence.models.base import Base, IdMixin, TenantMixin, TimestampMixin, VersionedMixin


class ProjectMember(IdMixin, TenantMixin, TimestampMixin, VersionedMixin, Base):
    __tablename__ = "project_members"
    __table_args__ = (
        ForeignKeyConstraint(["org_id", "project_id"], ["projects.org_id", "projects.id"], ondelete="CASCADE"),
        ForeignKeyConstraint(["org_id", "person_id"], ["people.org_id", "people.id"]),
        UniqueConstraint("org_id", "project_id", "person_id"),
    )

    project_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), nullable=False)
    person_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), nullable=False, index=True)
    role: Mapped[str] = mapped_column(String(16), nullable=False, default="member")
