"""Bill-rate resolution from a rate card — the same rule ``persistence.time_store`` applies in SQL.

The most specific row valid on the date wins: project+role, then project (any role), then client+role,
then client (any role); within a scope, the latest ``valid_from`` (a row without one is valid since ever,
and loses to any dated row that is already valid).
"""

from __future__ import annotations

import uuid
from datetime import date
from decimal import Decimal

import msgspec


class Rate(msgspec.Struct, frozen=True, kw_only=True):
    project_id: uuid.UUID | None
    role: str | None
    hourly_rate: Decimal
    currency: str
    valid_from: date | None = None


def resolve_rate(rates: list[Rate], project_id: uuid.UUID, role: str, day: date) -> Rate | None:
    candidates = [
        r
        for r in rates
        if (r.project_id is None or r.project_id == project_id)
        and (r.role is None or r.role == role)
        and (r.valid_from is None or r.valid_from <= day)
    ]
    if not candidates:
        return None
    return min(
        candidates,
        key=lambda r: (
            r.project_id is None,
            r.role is None,
            r.valid_from is None,
            -(r.valid_from.toordinal() if r.valid_from else 0),
        ),
    )
