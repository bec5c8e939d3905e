"""Time entries: lock checks, rate snapshots, re-pricing, and the approved time billing reads.

Billing (issue 6) calls :func:`approved_time`; its rows carry exactly the fields of the billing engine's
``billing.inputs.TimeEntry`` (``id, person, role, project, phase, work_date, minutes, billable,
person_name``), so ``msgspec.convert(msgspec.to_builtins(row), billing.inputs.TimeEntry)`` works as is.
"""

from __future__ import annotations

import uuid
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import msgspec
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from persistence.billing_locks import is_locked

# Locked periods as ranges of the client's local dates: an entry dated ``d`` is locked when local
# midnight of ``d`` falls in [period_start, period_end), i.e. ``first_day <= d < end_day``.
LOCKED_DAYS_SQL = """
  SELECT l.client_id,
         (l.period_start AT TIME ZONE c.timezone)::date
           + CASE WHEN (l.period_start AT TIME ZONE c.timezone)::time = time '00:00' THEN 0 ELSE 1 END
           AS first_day,
         (l.period_end AT TIME ZONE c.timezone)::date
           + CASE WHEN (l.period_end AT TIME ZONE c.timezone)::time = time '00:00' THEN 0 ELSE 1 END
           AS end_day
  FROM billing_period_locks l JOIN clients c ON c.id = l.client_id
"""
# As a CTE for statements that read it once or twice.
LOCKED_DAYS_CTE = "locked_days AS MATERIALIZED (" + LOCKED_DAYS_SQL + ")\n"
# Every locked (client, local date), one row each even if locks overlap: reports join entries to it on
# equality (a hash probe per entry, parallel-safe) instead of a range condition per lock.
LOCKED_DATES_TABLE = (
    "(SELECT DISTINCT r.client_id, d::date AS day FROM ("
    + LOCKED_DAYS_SQL
    + ") r CROSS JOIN LATERAL generate_series(r.first_day, r.end_day - 1, interval '1 day') AS d)"
)

_RATE = text(
    """
    SELECT r.hourly_rate, r.currency FROM bill_rates r
    WHERE r.client_id = :client_id
      AND (r.project_id = :project_id OR r.project_id IS NULL)
      AND (r.role = :role OR r.role IS NULL)
      AND (r.valid_from IS NULL OR r.valid_from <= :work_date)
    ORDER BY (r.project_id IS NULL), (r.role IS NULL), r.valid_from DESC NULLS LAST
    LIMIT 1
    """
)

# The same resolution as _RATE, correlated to each entry ``e`` of project ``p``.
_REPRICE = (
    """
    WITH """
    + LOCKED_DAYS_CTE
    + """
    UPDATE time_entries e
    SET (bill_rate, bill_currency) = (
          SELECT r.hourly_rate, r.currency FROM bill_rates r
          WHERE r.client_id = p.client_id
            AND (r.project_id = e.project_id OR r.project_id IS NULL)
            AND (r.role = e.role OR r.role IS NULL)
            AND (r.valid_from IS NULL OR r.valid_from <= e.work_date)
          ORDER BY (r.project_id IS NULL), (r.role IS NULL), r.valid_from DESC NULLS LAST
          LIMIT 1),
        version = e.version + 1,
        updated_at = now()
    FROM projects p
    WHERE p.id = e.project_id AND p.client_id = :client_id
      AND (CAST(:project_id AS uuid) IS NULL OR e.project_id = CAST(:project_id AS uuid))
      AND NOT EXISTS (SELECT 1 FROM locked_days ld
                      WHERE ld.client_id = p.client_id AND e.work_date >= ld.first_day AND e.work_date < ld.end_day)
    """
)


def local_midnight(day: date, timezone: str) -> datetime:
    return datetime.combine(day, time(0), tzinfo=ZoneInfo(timezone))


async def date_locked(session: AsyncSession, client_id: uuid.UUID, timezone: str, day: date) -> bool:
    """Whether ``day`` (a local date of the client) lies in a period closed by an approved invoice."""
    return await is_locked(session, client_id, local_midnight(day, timezone))


