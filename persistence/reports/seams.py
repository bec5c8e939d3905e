"""Where revenue from invoices (issue 6) and AI inference cost (issue 5) plug into profitability.

Neither exists yet, so both seams say "not available" and the report says so in ``sources``:

* :func:`invoiced_revenue` — once the ``invoices`` table exists, it calls
  ``persistence.invoice_store.invoiced_by_project(session, start, end)``, which must return an iterable of
  ``(project_id, currency, amount)`` of invoiced revenue for lines dated in the period. Until then it
  returns None and profitability counts every billable hour of the period as WIP.
* :func:`ai_inference_cost` — calls ``persistence.usage_store.provider_cost(session, start, end)``, which
  must return an iterable of ``(client_id, project_id | None, currency, amount)`` of metered provider cost
  of the period; ``project_id`` None is usage not attributed to a project (counted on the client row only).
"""

from __future__ import annotations

import importlib
import uuid
from collections.abc import Awaitable, Callable, Iterable
from datetime import date
from decimal import Decimal
from typing import Any

import msgspec
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession


class InvoicedRevenue(msgspec.Struct, kw_only=True):
    source: str
    by_project: dict[uuid.UUID, dict[str, Decimal]]


class AiCost(msgspec.Struct, kw_only=True):
    source: str
    by_project: dict[uuid.UUID, dict[str, Decimal]]
    unattributed_by_client: dict[uuid.UUID, dict[str, Decimal]]


NO_INVOICES = "not available (no invoices yet): all billable time of the period is counted as WIP"
NO_USAGE = "not available (metered provider cost is not wired): AI cost is 0"


def _provider(module: str, name: str) -> Callable[..., Awaitable[Iterable[Any]]] | None:
    try:
        loaded = importlib.import_module(module)
    except ImportError:
        return None
    found = getattr(loaded, name, None)
    return found if callable(found) else None


def _add(target: dict[uuid.UUID, dict[str, Decimal]], key: uuid.UUID, currency: str, amount: Decimal) -> None:
    bucket = target.setdefault(key, {})
    bucket[currency] = bucket.get(currency, Decimal(0)) + Decimal(amount)


async def invoiced_revenue(session: AsyncSession, start: date, end: date) -> InvoicedRevenue | None:
    has_table = (await session.execute(text("SELECT to_regclass('invoices') IS NOT NULL"))).scalar_one()
    provider = _provider("persistence.invoice_store", "invoiced_by_project") if has_table else None
    if provider is None:
        return None
    result = InvoicedRevenue(source="invoices", by_project={})
    for project_id, currency, amount in await provider(session, start, end):
        _add(result.by_project, project_id, currency, amount)
    return result


async def ai_inference_cost(session: AsyncSession, start: date, end: date) -> AiCost | None:
    provider = _provider("persistence.usage_store", "provider_cost")
    if provider is None:
        return None
    result = AiCost(source="metered provider cost", by_project={}, unattributed_by_client={})
    for client_id, project_id, currency, amount in await provider(session, start, end):
        if project_id is None:
            _add(result.unattributed_by_client, client_id, currency, amount)
        else:
            _add(result.by_project, project_id, currency, amount)
    return result
