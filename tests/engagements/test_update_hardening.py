"""A decision PostgreSQL cannot store must not wedge a billing cycle (issue 13, item 2).

Three defences, each proven here on the real stack: the Updates' validators refuse such input before it
enters history (422 naming the field, through the API and straight through the Temporal client); an
activity meeting a database refusal no retry can cure fails once, without retries; and a request never
waits on a workflow longer than ``update_wait_s`` (503 + Retry-After), holding no transaction meanwhile.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from contextlib import asynccontextmanager
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import msgspec
import pytest
from sqlalchemy import text
from temporalio import activity, workflow
from temporalio.client import Client, WorkflowFailureError, WorkflowUpdateFailedError
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError
from temporalio.testing import ActivityEnvironment
from temporalio.worker import UnsandboxedWorkflowRunner, Worker

import billing
from activities.billing import BillingActivities
from activities.data_errors import DATA_ERROR, is_permanent
from activities.registry import build_activities
from api.app import create_app
from api.engagements import refusal
from cli.worker import sandbox_runner
from core.permissions import Role
from core.settings import load_settings
from tests.conftest import asgi_client
from tests.engagements.conftest import eventually
from tests.engagements.dates import period, retainer_terms
from tests.engagements.test_engagement_api import drafts, make_client
from workflows import names
from workflows.billing_cycle import decision_problems
from workflows.engagement import amendment_problems
from workflows.inputs import Adjustment, Amendment, Decision, DecisionOutcome, DecisionRecord
from workflows.registry import WORKFLOWS
from workflows.update_checks import INVALID_INPUT

FAST = {"grace_s": 0, "remind_after_s": 3600, "escalate_after_s": 7200}
HUGE = Decimal("1E+400")
TERMS = retainer_terms(period(-1), "1200.00", retainer_id="ops")


# ---- the checks themselves (pure) --------------------------------------------------------------------
def test_decision_checks_name_every_field_the_database_cannot_store() -> None:
    decision = Decision(
        invoice_id="i",
        actor_id="k" * 65,
        actor_role="finance",
        reason="bad\x00reason",
        adjustments=[
            Adjustment(description="lone \ud800 surrogate", amount=Decimal("1.00")),
            Adjustment(description="fine", amount=Decimal("1E+400")),
            Adjustment(description="fine", amount=Decimal("NaN")),
        ],
    )
    problems = {p.pointer: p.detail for p in decision_problems(decision)}
    assert set(problems) == {
        "/actor_id",
        "/reason",
        "/adjustments/0/description",
        "/adjustments/1/amount",
        "/adjustments/2/amount",
    }
    assert "NUL" in problems["/reason"]
    assert "surrogate" in problems["/adjustments/0/description"]
    assert problems["/actor_id"] == "is longer than 64 characters"
    assert decision_problems(Decision(invoice_id="i", actor_id="k", actor_role="finance", reason="ok")) == []


def test_amendment_checks_point_into_the_new_version() -> None:
    version = msgspec.convert(
        {
            "effective_from": period(0),
            "retainers": [{"id": "ops", "description": "x\x00y", "amount": "1E+30", "billing": "arrears"}],
        },
        billing.ContractVersion,
        strict=False,
    )
    problems = amendment_problems(Amendment(version=version, actor_id="k", actor_role="finance"))
    assert {p.pointer for p in problems} == {"/version/retainers/0/description", "/version/retainers/0/amount"}


def test_only_refusals_no_retry_can_cure_are_permanent() -> None:
    assert is_permanent("22021")  # invalid byte sequence (NUL)
    assert is_permanent("22001")  # value too long for its column
    assert is_permanent("22003")  # numeric overflow
    assert is_permanent("23514") and is_permanent("23502")
    # a concurrent transaction can change these outcomes; an idempotent retry resolves them
    assert not is_permanent("23505") and not is_permanent("23503") and not is_permanent("40001")
    assert not is_permanent(None)


def test_a_refused_update_maps_to_422_with_pointers_and_other_refusals_to_409() -> None:
    invalid = ApplicationError(
        "invalid decision", {"errors": [{"pointer": "/reason", "detail": "contains U+0000"}]}, type=INVALID_INPUT
    )
    problem = refusal(WorkflowUpdateFailedError(invalid), names.UPDATE_REJECT)
    assert problem.status == 422
    assert [(e.pointer, e.detail) for e in problem.errors or []] == [("/reason", "contains U+0000")]
    stored = refusal(WorkflowUpdateFailedError(ApplicationError("refused", type=DATA_ERROR)), "reject")
    assert (stored.status, stored.errors) == (422, None)
    conflict = refusal(WorkflowUpdateFailedError(ApplicationError("invoice is not awaiting approval")), "reject")
    assert conflict.status == 409


# ---- through the real stack --------------------------------------------------------------------------
async def _contract_with_draft(api, org, code: str) -> dict:  # type: ignore[no-untyped-def]
    client_id = await make_client(api, org)
    created = await api.post(
        "/v1/contracts",
        json={"client_id": client_id, "code": code, "name": code, "terms": TERMS, "config": FAST},
        headers=org.headers(Role.FINANCE),
    )
    assert created.status_code == 201, created.text
    invoice: dict = (await eventually(lambda: drafts(api, org, created.json()["id"]), timeout=60))[0]
    return invoice


async def test_reject_with_nul_answers_422_naming_reason_promptly_and_approval_still_works(stack, org) -> None:
    api = stack.client
    invoice = await _contract_with_draft(api, org, "NUL-REJECT")

    started = time.monotonic()
    rejected = await api.post(
        f"/v1/invoices/{invoice['id']}/reject", json={"reason": "bad\u0000reason"}, headers=org.headers(Role.FINANCE)
    )
    assert time.monotonic() - started < 5
    assert rejected.status_code == 422, rejected.text
    assert rejected.headers["content-type"].startswith("application/problem+json")
    assert [e["pointer"] for e in rejected.json()["errors"]] == ["/reason"]

    # The workflow's own validator refuses it too, without the API in front (defence in depth).
    cycle_id = names.billing_cycle_id(str(org.id), invoice["contract_id"], invoice["period"])
    handle = stack.temporal.get_workflow_handle(cycle_id)
    for name, decision in (
        (names.UPDATE_REJECT, _decision(invoice, reason="bad\x00reason")),
        (names.UPDATE_ADJUST, _decision(invoice, reason="r", adjustments=[Adjustment(description="x", amount=HUGE)])),
        (names.UPDATE_APPROVE, _decision(invoice, actor_id="k" * 200)),
    ):
        with pytest.raises(WorkflowUpdateFailedError) as refused:
            await asyncio.wait_for(handle.execute_update(name, decision), timeout=10)
        cause = refused.value.cause
        assert isinstance(cause, ApplicationError) and cause.type == INVALID_INPUT, cause
    history = await handle.fetch_history()
    assert not [e for e in history.events if e.HasField("workflow_execution_update_accepted_event_attributes")]

    approved = await api.post(f"/v1/invoices/{invoice['id']}/approve", json={}, headers=org.headers(Role.FINANCE))
    assert approved.status_code == 200, approved.text
    assert approved.json()["status"] == "approved"
    assert approved.json()["number"].startswith("INV-")


def _decision(invoice: dict, **overrides) -> Decision:  # type: ignore[no-untyped-def]
    values = {"invoice_id": invoice["id"], "actor_id": "finance-key", "actor_role": "finance", **overrides}
    return Decision(**values)


@workflow.defn(name="h2.RecordDecisionOnce")
class RecordDecisionWorkflow:
    """Calls the real decision activity with retries that would never end on a transient error."""

    @workflow.run
    async def run(self, rec: DecisionRecord) -> None:
        await workflow.execute_activity(
            names.RECORD_DECISION,
            rec,
            start_to_close_timeout=timedelta(seconds=30),
            retry_policy=RetryPolicy(
                initial_interval=timedelta(milliseconds=100), maximum_interval=timedelta(seconds=1)
            ),
        )


async def test_a_decision_the_database_refuses_fails_once_without_retries(
    stack, org, sessionmaker, temporal_env
) -> None:
    api = stack.client
    invoice = await _contract_with_draft(api, org, "NUL-ACTIVITY")
    record = DecisionRecord(
        org_id=str(org.id),
        invoice_id=invoice["id"],
        action="reject",
        actor_id="k",
        actor_role="finance",
        reason="bad\x00reason",
    )

    # Called directly: a non-retryable DataError, and nothing written.
    activities = BillingActivities(sessionmaker, stack.settings)
    with pytest.raises(ApplicationError) as failed:
        await ActivityEnvironment().run(activities.record_invoice_decision, record)
    assert (failed.value.type, failed.value.non_retryable) == (DATA_ERROR, True)
    assert "22021" in str(failed.value) or "22P05" in str(failed.value)

    # Under a real worker with an unbounded retry policy: one attempt, then the workflow hears of it.
    queue = f"h2-record-{uuid.uuid4().hex[:8]}"
    client: Client = temporal_env.client
    async with Worker(
        client,
        task_queue=queue,
        workflows=[RecordDecisionWorkflow],
        activities=[activities.record_invoice_decision],
        workflow_runner=UnsandboxedWorkflowRunner(),
    ):
        started = time.monotonic()
        with pytest.raises(WorkflowFailureError) as wf_failed:
            await client.execute_workflow(
                RecordDecisionWorkflow.run,
                record,
                id=f"h2-record-{uuid.uuid4()}",
                task_queue=queue,
                execution_timeout=timedelta(seconds=60),
            )
        assert time.monotonic() - started < 10
    activity_error = wf_failed.value.cause
    assert isinstance(activity_error, ActivityError)
    assert isinstance(activity_error.cause, ApplicationError) and activity_error.cause.type == DATA_ERROR
    assert activity_error.retry_state is not None and activity_error.retry_state.name == "NON_RETRYABLE_FAILURE"

    still = (await api.get(f"/v1/invoices/{invoice['id']}", headers=org.headers(Role.FINANCE))).json()
    assert still["status"] == "draft"


# ---- a workflow that does not answer -----------------------------------------------------------------
@asynccontextmanager
async def stoppable_stack(  # type: ignore[no-untyped-def]
    temporal_client, sessionmaker, app_database_url, ledger_dir: Path, wait_s: float, *, swap=None
):
    """A product worker the test can stop and start again, and an API that waits ``wait_s`` on Updates.

    ``swap`` (activities → activities) replaces some of the product's activities on this worker."""
    settings = msgspec.structs.replace(
        load_settings(),
        task_queue=f"h2-stoppable-{uuid.uuid4().hex[:8]}",
        ledger_dir=ledger_dir,
        temporal_address=temporal_client.service_client.config.target_host,
        update_wait_s=wait_s,
    )

    def new_worker() -> Worker:
        return Worker(
            temporal_client,
            task_queue=settings.task_queue,
            workflows=WORKFLOWS,
            activities=(swap or list)(build_activities(sessionmaker=sessionmaker, settings=settings)),
            workflow_runner=sandbox_runner(),
        )

    class Workers:
        def __init__(self) -> None:
            self.worker: Worker | None = None
            self.task: asyncio.Task[None] | None = None

        def start(self) -> None:
            self.worker = new_worker()
            self.task = asyncio.create_task(self.worker.run())

        async def stop(self) -> None:
            if self.worker is not None and self.task is not None:
                await self.worker.shutdown()
                await self.task
            self.worker = self.task = None

    workers = Workers()
    workers.start()
    try:
        async with asgi_client(create_app(settings, database_url=app_database_url)) as api:
            yield api, workers
    finally:
        await workers.stop()