async def resolve_bill_rate(
    session: AsyncSession, *, client_id: uuid.UUID, project_id: uuid.UUID, role: str, work_date: date
) -> tuple[Decimal, str] | None:
    row = (
        await session.execute(
            _RATE, {"client_id": client_id, "project_id": project_id, "role": role, "work_date": work_date}
        )
    ).first()
    return None if row is None else (row.hourly_rate, row.currency)


async def reprice_unlocked(session: AsyncSession, *, client_id: uuid.UUID, project_id: uuid.UUID | None) -> int:
    """Re-snapshot bill rates of the client's (or one project's) entries outside locked periods."""
    result = await session.execute(text(_REPRICE), {"client_id": client_id, "project_id": project_id})
    return int(result.rowcount)  # type: ignore[attr-defined]


def week_bounds(day: date) -> tuple[date, date]:
    monday = day - timedelta(days=day.weekday())
    return monday, monday + timedelta(days=6)


async def timesheet_status(session: AsyncSession, person_id: uuid.UUID, day: date) -> str | None:
    monday, _ = week_bounds(day)
    row = await session.execute(
        text("SELECT status FROM timesheets WHERE person_id = :p AND week_start = :w"), {"p": person_id, "w": monday}
    )
    status: str | None = row.scalar_one_or_none()
    return status


class ApprovedTime(msgspec.Struct, frozen=True, kw_only=True):
    """One approved entry, shaped like ``billing.inputs.TimeEntry``.

    ``id`` is the entry id, ``person`` the person id, ``project`` the project code, ``phase`` the phase
    code (None without a phase), ``work_date`` the local date the work was done, ``minutes`` exact.
    """

    id: str
    person: str
    role: str
    project: str
    phase: str | None
    work_date: date
    minutes: Decimal
    billable: bool
    person_name: str
    approved_on: date | None = None


_APPROVED = text(
    """
    SELECT e.id, e.person_id, e.role, p.code AS project, ph.code AS phase, e.work_date, e.minutes, e.billable,
           pe.name AS person_name
    FROM time_entries e
    JOIN projects p ON p.id = e.project_id
    JOIN people pe ON pe.id = e.person_id
    LEFT JOIN project_phases ph ON ph.id = e.phase_id
    WHERE p.client_id = :client_id AND e.status = 'approved'
      AND e.work_date >= :start AND e.work_date <= :end
      AND (e.billable OR NOT :billable_only)
    ORDER BY e.work_date, p.code, e.id
    """
)


async def approved_time(
    session: AsyncSession,
    client_id: uuid.UUID,
    start_date: date,
    end_date: date,
    *,
    billable_only: bool = False,
) -> list[ApprovedTime]:
    """Approved time of ``client_id``'s projects dated ``start_date``..``end_date`` (both inclusive).

    Non-billable approved entries are included with ``billable=False`` (the engine shows or drops them);
    ``billable_only=True`` leaves them out. Runs under the caller's tenant (RLS).
    """
    rows = await session.execute(
        _APPROVED, {"client_id": client_id, "start": start_date, "end": end_date, "billable_only": billable_only}
    )
    return [
        ApprovedTime(
            id=str(r.id),
            person=str(r.person_id),
            role=r.role,
            project=r.project,
            phase=r.phase,
            work_date=r.work_date,
            minutes=r.minutes,
            billable=r.billable,
            person_name=r.person_name,
        )
        for r in rows
    ]


# Entry ids an approved invoice of the client has billed: the invoice's stored inputs are its claim (as for
# late usage, "billed" is read from what approved invoices were rated on, so a rejected or superseded draft
# claims nothing and a retried approval cannot claim twice).
BILLED_TIME_IDS_SQL = """
  SELECT DISTINCT t ->> 'id' AS id
  FROM invoices i CROSS JOIN LATERAL jsonb_array_elements(i.inputs -> 'time_entries') AS t
  WHERE i.status = 'approved'
"""

