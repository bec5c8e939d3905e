"""Budgets fire each threshold once per period; webhooks are signed, retried and logged, delivered by Temporal
workflows to a real HTTP receiver started by the test."""

from __future__ import annotations

import asyncio
import json
import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import msgspec
import pytest
from sqlalchemy import text
from temporalio.worker import Worker

from activities.metering import MeteringActivities
from cli.worker import sandbox_runner
from core import webhook_signature
from core.permissions import Role
from core.settings import load_settings
from persistence.db import tenant_session
from persistence.metering_jobs import compact_all, evaluate_budgets
from tests.metering.conftest import create_endpoint, deliveries, event, post_batch, run_test_delivery, tokens_data
from workflows.metering import MeteringWorkflow, WebhookDeliveryWorkflow
from workflows.names import METERING_WORKFLOW, WEBHOOK_DELIVERY_WORKFLOW

NOW = datetime.now(UTC)


@pytest.fixture
async def worker(temporal_env, sessionmaker):
    """A worker for the metering workflows on the task queue the API starts workflows on (delivering to the
    tests' local receivers, so private targets are allowed)."""
    settings = msgspec.structs.replace(load_settings(), webhook_allow_private=True)
    activities = MeteringActivities(sessionmaker, settings)
    async with Worker(
        temporal_env.client,
        task_queue=settings.task_queue,
        workflows=[MeteringWorkflow, WebhookDeliveryWorkflow],
        activities=activities.all(),
        workflow_runner=sandbox_runner(),
    ):
        yield settings.task_queue


async def wait_for(predicate, seconds: float = 20.0) -> None:
    deadline = asyncio.get_running_loop().time() + seconds
    while asyncio.get_running_loop().time() < deadline:
        if await predicate():
            return
        await asyncio.sleep(0.1)
    raise AssertionError("condition not met in time")


# ---- signatures --------------------------------------------------------------------------------------------------


def test_signature_verifies_and_rejects_tampering_replay_and_wrong_secret() -> None:
    secret = webhook_signature.new_secret()
    body = b'{"id":"1","type":"budget.threshold_reached"}'
    header = webhook_signature.sign(secret, body, timestamp=1_767_225_600)
    assert header.startswith("t=1767225600,v1=")
    assert webhook_signature.verify(secret, body, header, now=1_767_225_600 + 299)
    assert not webhook_signature.verify(secret, body + b" ", header, now=1_767_225_600)
    assert not webhook_signature.verify(secret, body, header, now=1_767_225_600 + 301)
    assert not webhook_signature.verify(webhook_signature.new_secret(), body, header, now=1_767_225_600)
    rotated = header + ",v1=" + "0" * 64
    assert webhook_signature.verify(secret, body, rotated, now=1_767_225_600)
    assert not webhook_signature.verify(secret, body, "v1=abc", now=1_767_225_600)
    # The documented recipe, spelled out: hex(HMAC-SHA256(secret, "<t>." + body)).
    import hashlib
    import hmac

    expected = hmac.new(secret.encode(), b"1767225600." + body, hashlib.sha256).hexdigest()
    assert header == f"t=1767225600,v1={expected}"


# ---- webhook endpoints API ----------------------------------------------------------------------------------------


async def test_secret_is_shown_once_and_rotation_replaces_it(mclient, metered, other_org) -> None:
    created = await create_endpoint(
        mclient, metered, "https://hooks.example/af", event_types=["budget.threshold_reached"]
    )
    assert created["secret"].startswith("whsec_") and len(created["secret"]) == 70
    got = await mclient.get(f"/v1/webhooks/{created['id']}", headers=metered.headers())
    assert "secret" not in got.json()
    rotated = await mclient.post(f"/v1/webhooks/{created['id']}/rotate-secret", headers=metered.headers())
    assert rotated.status_code == 200 and rotated.json()["secret"] != created["secret"]
    assert (await mclient.get(f"/v1/webhooks/{created['id']}", headers=other_org.headers())).status_code == 404
    disabled = await mclient.patch(
        f"/v1/webhooks/{created['id']}", json={"status": "disabled"}, headers=metered.headers()
    )
    assert disabled.status_code == 200 and disabled.json()["status"] == "disabled"
    bad = await mclient.post(
        "/v1/webhooks", json={"url": "ftp://x", "event_types": ["nope"]}, headers=metered.headers()
    )
    assert bad.status_code == 422
    assert {e["pointer"] for e in bad.json()["errors"]} >= {"/url"}
    pm = metered.org.headers(Role.PM)
    assert (await mclient.get("/v1/webhooks", headers=pm)).status_code == 403
    deleted = await mclient.delete(f"/v1/webhooks/{created['id']}", headers=metered.headers())
    assert deleted.status_code == 204


# ---- budgets API ----------------------------------------------------------------------------------------------------