async def _idle_in_transaction(admin_engine, min_age_s: float) -> int:  # type: ignore[no-untyped-def]
    async with admin_engine.connect() as conn:
        count = await conn.scalar(
            text(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                "AND state = 'idle in transaction' AND now() - state_change > make_interval(secs => :age)"
            ),
            {"age": min_age_s},
        )
    return int(count or 0)


async def test_an_update_no_worker_answers_gives_503_within_the_bound_holding_no_transaction(
    temporal_env, sessionmaker, app_database_url, admin_engine, org, tmp_path
) -> None:
    wait_s = 3.0
    async with stoppable_stack(temporal_env.client, sessionmaker, app_database_url, tmp_path, wait_s) as (api, workers):
        invoice = await _contract_with_draft(api, org, "NO-WORKER")
        await workers.stop()

        started = time.monotonic()
        approving = asyncio.create_task(
            api.post(f"/v1/invoices/{invoice['id']}/approve", json={}, headers=org.headers(Role.FINANCE))
        )
        await asyncio.sleep(wait_s / 2)
        # Halfway through the wait no connection of this database idles in a transaction.
        idle_mid_wait = await _idle_in_transaction(admin_engine, min_age_s=wait_s / 4)
        response = await approving
        elapsed = time.monotonic() - started

        assert response.status_code == 503, response.text
        assert response.headers["content-type"].startswith("application/problem+json")
        assert int(response.headers["retry-after"]) > 0
        assert response.json()["type"].endswith("/workflow-unavailable")
        assert wait_s <= elapsed < wait_s + 3
        assert idle_mid_wait == 0

        # A worker back: the Update it had not taken is applied, once, and the cycle carries on.
        workers.start()
        approved = await eventually(lambda: drafts(api, org, invoice["contract_id"], "approved"), timeout=30)
        assert [i["id"] for i in approved] == [invoice["id"]]
        again = await api.post(f"/v1/invoices/{invoice['id']}/approve", json={}, headers=org.headers(Role.FINANCE))
        assert again.status_code == 409


