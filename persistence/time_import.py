"""Importing parsed Harvest / Toggl Track / Clockify rows: resolve, check every row, then all or nothing.

:func:`plan_import` resolves each row (person by email or "First Last" name, project by code or name —
disambiguated by the Client column — task by title) and lists every problem of every row: unknown or
ambiguous person or project, a project the importing PM does not manage, a date in a period locked by an
approved invoice, a week whose timesheet is already submitted or approved, a row already imported.
:func:`apply_import` inserts all rows of a plan without problems in the caller's transaction.

Re-importing the same export is detected by a fingerprint of each row (source, date, person, project,
task, notes, duration, start time, billable flag, and the occurrence number among identical rows),
stored as ``external_ref``; ``skip_duplicates`` skips such rows instead of refusing the file.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from datetime import date
from decimal import Decimal

import msgspec
from sqlalchemy import func, insert, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from core.ids import new_id
from insights.calendar import week_start
from insights.rates import Rate, resolve_rate
from insights.timeimport import ParsedFile
from persistence.models import BillRate, Client, Person, Project, Task, TimeEntry, TimeImport, Timesheet
from persistence.time_store import LOCKED_DAYS_CTE

MAX_DAY_MINUTES = Decimal(1440)


class RowOutcome(msgspec.Struct, kw_only=True):
    line: int
    status: str
    problems: list[str] = []
    person_id: uuid.UUID | None = None
    project_id: uuid.UUID | None = None
    task_id: uuid.UUID | None = None
    work_date: date | None = None
    minutes: Decimal | None = None
    billable: bool = True
    notes: str | None = None
    external_ref: str = ""


class ImportPlan(msgspec.Struct, kw_only=True):
    source: str
    rows: list[RowOutcome]
    file_problems: list[str]

    @property
    def problem_count(self) -> int:
        return len(self.file_problems) + sum(1 for r in self.rows if r.status == "problem")

    @property
    def importable(self) -> list[RowOutcome]:
        return [r for r in self.rows if r.status == "ok"]


def _key(value: str | None) -> str:
    return " ".join((value or "").lower().split())


async def plan_import(
    session: AsyncSession,
    parsed: ParsedFile,
    *,
    people_map: dict[str, uuid.UUID] | None = None,
    projects_map: dict[str, uuid.UUID] | None = None,
    managed: set[uuid.UUID] | None = None,
    skip_duplicates: bool = False,
) -> ImportPlan:
    """``managed`` None means the importer may import to every project; else only to those."""
    plan = ImportPlan(source=parsed.source, rows=[], file_problems=list(parsed.problems))
    if parsed.problems:
        return plan
    people = list((await session.execute(select(Person))).scalars())
    by_id = {p.id: p for p in people}
    by_email = {_key(p.email): p for p in people}
    by_name: dict[str, list[Person]] = defaultdict(list)
    for p in people:
        by_name[_key(p.name)].append(p)
    projects = list((await session.execute(select(Project))).scalars())
    clients = {c.id: c for c in (await session.execute(select(Client))).scalars()}
    project_by_id = {p.id: p for p in projects}
    by_code = {_key(p.code): p for p in projects}
    projects_by_name: dict[str, list[Project]] = defaultdict(list)
    for proj in projects:
        projects_by_name[_key(proj.name)].append(proj)
    tasks: dict[tuple[uuid.UUID, str], uuid.UUID] = {}
    for t in (await session.execute(select(Task))).scalars():
        tasks.setdefault((t.project_id, _key(t.title)), t.id)
    people_map = {_key(k): v for k, v in (people_map or {}).items()}
    projects_map = {_key(k): v for k, v in (projects_map or {}).items()}

    locked: dict[uuid.UUID, list[tuple[date, date]]] = defaultdict(list)
    for r in (await session.execute(text("WITH " + LOCKED_DAYS_CTE + " SELECT * FROM locked_days"))).all():
        locked[r.client_id].append((r.first_day, r.end_day))
    closed_weeks = {
        (t.person_id, t.week_start): t.status
        for t in (
            await session.execute(select(Timesheet).where(Timesheet.status.in_(("submitted", "approved"))))
        ).scalars()
    }
    refs = [r.fingerprint for r in parsed.rows]
    existing = set(
        (
            await session.execute(
                select(TimeEntry.external_ref).where(
                    TimeEntry.source == parsed.source, TimeEntry.external_ref.in_(refs)
                )
            )
        ).scalars()
    )

    for row in parsed.rows:
        out = RowOutcome(
            line=row.line,
            status="ok",
            problems=list(row.problems),
            work_date=row.work_date,
            minutes=row.minutes,
            billable=row.billable,
            notes=row.notes,
            external_ref=row.fingerprint,
        )
        person: Person | None = None
        label = row.person_email or row.person_name
        if label is not None:
            mapped = people_map.get(_key(row.person_email)) or people_map.get(_key(row.person_name))
            if mapped is not None:
                person = by_id.get(mapped)
                if person is None:
                    out.problems.append(f"person: the mapping for {label!r} names an unknown person")
            elif row.person_email:
                person = by_email.get(_key(row.person_email))
                if person is None:
                    out.problems.append(f"person: nobody has the email {row.person_email!r}")
            else:
                matches = by_name.get(_key(row.person_name), [])
                if len(matches) == 1:
                    person = matches[0]
                elif matches:
                    out.problems.append(f"person: {row.person_name!r} matches {len(matches)} people; map it")
                else:
                    out.problems.append(f"person: nobody is named {row.person_name!r}")
        project: Project | None = None
        plabel = row.project_code or row.project
        if plabel is not None:
            mapped_project = projects_map.get(_key(row.project_code)) or projects_map.get(_key(row.project))
            if mapped_project is not None:
                project = project_by_id.get(mapped_project)
                if project is None:
                    out.problems.append(f"project: the mapping for {plabel!r} names an unknown project")
            elif row.project_code and _key(row.project_code) in by_code:
                project = by_code[_key(row.project_code)]
            else:
                candidates = projects_by_name.get(_key(row.project), [])
                if len(candidates) > 1 and row.client:
                    candidates = [p for p in candidates if _key(clients[p.client_id].name) == _key(row.client)]
                if len(candidates) == 1:
                    project = candidates[0]
                elif candidates:
                    out.problems.append(f"project: {row.project!r} is ambiguous ({len(candidates)} projects); map it")
                else:
                    out.problems.append(f"project: no project has the code or name {plabel!r}")
        if project is not None and managed is not None and project.id not in managed:
            out.problems.append(f"project: you do not manage project {project.code}")
            project = None
        out.person_id = person.id if person else None
        out.project_id = project.id if project else None
        if project is not None and row.task:
            out.task_id = tasks.get((project.id, _key(row.task)))
        if (
            project is not None
            and row.work_date is not None
            and any(first <= row.work_date < end for first, end in locked.get(project.client_id, []))
        ):
            out.problems.append(f"date: {row.work_date} is in a billing period locked by an approved invoice")
        if person is not None and row.work_date is not None:
            status = closed_weeks.get((person.id, week_start(row.work_date)))
            if status is not None:
                out.problems.append(
                    f"date: the timesheet of {person.name} for the week of {week_start(row.work_date)} is {status}"
                )
        if row.fingerprint in existing:
            if skip_duplicates:
                out.status = "duplicate"
                out.problems = []
                plan.rows.append(out)
                continue
            out.problems.append("already imported (pass skip_duplicates to skip such rows)")
        if out.problems:
            out.status = "problem"
        plan.rows.append(out)
    await _check_day_totals(session, plan, {p.id: p.name for p in people})
    return plan


async def _check_day_totals(session: AsyncSession, plan: ImportPlan, names: dict[uuid.UUID, str]) -> None:
    """One person logs at most 24 h a day: what is already stored plus what the file adds."""
    adding: dict[tuple[uuid.UUID, date], Decimal] = defaultdict(Decimal)
    for row in plan.rows:
        if row.status != "duplicate" and row.person_id and row.work_date and row.minutes:
            adding[(row.person_id, row.work_date)] += row.minutes
    if not adding:
        return
    stored = {
        (person_id, day): minutes
        for person_id, day, minutes in (
            await session.execute(
                select(TimeEntry.person_id, TimeEntry.work_date, func.sum(TimeEntry.minutes))
                .where(
                    TimeEntry.person_id.in_({p for p, _ in adding}),
                    TimeEntry.work_date.in_({d for _, d in adding}),
                )
                .group_by(TimeEntry.person_id, TimeEntry.work_date)
            )
        ).all()
    }
    for row in plan.rows:
        if row.status == "duplicate" or row.person_id is None or row.work_date is None:
            continue
        key = (row.person_id, row.work_date)
        if key not in adding:
            continue
        total = adding[key] + stored.get(key, Decimal(0))
        if total > MAX_DAY_MINUTES:
            who = names.get(row.person_id, "this person")
            row.problems.append(f"date: {who} would have {total / 60:.2f} h on {row.work_date}; at most 24 h a day")
            row.status = "problem"


async def apply_import(
    session: AsyncSession,
    plan: ImportPlan,
    *,
    org_id: uuid.UUID,
    imported_by: str,
    filename: str | None,
    sha256: str,
) -> tuple[uuid.UUID, int]:
    """Insert every ``ok`` row (the caller has checked there is no problem); returns (import id, count)."""
    rows = plan.importable
    import_id = new_id()
    session.add(
        TimeImport(
            id=import_id,
            org_id=org_id,
            source=plan.source,
            filename=filename,
            row_count=len(rows),
            imported_by=imported_by,
            sha256=sha256,
        )
    )
    await session.flush()
    if not rows:
        return import_id, 0
    people = {p.id: p for p in (await session.execute(select(Person))).scalars()}
    projects = {p.id: p for p in (await session.execute(select(Project))).scalars()}
    rates: dict[uuid.UUID, list[Rate]] = defaultdict(list)
    for r in (await session.execute(select(BillRate))).scalars():
        rates[r.client_id].append(
            Rate(
                project_id=r.project_id,
                role=r.role,
                hourly_rate=r.hourly_rate,
                currency=r.currency,
                valid_from=r.valid_from,
            )
        )
    values = []
    for row in rows:
        assert row.person_id and row.project_id and row.work_date and row.minutes
        person, project = people[row.person_id], projects[row.project_id]
        rate = resolve_rate(rates[project.client_id], project.id, person.role, row.work_date)
        values.append(
            {
                "id": new_id(),
                "org_id": org_id,
                "person_id": person.id,
                "project_id": project.id,
                "task_id": row.task_id,
                "role": person.role,
                "work_date": row.work_date,
                "minutes": row.minutes,
                "billable": row.billable,
                "notes": row.notes,
                "status": "draft",
                "cost_rate": person.cost_rate,
                "cost_currency": person.cost_currency,
                "bill_rate": rate.hourly_rate if rate else None,
                "bill_currency": rate.currency if rate else None,
                "source": plan.source,
                "external_ref": row.external_ref,
                "import_id": import_id,
                "version": 1,
            }
        )
    await session.execute(insert(TimeEntry), values)
    return import_id, len(values)
