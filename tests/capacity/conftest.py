"""A real worker (every workflow and activity) and the API in one event loop, plus helpers to create the
people and projects a plan is built from."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx
import msgspec
import pytest
from temporalio.worker import Worker

from activities.registry import build_activities
from api.app import create_app
from cli.worker import sandbox_runner
from core.permissions import Role
from core.settings import Settings, load_settings
from tests.conftest import OrgHandle, asgi_client
from workflows.registry import WORKFLOWS

MONDAY = "2026-01-05"
TERMINAL = {"done", "cancelled", "failed"}


@dataclass
class Stack:
    settings: Settings
    client: httpx.AsyncClient


def make_worker(temporal_env: Any, sessionmaker: Any, settings: Settings) -> Worker:
    return Worker(
        temporal_env.client,
        task_queue=settings.task_queue,
        workflows=WORKFLOWS,
        activities=build_activities(sessionmaker=sessionmaker, settings=settings),
        workflow_runner=sandbox_runner(),
    )


@pytest.fixture(scope="module")
async def stack(temporal_env, sessionmaker, app_database_url) -> AsyncIterator[Stack]:  # type: ignore[no-untyped-def]
    settings = msgspec.structs.replace(
        load_settings(),
        task_queue=f"capacity-{uuid.uuid4().hex[:8]}",
        temporal_address=temporal_env.client.service_client.config.target_host,
    )
    worker = make_worker(temporal_env, sessionmaker, settings)
    running = asyncio.create_task(worker.run())
    app = create_app(settings, database_url=app_database_url)
    try:
        async with asgi_client(app) as client:
            yield Stack(settings=settings, client=client)
    finally:
        await worker.shutdown()
        await running


async def wait_for(
    client: httpx.AsyncClient, org: OrgHandle, plan_id: str, statuses: set[str], *, within: float = 60.0
) -> dict[str, Any]:
    """Poll the plan until its status is one of ``statuses``; returns the plan document."""
    deadline = asyncio.get_running_loop().time() + within
    while True:
        response = await client.get(f"/v1/capacity/plans/{plan_id}", headers=org.headers(Role.DELIVERY_LEAD))
        assert response.status_code == 200, response.text
        doc: dict[str, Any] = response.json()
        if doc["status"] in statuses:
            return doc
        if doc["status"] in TERMINAL:
            raise AssertionError(f"plan ended {doc['status']}: {doc.get('error')} {doc.get('notes')}")
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"plan still {doc['status']} after {within} s: {doc.get('progress')}")
        await asyncio.sleep(0.2)


async def add_person(
    client: httpx.AsyncClient,
    org: OrgHandle,
    name: str,
    skills: dict[str, int],
    *,
    cost_rate: str = "50",
    capacity: str = "40",
    currency: str = "USD",
    country: str | None = None,
) -> str:
    body: dict[str, Any] = {
        "name": name,
        "email": f"{name.lower()}-{uuid.uuid4().hex[:6]}@agency.example",
        "role": "engineer",
        "cost_rate": cost_rate,
        "cost_currency": currency,
        "weekly_capacity_hours": capacity,
        "utilization_target": "0.8",
        "skills": skills,
    }
    if country:
        body["country"] = country
    response = await client.post("/v1/people", json=body, headers=org.headers())
    assert response.status_code == 201, response.text
    person_id: str = response.json()["id"]
    return person_id


async def add_project(client: httpx.AsyncClient, org: OrgHandle, code: str) -> str:
    response = await client.post(
        "/v1/projects",
        json={"client_id": str(org.client_id), "code": code, "name": f"Project {code}", "billing_mode": "t_and_m"},
        headers=org.headers(),
    )
    assert response.status_code == 201, response.text
    project_id: str = response.json()["id"]
    return project_id


@dataclass
class Team:
    """Four people and two projects of one org."""

    ada: str
    bob: str
    cy: str
    dee: str
    web: str
    ml: str


async def make_team(client: httpx.AsyncClient, org: OrgHandle) -> Team:
    suffix = uuid.uuid4().hex[:6]
    return Team(
        ada=await add_person(client, org, "Ada", {"python": 4, "ml": 3}, cost_rate="70"),
        bob=await add_person(client, org, "Bob", {"python": 3, "react": 2}, cost_rate="55"),
        cy=await add_person(client, org, "Cy", {"react": 4}, cost_rate="60", country="DE"),
        dee=await add_person(client, org, "Dee", {"ml": 4}, cost_rate="80", capacity="32"),
        web=await add_project(client, org, f"WEB-{suffix}"),
        ml=await add_project(client, org, f"ML-{suffix}"),
    )


def team_request(team: Team, *, time_limit: float = 3.0, web_rate: str = "150", **extra: Any) -> dict[str, Any]:
    """Six weeks of demand on both projects, with a skill nobody has (rust) to explain."""
    return {
        "name": "Q1 staffing",
        "start": MONDAY,
        "weeks": 6,
        "projects": [
            {
                "project_id": team.web,
                "priority": 2,
                "bill_rate": web_rate,
                "existing_team": [team.cy],
                "demand": [
                    {"week": 0, "until_week": 5, "hours": "24", "skill": "react", "min_level": 2, "role": "frontend"},
                    {"week": 0, "until_week": 3, "hours": "16", "skill": "python", "min_level": 3, "role": "backend"},
                    {"week": 2, "until_week": 3, "hours": "8", "skill": "rust", "role": "systems"},
                ],
            },
            {
                "project_id": team.ml,
                "priority": 3,
                "bill_rate": "180",
                "tentative": True,
                "probability": "0.6",
                "demand": [
                    {"week": 1, "until_week": 5, "hours": "32", "skill": "ml", "min_level": 3, "role": "ml"},
                    {"week": 1, "until_week": 2, "hours": "8", "person_id": team.ada, "role": "lead"},
                ],
            },
        ],
        "person_settings": [{"person_id": team.dee, "time_off": [{"start": "2026-01-26", "end": "2026-01-30"}]}],
        "solve": {"time_limit_s": time_limit},
        **extra,
    }
