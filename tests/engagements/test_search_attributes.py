"""Issue 13, item 14: operators find engagements, billing cycles and ledger syncs in Temporal by the client's
external key and the billing period (``AgencyflowClientKey``, ``AgencyflowPeriod``), and workflows that were
already running when the attributes were added gain them at their next visible step (workflows.visibility).
"""

from __future__ import annotations

import contextlib
import uuid

from google.protobuf.duration_pb2 import Duration
from temporalio.api.enums.v1 import IndexedValueType
from temporalio.api.operatorservice.v1 import ListSearchAttributesRequest
from temporalio.api.workflowservice.v1 import RegisterNamespaceRequest
from temporalio.client import Client, WorkflowExecutionStatus
from temporalio.common import SearchAttributeKey
from temporalio.service import RPCError
from temporalio.worker import Replayer

from cli.worker import ensure_search_attributes, sandbox_runner
from core.permissions import Role
from core.search_attributes import CLIENT, CLIENT_KEY, ORG, PERIOD, SEARCH_ATTRIBUTES, STATUS
from tests.engagements.conftest import eventually
from tests.engagements.dates import period, retainer_terms
from workflows import names
from workflows.billing_cycle import search_attributes
from workflows.converter import DATA_CONVERTER
from workflows.inputs import CycleInput, EngagementInput
from workflows.registry import WORKFLOWS

FAST = {"grace_s": 0, "remind_after_s": 3600, "escalate_after_s": 7200}
CLIENT_KEY_ATTR = SearchAttributeKey.for_keyword(CLIENT_KEY)
PERIOD_ATTR = SearchAttributeKey.for_keyword(PERIOD)


async def contract_for(api, org, key: str, amount: str = "1200.00", terms_days: int | None = None) -> tuple[str, str]:
    """A client ``key`` (New York, optionally with its own payment terms) with a retainer contract from last
    month: one cycle to bill at once."""
    body = {"name": key.title(), "external_key": key, "currency": "USD", "timezone": "America/New_York"}
    if terms_days is not None:
        body["payment_terms_days"] = terms_days
    client = await api.post("/v1/clients", json=body, headers=org.headers())
    assert client.status_code == 201, client.text
    assert client.json()["payment_terms_days"] == terms_days
    contract = await api.post(
        "/v1/contracts",
        json={
            "client_id": client.json()["id"],
            "code": f"C-{key}",
            "name": "Retainer",
            "terms": retainer_terms(period(-1), amount),
            "config": FAST,
        },
        headers=org.headers(Role.FINANCE),
    )
    assert contract.status_code == 201, contract.text
    return client.json()["id"], contract.json()["id"]


async def draft(api, org, contract_id: str) -> dict | None:
    response = await api.get(f"/v1/invoices?contract_id={contract_id}&status=draft", headers=org.headers(Role.FINANCE))
    items = response.json()["items"]
    return items[0] if items else None


async def found(temporal: Client, query: str) -> list[str]:
    return sorted([w.id async for w in temporal.list_workflows(query)])


async def test_cycle_ledger_sync_and_engagement_are_found_by_client_key_and_period(stack, org) -> None:
    api, temporal = stack.client, stack.temporal
    key = f"acme-{uuid.uuid4().hex[:6]}"
    _client_id, contract_id = await contract_for(api, org, key)
    org_id, billed = str(org.id), period(-1)
    cycle_id = names.billing_cycle_id(org_id, contract_id, billed)

    invoice = await eventually(lambda: draft(api, org, contract_id), timeout=90)
    query = f"{CLIENT_KEY} = '{key}' AND {PERIOD} = '{billed}'"
    assert await eventually(lambda: found(temporal, query)) == [cycle_id]

    approved = await api.post(f"/v1/invoices/{invoice['id']}/approve", json={}, headers=org.headers(Role.FINANCE))
    assert approved.status_code == 200, approved.text
    ledger_id = names.ledger_sync_id(org_id, invoice["id"])
    collection_id = names.invoice_collection_id(org_id, invoice["id"])

    async def all_three() -> list[str] | None:
        ids = await found(temporal, query)
        return ids if len(ids) == 3 else None

    # The invoice's collection (overdue and dunning timers) is found the same way as its cycle and ledger sync.
    assert await eventually(all_three) == sorted([cycle_id, ledger_id, collection_id])
    engagement_id = names.engagement_id(org_id, contract_id)
    engagements = f"{CLIENT_KEY} = '{key}' AND WorkflowType = '{names.ENGAGEMENT_WORKFLOW}'"
    assert await eventually(lambda: found(temporal, engagements)) == [engagement_id]
    # Nothing of another client answers that key.
    assert await found(temporal, f"{CLIENT_KEY} = 'no-such-{key}'") == []


