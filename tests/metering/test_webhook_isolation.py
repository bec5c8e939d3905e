"""Issue 13, item 1: one org's failing webhook target never stalls usage folding or budget alerts for another.

Before, ``compact_usage`` returned early whenever any delivery (of any org) had been pending for two minutes,
folding nothing, and the metering workflow re-started those still-retrying deliveries every run (failing with
WORKFLOW_ALREADY_EXISTS), so folding and alerts stopped for every org. These tests run the real metering and
delivery workflows against real local HTTP receivers (one answering 500 to everything) and a name that does
not resolve.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import time
import uuid
from datetime import UTC, datetime, timedelta

import msgspec
import pytest
from sqlalchemy import text
from temporalio.api.enums.v1 import EventType
from temporalio.testing import ActivityEnvironment
from temporalio.worker import Worker

from activities.metering import DELIVERY_LEASE, MeteringActivities
from cli.worker import sandbox_runner
from core.settings import load_settings
from persistence.db import tenant_session
from persistence.metering_jobs import DispatchLimits, WebhookEvent, claim_deliveries, enqueue_event
from tests.conftest import make_org
from tests.metering.conftest import (
    MeteredOrg,
    Receiver,
    add_client,
    add_meter,
    create_endpoint,
    event,
    post_batch,
    tokens_data,
)
from workflows.metering import MeteringWorkflow, WebhookDeliveryWorkflow
from workflows.names import METERING_WORKFLOW, WEBHOOK_DELIVERY_WORKFLOW, webhook_delivery_id

TOKENS = {
    "key": "tokens",
    "name": "LLM tokens",
    "event_type": "ai.tokens",
    "aggregation": "sum",
    "value_path": "tokens",
    "unit": "tokens",
}
DEAD_NAME = "http://agencyflow-dead-target.invalid/hooks"


@pytest.fixture
async def queue(temporal_env, sessionmaker):
    """A worker for the metering workflows on a queue of its own (the dispatcher starts deliveries on the
    queue it runs on), delivering to the tests' local receivers (private targets allowed)."""
    settings = msgspec.structs.replace(load_settings(), webhook_allow_private=True)
    task_queue = f"metering-isolation-{uuid.uuid4().hex[:8]}"
    async with Worker(
        temporal_env.client,
        task_queue=task_queue,
        workflows=[MeteringWorkflow, WebhookDeliveryWorkflow],
        activities=MeteringActivities(sessionmaker, settings).all(),
        workflow_runner=sandbox_runner(),
    ):
        yield task_queue


@pytest.fixture
def dead_receiver():
    r = Receiver(script=[500] * 10_000)
    r.start()
    yield r
    r.stop()


@pytest.fixture
def live_receiver():
    r = Receiver()
    r.start()
    yield r
    r.stop()


async def budgeted_org(mclient, sessionmaker, name: str) -> tuple[MeteredOrg, str]:
    """An org with client ``acme``, a ``tokens`` meter and a budget of 10 tokens alerting at 100 %."""
    org = MeteredOrg(org=await make_org(sessionmaker, name))
    await add_client(mclient, org, "acme", sites=["berlin"])
    await add_meter(mclient, org, **TOKENS)
    created = await mclient.post(
        "/v1/usage/budgets",
        json={"client_id": org.clients["acme"], "meter": "tokens", "limit": "10", "thresholds": [100]},
        headers=org.headers(),
    )
    assert created.status_code == 201, created.text
    return org, created.json()["id"]


async def pending_for_30_minutes(sessionmaker, org: MeteredOrg, count: int) -> list[uuid.UUID]:
    """``count`` events to every endpoint of the org, their deliveries made to look 30 minutes old: what
    the old compaction treated as stale and returned instead of folding."""
    ids: list[uuid.UUID] = []
    async with tenant_session(sessionmaker, org.org.id) as session:
        for n in range(count):
            ev = WebhookEvent(id=uuid.uuid4(), type="webhook.test", created_at=datetime.now(UTC), data={"n": n})
            ids += [delivery for _org, delivery in await enqueue_event(session, org.org.id, ev)]
        await session.execute(
            text("UPDATE webhook_deliveries SET created_at = now() - interval '30 minutes' WHERE id = ANY(:ids)"),
            {"ids": ids},
        )
    return ids


async def wait_for(predicate, seconds: float) -> float:
    """Seconds until ``predicate`` held (fails after ``seconds``)."""
    started = time.monotonic()
    while time.monotonic() - started < seconds:
        if await predicate():
            return time.monotonic() - started
        await asyncio.sleep(0.2)
    raise AssertionError(f"condition not met in {seconds} s")


