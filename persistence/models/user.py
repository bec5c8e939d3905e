"""Users are global (one person may work for two agencies); they are visible only through memberships.

The credentials live on the row: an Argon2id ``password_hash``, the TOTP secret sealed with the secret box
(``core.secret_box``: it must be readable to check codes, so it is sealed rather than hashed), the last TOTP
time step used (a code is never accepted twice) and the digests of unused recovery codes. The app role may
update only these columns, and only of users who are members of the current org (row-level security).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ARRAY, BigInteger, DateTime, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from persistence.models.base import Base, IdMixin, TimestampMixin


class User(IdMixin, TimestampMixin, Base):
    __tablename__ = "users"

    email: Mapped[str] = mapped_column(String(320), nullable=False, unique=True)
    display_name: Mapped[str] = mapped_column(String(200), nullable=False)
    password_hash: Mapped[str | None] = mapped_column(Text)
    password_changed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    totp_secret: Mapped[str | None] = mapped_column(Text)
    """Sealed; set at enrolment, effective once ``totp_enabled_at`` is set by a confirmed code."""
    totp_enabled_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    totp_last_step: Mapped[int | None] = mapped_column(BigInteger)
    recovery_codes: Mapped[list[str]] = mapped_column(ARRAY(String(64)), nullable=False, default=list)