# ---- a refusal the validators cannot foresee ---------------------------------------------------------
NUL_MARK = "[nul]"


def nul_injecting(activities: list) -> list:  # type: ignore[type-arg]
    """The real decision activity, except that ``[nul]`` in a reason reaches PostgreSQL as U+0000: a value the
    validators pass (it is plain text to them) and the database refuses, as any unforeseen refusal would be."""
    real = next(a for a in activities if getattr(a, "__name__", "") == "record_invoice_decision")

    @activity.defn(name=names.RECORD_DECISION)
    async def record_invoice_decision(rec: DecisionRecord) -> DecisionOutcome:
        outcome: DecisionOutcome = await real(msgspec.structs.replace(rec, reason=rec.reason.replace(NUL_MARK, "\x00")))
        return outcome

    return [a for a in activities if a is not real] + [record_invoice_decision]


async def test_a_decision_the_database_refuses_answers_422_and_leaves_the_cycle_usable(
    temporal_env, sessionmaker, app_database_url, org, tmp_path
) -> None:
    async with stoppable_stack(
        temporal_env.client, sessionmaker, app_database_url, tmp_path, 20.0, swap=nul_injecting
    ) as (api, _workers):
        invoice = await _contract_with_draft(api, org, "DB-REFUSES")
        started = time.monotonic()
        refused = await api.post(
            f"/v1/invoices/{invoice['id']}/reject",
            json={"reason": f"bad {NUL_MARK}"},
            headers=org.headers(Role.FINANCE),
        )
        assert time.monotonic() - started < 10
        assert refused.status_code == 422, refused.text
        assert "could not be stored" in refused.json()["detail"]
        # The failed decision released the cycle's decision lock and changed nothing: finance decides again.
        approved = await api.post(f"/v1/invoices/{invoice['id']}/approve", json={}, headers=org.headers(Role.FINANCE))
        assert approved.status_code == 200, approved.text
        assert approved.json()["status"] == "approved"


async def test_an_adjustment_the_currency_cannot_carry_is_refused_by_the_validator_not_retried(stack, org) -> None:
    """1.001 USD passes the decimal bounds but not the currency's minor units: the engine refuses it. Raised
    in the Update's handler that failed the workflow task on every retry (the cycle wedged); the validator
    now refuses it with the field named, and the cycle takes the next decision."""
    api = stack.client
    invoice = await _contract_with_draft(api, org, "SUB-CENT")
    started = time.monotonic()
    adjusted = await api.post(
        f"/v1/invoices/{invoice['id']}/adjust",
        json={"reason": "goodwill", "adjustments": [{"description": "credit", "amount": "-1.001"}]},
        headers=org.headers(Role.FINANCE),
    )
    assert time.monotonic() - started < 5
    assert adjusted.status_code == 422, adjusted.text
    assert [e["pointer"] for e in adjusted.json()["errors"]] == ["/adjustments/0/amount"]
    approved = await api.post(f"/v1/invoices/{invoice['id']}/approve", json={}, headers=org.headers(Role.FINANCE))
    assert approved.status_code == 200, approved.text
    assert approved.json()["total"] == "1200.00"
