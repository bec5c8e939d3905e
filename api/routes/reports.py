"""What PMs and finance read every day: burn, forecast and health per project; profitability; utilization.

Formulas live in the pure ``insights`` package (see its module docstrings and docs/projects.md); these
handlers check access, pick the period and audit the read (every financial read is audited).
"""

from __future__ import annotations

import uuid
from datetime import date, datetime
from enum import StrEnum
from typing import Annotated
from zoneinfo import ZoneInfo

from litestar import get
from litestar.params import FromQuery, Parameter, QueryParameter
from sqlalchemy import select

from api.context import Ctx
from api.problems import BadRequest, FieldError
from api.project_scope import load_project, require_manages
from persistence.models import Client, Project
from persistence.reports.profitability import ProfitabilityReport, profitability_report
from persistence.reports.project_health import BurnReport, ForecastReport, burn_report, forecast_report
from persistence.reports.utilization import UtilizationReport, utilization_report

MAX_DAYS = 3 * 366
RunRateWeeks = Annotated[int, Parameter(ge=1, le=26, description="complete weeks averaged for the run rate")]


class GroupProfit(StrEnum):
    PROJECT = "project"
    CLIENT = "client"


class GroupUtilization(StrEnum):
    PERSON = "person"
    TEAM = "team"


async def _today(ctx: Ctx, project: Project) -> date:
    tz = (await ctx.session.execute(select(Client.timezone).where(Client.id == project.client_id))).scalar_one()
    return datetime.now(ZoneInfo(tz)).date()


def _period(start: date, end: date) -> None:
    if end < start:
        raise BadRequest("the period ends before it starts", errors=[FieldError(parameter="to", detail="before from")])
    if (end - start).days > MAX_DAYS:
        raise BadRequest(
            "the period is too long", errors=[FieldError(parameter="to", detail=f"at most {MAX_DAYS} days")]
        )


@get("/projects/{project_id:uuid}/burn", opt={"action": "budget.read"}, summary="Budget burn per project and phase")
async def get_burn(ctx: Ctx, project_id: uuid.UUID, as_of: FromQuery[date | None] = None) -> BurnReport:
    project = await load_project(ctx, project_id)
    await require_manages(ctx, project)
    report = await burn_report(ctx.session, project, as_of or await _today(ctx, project))
    await ctx.audit("report.burn", "project", project.id, detail={"as_of": report.as_of.isoformat()})
    return report


@get(
    "/projects/{project_id:uuid}/forecast",
    opt={"action": "budget.read"},
    summary="Estimate at completion, budget exhaustion date, alerts and health with its reasons",
)
async def get_forecast(
    ctx: Ctx, project_id: uuid.UUID, as_of: FromQuery[date | None] = None, run_rate_weeks: RunRateWeeks = 4
) -> ForecastReport:
    project = await load_project(ctx, project_id)
    await require_manages(ctx, project)
    report = await forecast_report(
        ctx.session, project, as_of or await _today(ctx, project), run_rate_weeks=run_rate_weeks
    )
    await ctx.audit("report.forecast", "project", project.id, detail={"as_of": report.as_of.isoformat()})
    return report


@get(
    "/reports/profitability",
    opt={"action": "reports.profitability"},
    summary="Revenue (invoiced + WIP), staff cost, expenses, AI cost and margin per project or client",
)
async def get_profitability(
    ctx: Ctx,
    start: Annotated[date, QueryParameter(name="from", description="first local date (inclusive)")],
    end: Annotated[date, QueryParameter(name="to", description="last local date (inclusive)")],
    group_by: GroupProfit = GroupProfit.PROJECT,
    client_id: FromQuery[uuid.UUID | None] = None,
    project_id: FromQuery[uuid.UUID | None] = None,
) -> ProfitabilityReport:
    _period(start, end)
    report = await profitability_report(
        ctx.session, start, end, group_by=group_by.value, client_id=client_id, project_id=project_id
    )
    await ctx.audit(
        "report.profitability",
        "report",
        detail={"from": start.isoformat(), "to": end.isoformat(), "group_by": group_by.value, "rows": len(report.rows)},
    )
    return report


@get(
    "/reports/utilization",
    opt={"action": "reports.utilization"},
    summary="Billable hours against capacity and targets, per person or team (job role)",
)
async def get_utilization(
    ctx: Ctx,
    start: Annotated[date, QueryParameter(name="from", description="first date (inclusive)")],
    end: Annotated[date, QueryParameter(name="to", description="last date (inclusive)")],
    group_by: GroupUtilization = GroupUtilization.PERSON,
) -> UtilizationReport:
    _period(start, end)
    report = await utilization_report(ctx.session, start, end, group_by=group_by.value)
    detail = {"from": start.isoformat(), "to": end.isoformat(), "rows": len(report.rows)}
    await ctx.audit("report.utilization", "report", detail=detail)
    return report


ROUTES = [get_burn, get_forecast, get_profitability, get_utilization]
