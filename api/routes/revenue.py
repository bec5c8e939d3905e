"""``GET /v1/reports/revenue``: recognised and deferred revenue per client and month.

The schedule is kept by ``persistence.revenue`` and the position worked out by ``billing.recognition`` (pure);
this route reads, asks and answers. For each month: what was earned in it (whenever invoiced), and — of
everything issued by its end — what is recognised to date and what is still deferred; those two always add
up to ``issued_to_date`` (invoiced less credited). The read is audited like every financial read.
"""

from __future__ import annotations

import uuid
from decimal import Decimal
from typing import Annotated

import msgspec
from litestar import get
from litestar.params import QueryParameter
from sqlalchemy import select

from api.context import Ctx
from api.problems import BadRequest, FieldError
from billing import Period
from billing.recognition import position
from persistence import revenue
from persistence.models import Client

MAX_MONTHS = 36


class RevenueMonth(msgspec.Struct):
    client_id: uuid.UUID
    client_name: str
    currency: str
    month: str
    recognised: Decimal
    """Earned in this month, whenever invoiced (a month billed in arrears is invoiced after it ends)."""
    recognised_to_date: Decimal
    deferred: Decimal
    """Issued by the end of this month, earned in a later one (a retainer billed in advance)."""
    issued_to_date: Decimal
    """Invoiced less credited, issued by the end of this month: recognised_to_date + deferred."""


class RevenueReport(msgspec.Struct):
    from_month: str = msgspec.field(name="from")
    to_month: str = msgspec.field(name="to")
    rows: list[RevenueMonth]


@get(
    "/reports/revenue",
    opt={"action": "reports.profitability"},
    summary="Recognised vs deferred revenue per client and month",
)
async def get_revenue(
    ctx: Ctx,
    start: Annotated[str, QueryParameter(name="from", pattern=r"^[0-9]{4}-(0[1-9]|1[0-2])$", description="YYYY-MM")],
    end: Annotated[str, QueryParameter(name="to", pattern=r"^[0-9]{4}-(0[1-9]|1[0-2])$", description="YYYY-MM")],
) -> RevenueReport:
    first, last = Period.parse(start), Period.parse(end)
    if last.index < first.index:
        raise BadRequest("to is before from", errors=[FieldError(parameter="to", detail="must not be before from")])
    if last.index - first.index >= MAX_MONTHS:
        raise BadRequest("range too long", errors=[FieldError(parameter="to", detail=f"at most {MAX_MONTHS} months")])
    entries = await revenue.entries(ctx.session, last.key)
    names: dict[uuid.UUID, str] = {
        row.id: row.name for row in await ctx.session.execute(select(Client.id, Client.name))
    }
    rows = []
    for (client_id, currency), items in sorted(entries.items(), key=lambda kv: (names.get(kv[0][0], ""), kv[0][1])):
        for index in range(first.index, last.index + 1):
            at = position(items, Period.from_index(index).key, currency)
            if not (at.issued_to_date or at.recognised_in_month or at.deferred):
                continue
            rows.append(
                RevenueMonth(
                    client_id=client_id,
                    client_name=names.get(client_id, ""),
                    currency=currency,
                    month=at.month,
                    recognised=at.recognised_in_month,
                    recognised_to_date=at.recognised_to_date,
                    deferred=at.deferred,
                    issued_to_date=at.issued_to_date,
                )
            )
    await ctx.audit("report.revenue", "report", detail={"from": first.key, "to": last.key, "rows": len(rows)})
    return RevenueReport(from_month=first.key, to_month=last.key, rows=rows)


ROUTES = [get_revenue]
