"""Deleting an organisation stops its engagements and the billing cycles waiting on them (nobody can approve
those invoices any more), leaves every other organisation's running, and a repeated deletion finishes the job."""

from __future__ import annotations

from temporalio.client import WorkflowExecutionStatus

from tests.engagements.conftest import eventually, product_stack
from tests.engagements.dates import period
from tests.engagements.test_search_attributes import contract_for, draft
from workflows import names

TOKEN = "platform-token-for-org-deletion-tests"


async def test_deleting_an_org_terminates_its_engagements_and_cycles_but_no_one_elses(  # type: ignore[no-untyped-def]
    temporal_env, sessionmaker, app_database_url, tmp_path, monkeypatch, org, other_org
) -> None:
    monkeypatch.setenv("AGENCYFLOW_PLATFORM_TOKEN", TOKEN)
    monkeypatch.setenv("AGENCYFLOW_HOME", str(tmp_path))
    temporal = temporal_env.client
    async with product_stack(temporal, sessionmaker, app_database_url, tmp_path / "ledgers", "org-delete") as (
        _,
        api,
    ):
        _, doomed = await contract_for(api, org, "doomed")
        _, kept = await contract_for(api, other_org, "kept")
        await eventually(lambda: draft(api, org, doomed))
        await eventually(lambda: draft(api, other_org, kept))

        r = await api.delete(f"/v1/platform/orgs/{org.id}", headers={"Authorization": f"Bearer {TOKEN}"})
        assert r.status_code == 200, r.text
        assert r.json()["workflows_stopped"] >= 1

        async def status(workflow_id: str) -> WorkflowExecutionStatus | None:
            return (await temporal.get_workflow_handle(workflow_id).describe()).status

        cycle = names.billing_cycle_id(org.id, doomed, period(-1))
        assert await status(names.engagement_id(org.id, doomed)) is WorkflowExecutionStatus.TERMINATED
        assert await status(cycle) is WorkflowExecutionStatus.TERMINATED
        assert await status(names.engagement_id(other_org.id, kept)) is WorkflowExecutionStatus.RUNNING
        assert await status(names.billing_cycle_id(other_org.id, kept, period(-1))) is WorkflowExecutionStatus.RUNNING

        async def nothing_left_running() -> dict | None:  # type: ignore[type-arg]
            again = await api.delete(f"/v1/platform/orgs/{org.id}", headers={"Authorization": f"Bearer {TOKEN}"})
            body: dict = again.json()  # type: ignore[type-arg]
            return body if body["workflows_stopped"] == 0 else None

        again = await eventually(nothing_left_running)
        assert again["already_deleted"] is True