async def test_budget_validation_and_crud(mclient, metered, other_org) -> None:
    client_id = metered.clients["acme"]
    bad = await mclient.post(
        "/v1/usage/budgets",
        json={"client_id": client_id, "meter": "tokens", "limit": "-5", "thresholds": [80, 80, 2000]},
        headers=metered.headers(),
    )
    assert bad.status_code == 422
    assert {e["pointer"] for e in bad.json()["errors"]} >= {"/limit", "/thresholds/2"}
    theirs = await mclient.post(
        "/v1/usage/budgets",
        json={"client_id": client_id, "meter": "tokens", "limit": "10"},
        headers=other_org.headers(),
    )
    assert theirs.status_code == 404
    unknown_meter = await mclient.post(
        "/v1/usage/budgets", json={"client_id": client_id, "meter": "nope", "limit": "10"}, headers=metered.headers()
    )
    assert unknown_meter.status_code == 404
    created = await mclient.post(
        "/v1/usage/budgets",
        json={"client_id": client_id, "meter": "tokens", "limit": "1000", "thresholds": [100, 50]},
        headers=metered.headers(),
    )
    assert created.status_code == 201
    body = created.json()
    assert body["thresholds"] == [50, 100] and body["limit"] == "1000" and body["period"] == "month"
    twice = await mclient.post(
        "/v1/usage/budgets", json={"client_id": client_id, "meter": "tokens", "limit": "5"}, headers=metered.headers()
    )
    assert twice.status_code == 409
    url = f"/v1/usage/budgets/{body['id']}"
    patched = await mclient.patch(
        url, json={"limit": "2000", "thresholds": [90, 75]}, headers=metered.headers(**{"If-Match": '"1"'})
    )
    assert patched.status_code == 200
    assert patched.json()["limit"] == "2000" and patched.json()["thresholds"] == [75, 90]
    assert (await mclient.get(url, headers=other_org.headers())).status_code == 404
    viewer = metered.org.headers(Role.CLIENT_VIEWER)
    assert (await mclient.get("/v1/usage/budgets", headers=viewer)).status_code == 403
    assert (await mclient.delete(url, headers=metered.headers())).status_code == 204


async def test_each_threshold_fires_once_per_period(mclient, metered, sessionmaker, receiver) -> None:
    endpoint = await create_endpoint(mclient, metered, receiver.url)
    quiet = await create_endpoint(mclient, metered, receiver.url, event_types=["webhook.test"])
    created = await mclient.post(
        "/v1/usage/budgets",
        json={"client_id": metered.clients["acme"], "meter": "tokens", "limit": "100", "thresholds": [50, 80, 100]},
        headers=metered.headers(),
    )
    budget_id = created.json()["id"]
    month_start = NOW.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    when = max(NOW - timedelta(minutes=1), month_start + timedelta(seconds=1))

    async def spend(tokens: int) -> list:
        await post_batch(mclient, metered, [event(time=when, data=tokens_data(tokens=tokens))])
        folded = await compact_all(sessionmaker)
        return await evaluate_budgets(sessionmaker, folded.touched)

    assert await spend(40) == []
    first = await spend(20)  # 60: crosses 50
    assert len(first) == 1
    assert await evaluate_budgets(sessionmaker, (await compact_all(sessionmaker)).touched) == []
    assert await spend(1) == []  # 61: nothing new
    second = await spend(49)  # 110: crosses 80 and 100 at once
    assert len(second) == 2
    async with tenant_session(sessionmaker, metered.org.id) as session:
        alerts = (
            await session.execute(text("SELECT threshold, usage FROM usage_budget_alerts ORDER BY threshold"))
        ).all()
        rows = (
            await session.execute(text("SELECT endpoint_id, payload FROM webhook_deliveries ORDER BY created_at"))
        ).all()
    assert [(a.threshold, a.usage) for a in alerts] == [(50, 60), (80, 110), (100, 110)]
    assert {str(r.endpoint_id) for r in rows} == {endpoint["id"]}  # the test-only endpoint is not subscribed
    payload = json.loads(rows[0].payload)
    assert payload["type"] == "budget.threshold_reached"
    assert payload["data"]["threshold_percent"] == 50
    assert payload["data"]["usage"] == "60" and payload["data"]["limit"] == "100"
    assert payload["data"]["client"] == "acme" and payload["data"]["meter"] == "tokens"
    listed = await mclient.get(f"/v1/usage/budgets/{budget_id}/alerts", headers=metered.headers())
    assert [a["threshold"] for a in listed.json()["items"]] == [50, 80, 100]
    assert quiet["id"] not in {str(r.endpoint_id) for r in rows}


async def test_provider_cost_budgets_compare_the_cost_sum(mclient, metered, sessionmaker) -> None:
    await mclient.post(
        "/v1/usage/budgets",
        json={
            "client_id": metered.clients["acme"],
            "meter": "tokens",
            "kind": "provider_cost",
            "limit": "1.00",
            "thresholds": [100],
        },
        headers=metered.headers(),
    )
    result = await post_batch(
        mclient, metered, [event(data=tokens_data(cost=Decimal("0.6"))), event(data=tokens_data(cost=Decimal("0.39")))]
    )
    assert result["accepted"] == 2
    assert await evaluate_budgets(sessionmaker, (await compact_all(sessionmaker)).touched) == []
    await post_batch(mclient, metered, [event(data=tokens_data(cost=Decimal("0.01")))])
    await evaluate_budgets(sessionmaker, (await compact_all(sessionmaker)).touched)
    async with tenant_session(sessionmaker, metered.org.id) as session:
        alerts = (await session.execute(text("SELECT threshold, usage FROM usage_budget_alerts"))).all()
    assert [(a.threshold, str(a.usage)) for a in alerts] == [(100, "1.00")]


