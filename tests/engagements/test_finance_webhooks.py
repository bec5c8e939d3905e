"""Issue 14, item 8: finance systems subscribe to invoice and contract events, delivered like budget alerts
(same outbox, signing, retries and delivery log), each announced once per invoice even when activities retry."""

from __future__ import annotations

import asyncio
import json
import os
import uuid
from collections import Counter

import pytest

from core.permissions import Role
from persistence.db import tenant_session
from persistence.finance_events import FINANCE_EVENTS, INVOICE_APPROVED, emit_invoice_event
from tests.engagements.conftest import eventually, product_stack
from tests.engagements.dates import period, retainer_terms, yesterday_in_this_month
from tests.engagements.test_engagement_api import FAST, drafts, make_client
from tests.engagements.test_scenarios import approve_next
from tests.metering.conftest import Receiver
from workflows.names import METERING_WORKFLOW


@pytest.fixture
async def private_stack(temporal_env, sessionmaker, app_database_url, tmp_path):
    """A product stack allowed to deliver webhooks to this machine's receiver."""
    previous = os.environ.get("AGENCYFLOW_WEBHOOK_ALLOW_PRIVATE")
    os.environ["AGENCYFLOW_WEBHOOK_ALLOW_PRIVATE"] = "1"
    try:
        async with product_stack(temporal_env.client, sessionmaker, app_database_url, tmp_path, "finance-hooks") as (
            settings,
            client,
        ):
            yield settings, client
    finally:
        if previous is None:
            os.environ.pop("AGENCYFLOW_WEBHOOK_ALLOW_PRIVATE", None)
        else:
            os.environ["AGENCYFLOW_WEBHOOK_ALLOW_PRIVATE"] = previous


async def test_invoice_and_contract_events_reach_a_subscribed_endpoint_once_each(
    private_stack, temporal_env, sessionmaker, org
) -> None:
    effective = yesterday_in_this_month()
    if effective is None:
        pytest.skip("on the 1st no day of the current month has ended yet; the final cycle would wait for midnight")
    settings, api = private_stack
    receiver = Receiver()
    receiver.start()
    dispatcher = await temporal_env.client.start_workflow(
        METERING_WORKFLOW,
        args=[0.5, 200, 50],
        id=f"finance-hooks-metering-{uuid.uuid4().hex[:8]}",
        task_queue=settings.task_queue,
    )
    try:
        endpoint = await api.post(
            "/v1/webhooks",
            json={"url": receiver.url, "event_types": list(FINANCE_EVENTS)},
            headers=org.headers(Role.FINANCE),
        )
        assert endpoint.status_code == 201, endpoint.text
        client_id = await make_client(api, org)
        created = await api.post(
            "/v1/contracts",
            json={
                "client_id": client_id,
                "code": "HOOKS",
                "name": "Hooks",
                "terms": retainer_terms(period(-1), "3000.00"),
                "config": FAST,
            },
            headers=org.headers(Role.FINANCE),
        )
        contract_id = created.json()["id"]
        first = (await eventually(lambda: drafts(api, org, contract_id), timeout=60))[0]
        rejected = await api.post(
            f"/v1/invoices/{first['id']}/reject", json={"reason": "wrong PO"}, headers=org.headers(Role.FINANCE)
        )
        assert rejected.status_code == 200, rejected.text
        redraft = await api.post(f"/v1/invoices/{first['id']}/redraft", headers=org.headers(Role.FINANCE))
        assert redraft.status_code == 202, redraft.text
        approved = await approve_next(api, org, contract_id, period(-1))
        ended = await api.post(
            f"/v1/contracts/{contract_id}/terminate",
            json={"effective_on": effective.isoformat(), "reason": "hooks test"},
            headers=org.headers(Role.FINANCE),
        )
        assert ended.status_code == 200, ended.text
        final = await approve_next(api, org, contract_id, period(0))

        expected = Counter(
            {
                "invoice.drafted": 3,
                "invoice.rejected": 1,
                "invoice.approved": 2,
                "invoice.posted": 2,
                "contract.terminated": 1,
            }
        )

        def received() -> list[dict]:
            return [json.loads(r.body) for r in receiver.requests]

        async def all_arrived() -> list[dict] | None:
            events = received()
            return events if Counter(e["type"] for e in events) == expected else None

        events = await eventually(all_arrived, timeout=90, interval=0.5)
        assert all("agencyflow-signature" in r.headers for r in receiver.requests)
        by_type: dict[str, list[dict]] = {}
        for event in events:
            by_type.setdefault(event["type"], []).append(event["data"])
        assert by_type["invoice.rejected"][0]["reason"] == "wrong PO"
        assert by_type["invoice.rejected"][0]["invoice_id"] == first["id"]
        assert {d["number"] for d in by_type["invoice.approved"]} == {approved["number"], final["number"]}
        assert {d["total"] for d in by_type["invoice.approved"]} == {approved["total"], final["total"]}
        assert all(d["ledger_reference"] for d in by_type["invoice.posted"])
        assert by_type["contract.terminated"][0] == {
            "contract_id": contract_id,
            "client_id": client_id,
            "client": by_type["contract.terminated"][0]["client"],
            "code": "HOOKS",
            "status": "terminated",
            "terminates_on": effective.isoformat(),
            "final_period": period(0),
        }

        # An activity retried after its first attempt committed announces nothing twice.
        async with tenant_session(sessionmaker, org.id) as session:
            await emit_invoice_event(session, org.id, INVOICE_APPROVED, uuid.UUID(approved["id"]))
        await asyncio.sleep(2)
        assert Counter(e["type"] for e in received()) == expected
    finally:
        await dispatcher.terminate()
        receiver.stop()