async def test_a_dead_webhook_target_in_one_org_never_stops_another_orgs_folding_and_alerts(
    mclient, sessionmaker, temporal_env, queue, dead_receiver, live_receiver
) -> None:
    org_a, _budget_a = await budgeted_org(mclient, sessionmaker, "Org A (target down)")
    org_b, budget_b = await budgeted_org(mclient, sessionmaker, "Org B")
    await create_endpoint(mclient, org_a, dead_receiver.url)
    await create_endpoint(mclient, org_a, DEAD_NAME)
    await create_endpoint(mclient, org_b, live_receiver.url)
    stuck = await pending_for_30_minutes(sessionmaker, org_a, 5)
    # Org A keeps producing alerts for its dead endpoints, too.
    await post_batch(mclient, org_a, [event(data=tokens_data(tokens=40))])

    handle = await temporal_env.client.start_workflow(
        METERING_WORKFLOW, args=[1.0, 50, 4], id=f"test-metering-{uuid.uuid4().hex[:8]}", task_queue=queue
    )
    try:
        await post_batch(mclient, org_b, [event(data=tokens_data(tokens=12))])

        async def b_alert_delivered() -> bool:
            return any(json.loads(r.body)["type"] == "budget.threshold_reached" for r in live_receiver.requests)

        elapsed = await wait_for(b_alert_delivered, seconds=60)
        print(f"org B's alert delivered {elapsed:.1f} s after its usage arrived")

        async def a_retried() -> bool:
            async with tenant_session(sessionmaker, org_a.org.id) as session:
                tried = (
                    await session.execute(
                        text("SELECT count(*) FROM webhook_deliveries WHERE attempts >= 2 AND id = ANY(:ids)"),
                        {"ids": stuck},
                    )
                ).scalar_one()
            return int(tried) == len(stuck)

        await wait_for(a_retried, seconds=60)  # first retry after 5 s: org A keeps failing meanwhile

        async def continued_as_new() -> bool:
            return (await handle.describe()).run_id != handle.first_execution_run_id

        await wait_for(continued_as_new, seconds=60)
    finally:
        await temporal_env.client.get_workflow_handle(handle.id).terminate("test done")

    # Org B: folded, alert recorded once, signed webhook delivered.
    async with tenant_session(sessionmaker, org_b.org.id) as session:
        unrolled = (
            await session.execute(text("SELECT count(*) FROM ingest_batches WHERE rolled_at IS NULL"))
        ).scalar_one()
    assert unrolled == 0
    alerts = await mclient.get(f"/v1/usage/budgets/{budget_b}/alerts", headers=org_b.headers())
    assert alerts.status_code == 200, alerts.text
    [alert] = alerts.json()["items"]
    assert alert["threshold"] == 100 and alert["usage"] == "12"
    [request] = [r for r in live_receiver.requests if json.loads(r.body)["type"] == "budget.threshold_reached"]
    assert json.loads(request.body)["data"]["usage"] == "12"

    # Org A: folded too, and every delivery is still failing, each in its own workflow, held off dispatch.
    async with tenant_session(sessionmaker, org_a.org.id) as session:
        rows = (
            await session.execute(
                text(
                    "SELECT d.id, d.status, d.attempts, d.last_status_code, d.last_error, e.url, "
                    "d.dispatch_at - now() AS held FROM webhook_deliveries d "
                    "JOIN webhook_endpoints e ON e.id = d.endpoint_id"
                )
            )
        ).all()
        a_unrolled = (
            await session.execute(text("SELECT count(*) FROM ingest_batches WHERE rolled_at IS NULL"))
        ).scalar_one()
    assert a_unrolled == 0
    assert len(rows) == 2 * (5 + 1)  # 5 old test events and 1 budget alert, to each of 2 endpoints
    for row in rows:
        assert row.status == "pending" and row.attempts >= 1
        assert row.held > DELIVERY_LEASE - timedelta(minutes=5)  # started once, not re-dispatched every round
        if row.url == DEAD_NAME:
            assert row.last_status_code is None and "ConnectError" in row.last_error
        else:
            assert row.last_status_code == 500
    assert len(dead_receiver.requests) >= 2 * 6  # every delivery to it tried at least twice, all answered 500

    # The metering history stays small: a few events per round, no child-workflow starts or failures.
    first = temporal_env.client.get_workflow_handle(handle.id, run_id=handle.first_execution_run_id)
    events = [e async for e in first.fetch_history_events()]
    assert len(events) <= 4 * 14 + 10, len(events)
    kinds = {e.event_type for e in events}
    assert EventType.EVENT_TYPE_START_CHILD_WORKFLOW_EXECUTION_INITIATED not in kinds
    assert EventType.EVENT_TYPE_START_CHILD_WORKFLOW_EXECUTION_FAILED not in kinds
    assert events[-1].event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_CONTINUED_AS_NEW