# ---- delivery through Temporal ------------------------------------------------------------------------------------


async def test_delivery_retries_until_2xx_and_logs_every_attempt(
    mclient, metered, sessionmaker, receiver, worker, temporal_env
) -> None:
    endpoint = await create_endpoint(mclient, metered, receiver.url)
    receiver.script = [500, 503]
    event_id = uuid.uuid4()
    delivery_id, result = await run_test_delivery(
        temporal_env, sessionmaker, metered.org.id, worker, event_id=event_id, data={"n": 1}
    )
    assert result == "delivered"
    assert len(receiver.requests) == 3
    bodies = {r.body for r in receiver.requests}
    assert len(bodies) == 1  # every retry sends the same bytes
    for r in receiver.requests:
        assert webhook_signature.verify(endpoint["secret"], r.body, r.headers["agencyflow-signature"])
        assert r.headers["agencyflow-event-id"] == str(event_id)
        assert r.headers["agencyflow-delivery-id"] == str(delivery_id)
        assert r.headers["content-type"] == "application/json"
    [delivery] = await deliveries(mclient, metered, endpoint["id"])
    assert delivery["status"] == "delivered" and delivery["attempts"] == 3
    assert [a["status_code"] for a in delivery["log"]] == [500, 503, 200]
    assert delivery["log"][0]["error"].startswith("HTTP 500")


async def test_exhausted_attempts_mark_the_delivery_failed(
    mclient, metered, sessionmaker, receiver, worker, temporal_env
) -> None:
    from persistence.metering_jobs import WebhookEvent, enqueue_event

    endpoint = await create_endpoint(mclient, metered, receiver.url)
    receiver.script = [500] * 10
    async with tenant_session(sessionmaker, metered.org.id) as session:
        [(_org, delivery_id)] = await enqueue_event(
            session, metered.org.id, WebhookEvent(id=uuid.uuid4(), type="webhook.test", created_at=NOW, data={})
        )
    handle = await temporal_env.client.start_workflow(
        WEBHOOK_DELIVERY_WORKFLOW,
        args=[str(metered.org.id), str(delivery_id), 0.1, 3],
        id=f"test-delivery-{delivery_id}",
        task_queue=worker,
    )
    assert await handle.result() == "failed"
    [delivery] = await deliveries(mclient, metered, endpoint["id"])
    assert delivery["status"] == "failed" and delivery["attempts"] == 3
    assert len(receiver.requests) == 3


async def test_test_ping_from_the_api_is_delivered(mclient, metered, receiver, worker) -> None:
    endpoint = await create_endpoint(mclient, metered, receiver.url)
    sent = await mclient.post(f"/v1/webhooks/{endpoint['id']}/test", headers=metered.headers())
    assert sent.status_code == 202, sent.text

    async def delivered() -> bool:
        items = await deliveries(mclient, metered, endpoint["id"])
        return bool(items) and items[0]["status"] == "delivered"

    await wait_for(delivered)
    [request] = receiver.requests
    assert json.loads(request.body)["type"] == "webhook.test"
    assert webhook_signature.verify(endpoint["secret"], request.body, request.headers["agencyflow-signature"])


async def test_metering_workflow_folds_fires_and_delivers(
    mclient, metered, sessionmaker, receiver, worker, temporal_env
) -> None:
    endpoint = await create_endpoint(mclient, metered, receiver.url)
    await mclient.post(
        "/v1/usage/budgets",
        json={"client_id": metered.clients["acme"], "meter": "tokens", "limit": "10", "thresholds": [100]},
        headers=metered.headers(),
    )
    handle = await temporal_env.client.start_workflow(
        METERING_WORKFLOW, args=[1.0, 50], id=f"test-metering-{uuid.uuid4().hex[:6]}", task_queue=worker
    )
    try:
        await post_batch(mclient, metered, [event(data=tokens_data(tokens=12))])

        async def arrived() -> bool:
            return any(json.loads(r.body)["type"] == "budget.threshold_reached" for r in receiver.requests)

        await wait_for(arrived, seconds=30)
    finally:
        await handle.terminate("test done")
    request = next(r for r in receiver.requests if json.loads(r.body)["type"] == "budget.threshold_reached")
    assert webhook_signature.verify(endpoint["secret"], request.body, request.headers["agencyflow-signature"])
    assert json.loads(request.body)["data"]["usage"] == "12"
    async with tenant_session(sessionmaker, metered.org.id) as session:
        unrolled = (
            await session.execute(text("SELECT count(*) FROM ingest_batches WHERE rolled_at IS NULL"))
        ).scalar_one()
    assert unrolled == 0