_UNBILLED = text(
    """
    WITH billed AS MATERIALIZED ("""
    + BILLED_TIME_IDS_SQL
    + """ AND i.client_id = :client_id)
    SELECT e.id, e.person_id, e.role, p.code AS project, ph.code AS phase, e.work_date, e.minutes, e.billable,
           pe.name AS person_name, (ts.decided_at AT TIME ZONE c.timezone)::date AS approved_on
    FROM time_entries e
    JOIN projects p ON p.id = e.project_id
    JOIN clients c ON c.id = p.client_id
    JOIN people pe ON pe.id = e.person_id
    LEFT JOIN project_phases ph ON ph.id = e.phase_id
    LEFT JOIN timesheets ts ON ts.person_id = e.person_id
                           AND ts.week_start = e.work_date - (extract(isodow FROM e.work_date)::int - 1)
    WHERE p.client_id = :client_id AND e.status = 'approved'
      AND e.work_date >= :start AND e.work_date <= :end
      AND NOT EXISTS (SELECT 1 FROM billed b WHERE b.id = e.id::text)
    ORDER BY e.work_date, p.code, e.id
    """
)


async def unbilled_approved_time(
    session: AsyncSession, client_id: uuid.UUID, start_date: date, end_date: date
) -> list[ApprovedTime]:
    """Approved time of ``client_id``'s projects dated ``start_date``..``end_date`` that no approved invoice has
    billed yet — what the next invoice must bill.

    Unlike :func:`approved_time` (one period's dates), this includes time dated in periods that were already
    invoiced when its timesheet was approved: billing puts it on a late line of the next invoice. Each row
    carries ``approved_on``, the client-local date its week was approved, for that line's label.
    """
    rows = await session.execute(_UNBILLED, {"client_id": client_id, "start": start_date, "end": end_date})
    return [
        ApprovedTime(
            id=str(r.id),
            person=str(r.person_id),
            role=r.role,
            project=r.project,
            phase=r.phase,
            work_date=r.work_date,
            minutes=r.minutes,
            billable=r.billable,
            person_name=r.person_name,
            approved_on=r.approved_on,
        )
        for r in rows
    ]


class ClaimProblem(msgspec.Struct, frozen=True, kw_only=True):
    entry_id: str
    reason: str


_CLAIM_CHECK = text(
    """
    WITH billed AS MATERIALIZED (
      SELECT t ->> 'id' AS id, i.id AS invoice_id, i.number
      FROM invoices i CROSS JOIN LATERAL jsonb_array_elements(i.inputs -> 'time_entries') AS t
      WHERE i.status = 'approved' AND i.client_id = :client_id AND i.id <> :invoice_id
    ),
    wanted AS (SELECT * FROM unnest(CAST(:ids AS text[]), CAST(:minutes AS numeric[])) AS w(id, minutes))
    SELECT w.id, w.minutes AS billed_minutes, e.status, e.minutes, b.number
    FROM wanted w
    LEFT JOIN time_entries e ON e.id::text = w.id
    LEFT JOIN billed b ON b.id = w.id
    WHERE e.id IS NULL OR e.status <> 'approved' OR e.minutes <> w.minutes OR b.id IS NOT NULL
    ORDER BY w.id
    """
)


async def claim_problems(
    session: AsyncSession,
    *,
    client_id: uuid.UUID,
    invoice_id: uuid.UUID,
    entries: list[tuple[str, Decimal]],
) -> list[ClaimProblem]:
    """Why an invoice rated on ``entries`` (id, minutes) may not be approved as it stands: an entry another
    approved invoice already billed, or one deleted, reopened or changed since the draft was rated.

    Approving then would bill an hour twice or bill hours that are not (or no longer) approved; the caller
    refuses, and a redraft gathers the time as it is now. Run under a lock on the invoice row.
    """
    if not entries:
        return []
    rows = await session.execute(
        _CLAIM_CHECK,
        {
            "client_id": client_id,
            "invoice_id": invoice_id,
            "ids": [e for e, _ in entries],
            "minutes": [m for _, m in entries],
        },
    )
    problems = []
    for r in rows:
        if r.number is not None:
            reason = f"already billed on invoice {r.number}"
        elif r.status is None:
            reason = "deleted since the draft"
        elif r.status != "approved":
            reason = f"{r.status} since the draft (its timesheet was reopened or rejected)"
        else:
            reason = f"changed since the draft ({r.billed_minutes} -> {r.minutes} minutes)"
        problems.append(ClaimProblem(entry_id=r.id, reason=reason))
    return problems
