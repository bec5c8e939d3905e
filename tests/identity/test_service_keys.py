"""A service key acts for nobody: it may read and write like its role, but no money decision is made by it."""

from __future__ import annotations

import uuid

import pytest

from core.permissions import Role
from tests.conftest import make_org
from tests.identity.conftest import Stack

MONEY_DECISIONS = [
    ("approve", {"reason": "looks right"}),
    ("reject", {"reason": "wrong rate"}),
    ("adjust", {"reason": "goodwill", "adjustments": [{"description": "goodwill", "amount": "-10.00"}]}),
    ("resolve", {"reason": "rounding"}),
]


@pytest.mark.parametrize(("verb", "body"), MONEY_DECISIONS)
async def test_service_key_is_refused_every_invoice_decision_naming_why(
    identity_stack: Stack, sessionmaker, verb: str, body: dict[str, object]
) -> None:  # type: ignore[no-untyped-def]
    org = await make_org(sessionmaker, "Service key org")
    invoice_id = uuid.uuid4()
    async with identity_stack.client() as http:
        service = await http.post(
            f"/v1/invoices/{invoice_id}/{verb}", json=body, headers={"Authorization": f"Bearer {org.service_token}"}
        )
        personal = await http.post(f"/v1/invoices/{invoice_id}/{verb}", json=body, headers=org.headers(Role.OWNER))
    assert service.status_code == 403, service.text
    assert "service key acts for nobody" in service.json()["detail"]
    # The same role on a personal key passes the gate and meets the real answer: no such invoice.
    assert personal.status_code == 404, personal.text


async def test_service_key_still_reads_invoices_and_role_keys_belong_to_members(
    identity_stack: Stack, sessionmaker
) -> None:  # type: ignore[no-untyped-def]
    org = await make_org(sessionmaker, "Service key reader")
    async with identity_stack.client() as http:
        listed = await http.get("/v1/invoices", headers={"Authorization": f"Bearer {org.service_token}"})
        members = await http.get("/v1/memberships", headers=org.headers(Role.OWNER))
    assert listed.status_code == 200, listed.text
    assert members.status_code == 200, members.text
    roles = sorted(m["role"] for m in members.json()["items"])
    assert roles == sorted(role.value for role in Role)
    assert set(org.user_ids) == set(Role)
