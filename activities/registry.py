"""Every activity the worker hosts, bound to the process's database and settings."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from activities.maintenance import MaintenanceActivities
from core.settings import Settings


def build_activities(
    *, sessionmaker: async_sessionmaker[AsyncSession], settings: Settings
) -> list[Callable[..., Any]]:
    maintenance = MaintenanceActivities(sessionmaker)
    return [maintenance.purge_idempotency_keys]
