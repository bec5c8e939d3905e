"""Every money decision belongs to a person: the audit of an approval or adjustment names the
user behind the key, and every invoice view records from where it was made."""

from __future__ import annotations

import uuid

from sqlalchemy import select

from core.permissions import Role
from persistence.db import tenant_session
from persistence.models.audit import AuditEntry
from tests.engagements.conftest import eventually
from tests.engagements.dates import period, retainer_terms
from tests.engagements.test_engagement_api import FAST, drafts, make_client


async def _entries(sessionmaker, org_id: uuid.UUID, action: str) -> list[AuditEntry]:  # type: ignore[no-untyped-def]
    async with tenant_session(sessionmaker, org_id) as session:
        return list((await session.execute(select(AuditEntry).where(AuditEntry.action == action))).scalars().all())


async def test_approval_and_adjustment_are_audited_with_the_person_and_views_with_origin(
    stack, org, sessionmaker
) -> None:  # type: ignore[no-untyped-def]
    api = stack.client
    client_id = await make_client(api, org)
    created = await api.post(
        "/v1/contracts",
        json={
            "client_id": client_id,
            "code": f"ACT-{uuid.uuid4().hex[:4]}",
            "name": "Actors",
            "terms": retainer_terms(period(-1), "1200.00"),
            "config": FAST,
        },
        headers=org.headers(Role.FINANCE),
    )
    assert created.status_code == 201, created.text
    invoice = (await eventually(lambda: drafts(api, org, created.json()["id"])))[0]
    finance = org.headers(Role.FINANCE, **{"User-Agent": "finance-browser/1.0"})

    viewed = await api.get(f"/v1/invoices/{invoice['id']}", headers=finance)
    assert viewed.status_code == 200, viewed.text
    adjusted = await api.post(
        f"/v1/invoices/{invoice['id']}/adjust",
        json={"reason": "goodwill", "adjustments": [{"description": "goodwill", "amount": "-200.00"}]},
        headers=finance,
    )
    assert adjusted.status_code == 200, adjusted.text
    approved = await api.post(f"/v1/invoices/{invoice['id']}/approve", json={}, headers=finance)
    assert approved.status_code == 200, approved.text

    finance_user = org.user_ids[Role.FINANCE]
    for action in ("invoice.adjust", "invoice.approve"):
        (entry,) = await _entries(sessionmaker, org.id, action)
        assert entry.actor_user_id == finance_user, action
        assert entry.actor_type == "api_key"
        assert entry.actor_role == "finance"
    reads = [e for e in await _entries(sessionmaker, org.id, "invoice.read") if e.entity_id == invoice["id"]]
    assert reads and all(e.actor_user_id == finance_user for e in reads)
    assert reads[0].detail["user_agent"] == "finance-browser/1.0"
    assert reads[0].detail["ip"] == "127.0.0.1"
