"""Fixtures for projects/time: people who are users with API keys bound to them, and a seeded world.

``org.headers(Role.STAFF)`` keys have no user, so they act for nobody; :func:`add_person` creates a user
(through a membership), the person for that user, and a key of the given role bound to the user — the
key then acts for that person (staff log their own time, a pm manages the projects it is manager of).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from decimal import Decimal

import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from core.permissions import Role, Scope
from persistence.api_key_store import issue_key
from persistence.db import tenant_session
from tests.conftest import OrgHandle


@dataclass
class Actor:
    person_id: str
    user_id: str
    token: str
    name: str

    def headers(self, **extra: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}", **extra}


async def add_person(
    client,
    org: OrgHandle,
    sessionmaker: async_sessionmaker[AsyncSession],
    *,
    name: str,
    key_role: Role = Role.STAFF,
    job_role: str = "developer",
    cost_rate: str = "50",
    weekly_capacity_hours: str = "40",
    utilization_target: str = "0.8",
    email: str | None = None,
    cost_currency: str = "USD",
) -> Actor:
    email = email or f"{name.split()[0].lower()}-{uuid.uuid4().hex[:6]}@agency.example"
    owner = org.headers()
    member = await client.post(
        "/v1/memberships", json={"email": email, "display_name": name, "role": key_role.value}, headers=owner
    )
    assert member.status_code == 201, member.text
    user_id = member.json()["user_id"]
    person = await client.post(
        "/v1/people",
        json={
            "name": name,
            "email": email,
            "role": job_role,
            "cost_rate": cost_rate,
            "cost_currency": cost_currency,
            "weekly_capacity_hours": weekly_capacity_hours,
            "utilization_target": utilization_target,
            "user_id": user_id,
        },
        headers=owner,
    )
    assert person.status_code == 201, person.text
    async with tenant_session(sessionmaker, org.id) as session:
        _, token = await issue_key(
            session,
            org_id=org.id,
            name=f"{name} key",
            role=key_role.value,
            scopes=[Scope.READ.value, Scope.WRITE.value],
            user_id=uuid.UUID(user_id),
        )
    return Actor(person_id=person.json()["id"], user_id=user_id, token=token, name=name)


async def make_client(client, org: OrgHandle, name: str, *, currency: str = "USD", tz: str = "UTC") -> str:
    response = await client.post(
        "/v1/clients",
        json={"name": name, "external_key": f"c-{uuid.uuid4().hex[:8]}", "currency": currency, "timezone": tz},
        headers=org.headers(),
    )
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


async def make_project(client, org: OrgHandle, client_id: str, code: str, name: str = "Project", **extra) -> str:
    body = {"client_id": client_id, "code": code, "name": name, "billing_mode": "t_and_m", **extra}
    response = await client.post("/v1/projects", json=body, headers=org.headers())
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


async def make_manager(client, org: OrgHandle, project_id: str, person_id: str) -> None:
    response = await client.put(
        f"/v1/projects/{project_id}/members/{person_id}", json={"role": "manager"}, headers=org.headers()
    )
    assert response.status_code in (200, 201), response.text


async def log(client, actor_or_headers, project_id: str, day: str, hours: str, **extra) -> dict:
    headers = actor_or_headers.headers() if isinstance(actor_or_headers, Actor) else actor_or_headers
    response = await client.post(
        "/v1/time-entries", json={"project_id": project_id, "work_date": day, "hours": hours, **extra}, headers=headers
    )
    assert response.status_code == 201, response.text
    return dict(response.json())


@dataclass
class World:
    org: OrgHandle
    client_id: str
    project_id: str
    other_project_id: str
    alice: Actor
    bob: Actor
    paula: Actor
    extra: dict[str, str] = field(default_factory=dict)


@pytest.fixture
async def world(client, org: OrgHandle, sessionmaker) -> World:
    """A client (USD, Europe/Berlin) with two projects; alice and bob are staff, paula the pm of the first.

    Rate card: developer 120/h, designer 100/h for the client; 150/h for developers on the first project.
    """
    client_id = await make_client(client, org, "Acme Robotics", tz="Europe/Berlin")
    project_id = await make_project(client, org, client_id, f"ACME-{uuid.uuid4().hex[:4]}", "Vision Pipeline")
    other_id = await make_project(client, org, client_id, f"ACME-{uuid.uuid4().hex[:4]}", "Support")
    alice = await add_person(client, org, sessionmaker, name="Alice Dev", job_role="developer", cost_rate="50")
    bob = await add_person(client, org, sessionmaker, name="Bob Design", job_role="designer", cost_rate="40")
    paula = await add_person(
        client, org, sessionmaker, name="Paula PM", key_role=Role.PM, job_role="pm", cost_rate="60"
    )
    await make_manager(client, org, project_id, paula.person_id)
    rates = await client.put(
        f"/v1/clients/{client_id}/rates",
        json={"rates": [{"role": "developer", "hourly_rate": "120"}, {"role": "designer", "hourly_rate": "100"}]},
        headers=org.headers(Role.FINANCE),
    )
    assert rates.status_code == 200, rates.text
    override = await client.put(
        f"/v1/projects/{project_id}/rates",
        json={"rates": [{"role": "developer", "hourly_rate": "150"}]},
        headers=org.headers(),
    )
    assert override.status_code == 200, override.text
    return World(org, client_id, project_id, other_id, alice, bob, paula)


def dec(value: object) -> Decimal:
    return Decimal(str(value))
