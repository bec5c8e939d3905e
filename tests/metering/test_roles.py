"""The role matrix for every metering action, read from the one permission table."""

from __future__ import annotations

import uuid

import msgspec
import pytest

from core.permissions import PERMISSIONS, Role
from tests.metering.conftest import BATCH, event

ACTIONS = [
    "meters.read",
    "meters.write",
    "events.write",
    "usage.read",
    "budgets.read",
    "budgets.write",
    "webhooks.read",
    "webhooks.write",
]


async def probe(mclient, org, role: Role, action: str) -> int:
    h = org.headers(role)
    suffix = uuid.uuid4().hex[:8]
    if action == "meters.read":
        return (await mclient.get("/v1/meters", headers=h)).status_code
    if action == "meters.write":
        body = {"key": f"m-{suffix}", "name": "M", "event_type": "x", "aggregation": "count"}
        return (await mclient.post("/v1/meters", json=body, headers=h)).status_code
    if action == "events.write":
        body = msgspec.json.encode([event(subject="viewer-client", type="x")])
        return (await mclient.post("/v1/events", content=body, headers={**h, "Content-Type": BATCH})).status_code
    if action == "usage.read":
        return (await mclient.get("/v1/usage?from=2026-01-01T00:00:00Z&to=2026-01-02T00:00:00Z", headers=h)).status_code
    if action == "budgets.read":
        return (await mclient.get("/v1/usage/budgets", headers=h)).status_code
    if action == "budgets.write":
        meter = {"key": f"b-{suffix}", "name": "B", "event_type": "x", "aggregation": "count"}
        assert (await mclient.post("/v1/meters", json=meter, headers=org.headers())).status_code == 201
        body = {"client_id": str(org.client_id), "meter": meter["key"], "limit": "10"}
        return (await mclient.post("/v1/usage/budgets", json=body, headers=h)).status_code
    if action == "webhooks.read":
        return (await mclient.get("/v1/webhooks", headers=h)).status_code
    if action == "webhooks.write":
        return (await mclient.post("/v1/webhooks", json={"url": "https://x.example/h"}, headers=h)).status_code
    raise AssertionError(action)


def test_the_matrix_covers_every_metering_action_in_the_table() -> None:
    assert set(ACTIONS) <= set(PERMISSIONS)


@pytest.mark.parametrize("action", ACTIONS)
@pytest.mark.parametrize("role", list(Role))
async def test_metering_role_matrix(mclient, org, role: Role, action: str) -> None:
    status = await probe(mclient, org, role, action)
    roles, _ = PERMISSIONS[action]
    if role in roles:
        assert status in (200, 201), (role, action, status)
    else:
        assert status == 403, (role, action, status)
