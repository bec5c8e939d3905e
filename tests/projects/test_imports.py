"""CSV imports of real-format Harvest, Toggl Track and Clockify exports (samples in ./samples)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import func, select

from core.permissions import Role
from persistence.billing_locks import lock_period
from persistence.db import tenant_session
from persistence.models import TimeEntry
from tests.projects.conftest import add_person, make_client, make_manager, make_project

SAMPLES = Path(__file__).parent / "samples"


@pytest.fixture
async def shop(client, org, sessionmaker) -> dict:
    acme = await make_client(client, org, "Acme Robotics")
    globex = await make_client(client, org, "Globex")
    acme_ai = await make_project(client, org, acme, "ACME-AI", "Vision Pipeline")
    glx_dp = await make_project(client, org, globex, "GLX-DP", "Data Platform")
    task = await client.post(f"/v1/projects/{acme_ai}/tasks", json={"title": "Model training"}, headers=org.headers())
    ada = await add_person(
        client,
        org,
        sessionmaker,
        name="Ada Lovelace",
        job_role="ml_engineer",
        cost_rate="60",
        email="ada@agency.example",
    )
    grace = await add_person(
        client,
        org,
        sessionmaker,
        name="Grace Hopper",
        job_role="developer",
        cost_rate="45",
        email="grace@agency.example",
    )
    return {
        "acme": acme,
        "ACME-AI": acme_ai,
        "GLX-DP": glx_dp,
        "task": task.json()["id"],
        "ada": ada,
        "grace": grace,
    }


async def count_entries(sessionmaker, org) -> int:
    async with tenant_session(sessionmaker, org.id) as session:
        return (await session.execute(select(func.count()).select_from(TimeEntry))).scalar_one()


async def imported(client, org, import_id: str) -> list[tuple]:
    items = (await client.get("/v1/time-entries?limit=200", headers=org.headers())).json()["items"]
    return sorted(
        (e["work_date"], e["person_id"], e["project_id"], e["minutes"], e["billable"], e["task_id"], e["notes"])
        for e in items
        if e["import_id"] == import_id
    )


@pytest.mark.parametrize(
    ("source", "sample", "options", "expected"),
    [
        (
            "harvest",
            "harvest_detailed_time.csv",
            {},
            [
                # 3.5 h, 0.75 h, 6.25 h, 0.33 h in minutes; "2/3/2026" is M/D/YYYY
                ("2026-02-02", "ada", "ACME-AI", "210.00", True, "task", "Tuned augmentation, retrained the baseline"),
                ("2026-02-02", "grace", "ACME-AI", "45.00", False, None, "Weekly sync with the client"),
                ("2026-02-03", "ada", "ACME-AI", "19.80", True, "task", "Evaluation run: mAP 0.71 → 0.74"),
                ("2026-02-03", "grace", "GLX-DP", "375.00", True, None, "Airflow DAG for the nightly loads"),
            ],
        ),
        (
            "toggl",
            "toggl_detailed.csv",
            {},
            [
                # 02:30:00, 00:15:00, and 01:00:41 = 3641 s = 60.6833… min -> 60.68
                ("2026-02-04", "ada", "ACME-AI", "150.00", True, "task", "Label QA pass on batch 7"),
                ("2026-02-04", "ada", "ACME-AI", "15.00", False, None, "Standup, notes"),
                ("2026-02-04", "grace", "GLX-DP", "60.68", True, None, "Backfill January partitions"),
            ],
        ),
        (
            "clockify",
            "clockify_detailed.csv",
            {"date_order": "mdy"},
            [
                # Duration (h) is exact to the second: 02:15:00, 01:40:30, 00:45:00
                ("2026-02-05", "ada", "ACME-AI", "100.50", True, "task", "Export ONNX model"),
                ("2026-02-05", "grace", "GLX-DP", "135.00", True, None, "Schema review with the client's DBA"),
                ("2026-02-06", "ada", "ACME-AI", "45.00", False, None, "Internal tooling"),
            ],
        ),
    ],
)
async def test_real_format_samples_import_exactly(
    client, org, shop, sessionmaker, source, sample, options, expected
) -> None:
    csv = (SAMPLES / sample).read_text(encoding="utf-8")
    body = {"source": source, "csv": csv, "filename": sample, **options}
    dry = await client.post(
        "/v1/time-entries/imports", json={**body, "dry_run": True}, headers=org.headers(Role.DELIVERY_LEAD)
    )
    assert dry.status_code == 200, dry.text
    assert dry.json()["problems"] == 0 and dry.json()["importable"] == len(expected)
    assert await count_entries(sessionmaker, org) == 0  # a dry run writes nothing
    done = await client.post("/v1/time-entries/imports", json=body, headers=org.headers(Role.DELIVERY_LEAD))
    assert done.status_code == 201, done.text
    assert done.json()["created"] == len(expected)

    def ids(row: tuple) -> tuple:
        day, who, project, minutes, billable, task, notes = row
        return (day, shop[who].person_id, shop[project], minutes, billable, shop["task"] if task else None, notes)

    assert await imported(client, org, done.json()["import_id"]) == sorted(ids(r) for r in expected)


async def test_dry_run_lists_every_rows_problem_and_a_bad_file_imports_nothing(client, org, shop, sessionmaker) -> None:
    lines = (SAMPLES / "toggl_detailed.csv").read_text().splitlines()
    lines[1] = lines[1].replace("ada@agency.example", "nobody@agency.example")
    lines[2] = lines[2].replace("2026-02-04,11:30:00", "2026-02-30,11:30:00", 1)
    lines[3] = lines[3].replace("01:00:41", "00:00:00").replace("Data Platform", "Data Warehouse")
    csv = "\n".join(lines) + "\n"
    dry = await client.post(
        "/v1/time-entries/imports", json={"source": "toggl", "csv": csv, "dry_run": True}, headers=org.headers()
    )
    assert dry.status_code == 200
    report = {r["line"]: r["problems"] for r in dry.json()["report"]}
    assert report == {
        2: ["person: nobody has the email 'nobody@agency.example'"],
        3: ["Start date: day is out of range for month"],
        4: [
            "Duration: the duration must be more than zero",
            "project: no project has the code or name 'Data Warehouse'",
        ],
    }
    refused = await client.post("/v1/time-entries/imports", json={"source": "toggl", "csv": csv}, headers=org.headers())
    assert refused.status_code == 422
    assert refused.headers["content-type"] == "application/problem+json"
    assert "nothing was imported" in refused.json()["detail"]
    assert {e["detail"] for e in refused.json()["errors"]} >= {
        "line 2: person: nobody has the email 'nobody@agency.example'"
    }
    # Two good rows and one bad: still nothing is imported.
    good = (SAMPLES / "toggl_detailed.csv").read_text().splitlines()
    mixed = "\n".join([*good, lines[1]]) + "\n"
    assert (
        await client.post("/v1/time-entries/imports", json={"source": "toggl", "csv": mixed}, headers=org.headers())
    ).status_code == 422
    assert await count_entries(sessionmaker, org) == 0


async def test_a_file_of_the_wrong_tool_is_a_file_problem(client, org, shop) -> None:
    csv = (SAMPLES / "harvest_detailed_time.csv").read_text()
    dry = await client.post(
        "/v1/time-entries/imports", json={"source": "clockify", "csv": csv, "dry_run": True}, headers=org.headers()
    )
    assert dry.json()["file_problems"] == [
        "missing column(s) Email, Start Date, Duration (h): is this a clockify detailed export?"
    ]


async def test_reimporting_the_same_export_is_detected_and_can_be_skipped(client, org, shop, sessionmaker) -> None:
    body = {"source": "harvest", "csv": (SAMPLES / "harvest_detailed_time.csv").read_text()}
    assert (await client.post("/v1/time-entries/imports", json=body, headers=org.headers())).status_code == 201
    again = await client.post("/v1/time-entries/imports", json=body, headers=org.headers())
    assert again.status_code == 422
    assert "already imported" in again.json()["errors"][0]["detail"]
    skipped = await client.post(
        "/v1/time-entries/imports", json={**body, "skip_duplicates": True}, headers=org.headers()
    )
    assert skipped.status_code == 201
    assert (skipped.json()["created"], skipped.json()["duplicates"]) == (0, 4)
    assert await count_entries(sessionmaker, org) == 4


async def test_rows_in_locked_periods_or_submitted_weeks_are_row_problems(client, org, shop, sessionmaker) -> None:
    async with tenant_session(sessionmaker, org.id) as session:
        await lock_period(
            session,
            org_id=org.id,
            client_id=uuid.UUID(shop["acme"]),
            period="2026-02",
            period_start=datetime(2026, 2, 1, tzinfo=UTC),
            period_end=datetime(2026, 3, 1, tzinfo=UTC),
            invoice_id=None,
        )
    submitted = await client.post(
        "/v1/timesheets/submit",
        json={"week_start": "2026-02-02", "person_id": shop["grace"].person_id},
        headers=org.headers(),
    )
    assert submitted.status_code == 200
    dry = await client.post(
        "/v1/time-entries/imports",
        json={"source": "harvest", "csv": (SAMPLES / "harvest_detailed_time.csv").read_text(), "dry_run": True},
        headers=org.headers(),
    )
    report = {r["line"]: r["problems"] for r in dry.json()["report"]}
    locked = "date: 2026-02-02 is in a billing period locked by an approved invoice"
    week = "date: the timesheet of Grace Hopper for the week of 2026-02-02 is submitted"
    assert report[2] == [locked]
    assert report[3] == [locked, week]
    assert report[4] == [week]  # Globex is not locked
    assert report[5] == ["date: 2026-02-03 is in a billing period locked by an approved invoice"]


async def test_a_pm_imports_only_into_projects_it_manages(client, org, shop, sessionmaker) -> None:
    pm = await add_person(client, org, sessionmaker, name="Pat Manager", key_role=Role.PM, job_role="pm")
    await make_manager(client, org, shop["GLX-DP"], pm.person_id)
    dry = await client.post(
        "/v1/time-entries/imports",
        json={"source": "clockify", "csv": (SAMPLES / "clockify_detailed.csv").read_text(), "dry_run": True},
        headers=pm.headers(),
    )
    report = {r["line"]: (r["status"], r["problems"]) for r in dry.json()["report"]}
    assert report[2] == ("ok", [])
    assert report[3] == ("problem", ["project: you do not manage project ACME-AI"])
    assert (
        await client.post(
            "/v1/time-entries/imports", json={"source": "toggl", "csv": "x"}, headers=org.headers(Role.STAFF)
        )
    ).status_code == 403


async def test_more_than_24_hours_a_day_counting_stored_time_is_a_row_problem(client, org, shop) -> None:
    logged = await client.post(
        "/v1/time-entries",
        json={
            "project_id": shop["GLX-DP"],
            "work_date": "2026-02-03",
            "hours": "20",
            "person_id": shop["grace"].person_id,
        },
        headers=org.headers(),
    )
    assert logged.status_code == 201
    dry = await client.post(
        "/v1/time-entries/imports",
        json={"source": "harvest", "csv": (SAMPLES / "harvest_detailed_time.csv").read_text(), "dry_run": True},
        headers=org.headers(),
    )
    report = {r["line"]: r["problems"] for r in dry.json()["report"]}
    # 20 h stored + 6.25 h in the file on 2026-02-03
    assert report[4] == ["date: Grace Hopper would have 26.25 h on 2026-02-03; at most 24 h a day"]
    assert report[2] == report[3] == report[5] == []
