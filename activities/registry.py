"""Every activity the worker hosts, bound to the process's database and settings."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from activities.billing import BillingActivities
from activities.capacity import CapacityActivities
from activities.collection import CollectionActivities
from activities.credit_notes import CreditNoteActivities
from activities.credits import CreditActivities
from activities.maintenance import MaintenanceActivities
from activities.metering import MeteringActivities
from core.settings import Settings


def build_activities(*, sessionmaker: async_sessionmaker[AsyncSession], settings: Settings) -> list[Callable[..., Any]]:
    maintenance = MaintenanceActivities(sessionmaker)
    billing = BillingActivities(sessionmaker, settings)
    metering = MeteringActivities(sessionmaker, settings)
    capacity = CapacityActivities(sessionmaker, settings)
    credits = CreditActivities(sessionmaker, settings)
    collection = CollectionActivities(sessionmaker)
    credit_notes = CreditNoteActivities(sessionmaker, settings)
    return [
        maintenance.purge_idempotency_keys,
        *billing.all(),
        *metering.all(),
        *capacity.all(),
        *credits.all(),
        *collection.all(),
        *credit_notes.all(),
    ]