async def test_a_cycle_started_without_the_new_attributes_gains_them_at_its_next_status_change(stack, org) -> None:
    """As a cycle that was running when the attributes were added: started with the old three only."""
    api, temporal = stack.client, stack.temporal
    key = f"globex-{uuid.uuid4().hex[:6]}"
    client_id, contract_id = await contract_for(api, org, key)
    org_id, billed = str(org.id), period(-1)
    cycle_id = names.billing_cycle_id(org_id, contract_id, billed)
    await eventually(lambda: draft(api, org, contract_id), timeout=90)
    # Stop the engagement (which ends its cycle), then run the cycle again the way it was started before.
    cycle = temporal.get_workflow_handle(cycle_id)
    started = (await cycle.fetch_history()).events[0].workflow_execution_started_event_attributes
    [inp] = await DATA_CONVERTER.decode(started.input.payloads, [CycleInput])
    await temporal.get_workflow_handle(names.engagement_id(org_id, contract_id)).terminate("test: old start")
    # The child cycle is closed by the parent's termination asynchronously: close it here and wait, so the
    # restart below never races it (WorkflowAlreadyStarted on a loaded machine).
    with contextlib.suppress(RPCError):
        await cycle.terminate("test: old start")

    async def closed() -> bool:
        return (await cycle.describe()).status != WorkflowExecutionStatus.RUNNING

    assert await eventually(closed)
    old = await temporal.start_workflow(
        names.BILLING_CYCLE_WORKFLOW,
        inp,
        id=cycle_id,
        task_queue=stack.settings.task_queue,
        search_attributes=search_attributes(org_id, client_id, "waiting_grace"),
    )
    # (Read from the start event: the run may already have backfilled by the time we could describe it.)
    start_event = (await old.fetch_history()).events[0].workflow_execution_started_event_attributes
    assert set(start_event.search_attributes.indexed_fields) == {ORG, CLIENT, STATUS}

    async def backfilled() -> bool:
        attrs = (await old.describe()).typed_search_attributes
        return attrs.get(CLIENT_KEY_ATTR) == key and attrs.get(PERIOD_ATTR) == billed

    assert await eventually(backfilled)
    query = f"{CLIENT_KEY} = '{key}' AND {PERIOD} = '{billed}' AND ExecutionStatus = 'Running'"
    assert await eventually(lambda: found(temporal, query)) == [cycle_id]
    markers = [e for e in (await old.fetch_history()).events if e.HasField("marker_recorded_event_attributes")]
    assert len(markers) == 1  # one patch marker for the one backfill, none for later status changes
    await old.terminate("test done")
    # The history with the backfill replays clean against the same code (the marker decides the branch).
    replayer = Replayer(workflows=WORKFLOWS, workflow_runner=sandbox_runner(), data_converter=DATA_CONVERTER)
    replayed = await replayer.replay_workflow(await old.fetch_history(), raise_on_replay_failure=True)
    assert replayed.replay_failure is None


async def test_an_engagement_started_without_the_client_key_gains_it_when_it_starts_its_next_cycle(stack, org) -> None:
    api, temporal = stack.client, stack.temporal
    key = f"initech-{uuid.uuid4().hex[:6]}"
    client_id, contract_id = await contract_for(api, org, key)
    org_id = str(org.id)
    engagement_id = names.engagement_id(org_id, contract_id)
    await eventually(lambda: draft(api, org, contract_id), timeout=90)
    engagement = temporal.get_workflow_handle(engagement_id)
    started = (await engagement.fetch_history()).events[0].workflow_execution_started_event_attributes
    [inp] = await DATA_CONVERTER.decode(started.input.payloads, [EngagementInput])
    await engagement.terminate("test: old start")
    # Started as before the change: org, client id and status only.
    old = await temporal.start_workflow(
        names.ENGAGEMENT_WORKFLOW,
        inp,
        id=engagement_id,
        task_queue=stack.settings.task_queue,
        search_attributes=search_attributes(org_id, client_id, "active"),
    )

    async def backfilled() -> bool:
        return (await old.describe()).typed_search_attributes.get(CLIENT_KEY_ATTR) == key

    assert await eventually(backfilled)
    running = f"{CLIENT_KEY} = '{key}' AND WorkflowType = '{names.ENGAGEMENT_WORKFLOW}' AND ExecutionStatus = 'Running'"
    assert await eventually(lambda: found(temporal, running)) == [engagement_id]
    await old.terminate("test done")


async def test_worker_start_registers_the_attributes_a_namespace_lacks(temporal_env) -> None:
    """A namespace set up before the new attributes (here: a fresh one with none) gets them all."""
    client = temporal_env.client
    namespace = f"h1-{uuid.uuid4().hex[:8]}"
    await client.workflow_service.register_namespace(
        RegisterNamespaceRequest(namespace=namespace, workflow_execution_retention_period=Duration(seconds=86400))
    )

    async def listed() -> set[str] | None:
        try:
            response = await client.operator_service.list_search_attributes(
                ListSearchAttributesRequest(namespace=namespace)
            )
        except RPCError:
            return None  # the namespace is not visible to every service yet
        return {
            name
            for name, kind in response.custom_attributes.items()
            if kind == IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD
        }

    async def ready() -> tuple[set[str]] | None:
        names_now = await listed()
        return None if names_now is None else (names_now,)

    [before] = await eventually(ready)
    assert CLIENT_KEY not in before and PERIOD not in before
    await ensure_search_attributes(client, namespace)
    await ensure_search_attributes(client, namespace)  # idempotent
    after = await listed()
    assert after is not None and set(SEARCH_ATTRIBUTES) <= after