async def test_dispatch_claims_fairly_and_holds_back_an_endpoint_whose_deliveries_keep_failing(
    mclient, sessionmaker, dead_receiver, live_receiver
) -> None:
    org_a, _ = await budgeted_org(mclient, sessionmaker, "Org A (retrying)")
    org_b, _ = await budgeted_org(mclient, sessionmaker, "Org B (backlog)")
    await create_endpoint(mclient, org_a, dead_receiver.url)
    await create_endpoint(mclient, org_b, live_receiver.url)
    retrying = await pending_for_30_minutes(sessionmaker, org_a, 4)
    a_waiting = await pending_for_30_minutes(sessionmaker, org_a, 3)
    b_backlog = await pending_for_30_minutes(sessionmaker, org_b, 7)
    async with tenant_session(sessionmaker, org_a.org.id) as session:
        # Four of A's deliveries are in flight and have failed at least once (their workflows retry).
        await session.execute(
            text(
                "UPDATE webhook_deliveries SET attempts = 3, last_status_code = 500, "
                "dispatch_at = now() + interval '6 hours' WHERE id = ANY(:ids)"
            ),
            {"ids": retrying},
        )
    limits = DispatchLimits(limit=10_000, per_endpoint=3, max_failing=4)
    mine = set(a_waiting) | set(b_backlog)

    first = {d for _org, d in await claim_deliveries(sessionmaker, timedelta(minutes=2), limits)} & mine
    # A's endpoint already has 4 failing deliveries in flight: none of its waiting ones is started; B gets
    # at most 3 per round, oldest first.
    assert first == set(b_backlog[:3])
    second = {d for _org, d in await claim_deliveries(sessionmaker, timedelta(minutes=2), limits)} & mine
    assert len(second) == 3 and not first & second  # claimed rows are not due again within the hold
    third = {d for _org, d in await claim_deliveries(sessionmaker, timedelta(minutes=2), limits)} & mine
    assert third == set(b_backlog) - first - second

    assert not {d for _org, d in await claim_deliveries(sessionmaker, timedelta(minutes=2), limits)} & mine

    # One of A's retrying deliveries gives up: one slot frees, and one waiting delivery (the oldest) goes out.
    async with tenant_session(sessionmaker, org_a.org.id) as session:
        await session.execute(
            text("UPDATE webhook_deliveries SET status = 'failed' WHERE id = :id"), {"id": retrying[0]}
        )
    released = {d for _org, d in await claim_deliveries(sessionmaker, timedelta(minutes=2), limits)} & mine
    assert released == {a_waiting[0]}


async def test_dispatch_attaches_to_a_running_delivery_restarts_a_vanished_one_and_never_fails_on_a_closed_one(
    mclient, sessionmaker, temporal_env, queue, dead_receiver
) -> None:
    """The three cases the old loop turned into WORKFLOW_ALREADY_EXISTS every run: each is settled once and
    held off dispatch for the lease."""
    org, _ = await budgeted_org(mclient, sessionmaker, "Org (dispatch cases)")
    await create_endpoint(mclient, org, dead_receiver.url)
    running, vanished, closed = await pending_for_30_minutes(sessionmaker, org, 3)
    client = temporal_env.client
    handles = {}
    for delivery in (running, vanished, closed):
        handles[delivery] = await client.start_workflow(
            WEBHOOK_DELIVERY_WORKFLOW,
            args=[str(org.org.id), str(delivery), 0.2, 1 if delivery == closed else 1000],
            id=webhook_delivery_id(str(delivery)),
            task_queue=queue,
        )
    await handles[vanished].terminate("an operator ended it")
    assert await handles[closed].result() == "failed"
    async with tenant_session(sessionmaker, org.org.id) as session:  # as if its outcome had not been recorded
        await session.execute(text("UPDATE webhook_deliveries SET status = 'pending' WHERE id = :id"), {"id": closed})
    runs = {d: (await h.describe()).run_id for d, h in handles.items()}

    env = ActivityEnvironment(client=client)
    env.info = dataclasses.replace(env.info, task_queue=queue, heartbeat_timeout=None)
    activities = MeteringActivities(sessionmaker, msgspec.structs.replace(load_settings(), webhook_allow_private=True))
    await env.run(activities.dispatch_webhooks, 10.0)

    latest = {d: await client.get_workflow_handle(webhook_delivery_id(str(d))).describe() for d in handles}
    assert latest[running].run_id == runs[running]  # attached to, not started twice
    assert latest[vanished].run_id != runs[vanished]  # started again: nothing was delivering it
    assert latest[closed].run_id == runs[closed]  # closed: left alone, no error
    async with tenant_session(sessionmaker, org.org.id) as session:
        held = dict(
            (
                await session.execute(
                    text("SELECT id, dispatch_at - now() FROM webhook_deliveries WHERE id = ANY(:ids)"),
                    {"ids": list(handles)},
                )
            ).all()
        )
    assert all(h > DELIVERY_LEASE - timedelta(minutes=5) for h in held.values())
    # A second round finds none of them due.
    again = {d for _o, d in await claim_deliveries(sessionmaker, timedelta(minutes=2))}
    assert not again & set(handles)
    for delivery in (running, vanished):
        await client.get_workflow_handle(webhook_delivery_id(str(delivery))).terminate("test done")
