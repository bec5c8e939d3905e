"""Starting an engagement: one function for the API and the demo loader, so both start it identically."""

from __future__ import annotations

from temporalio.client import Client
from temporalio.common import WorkflowIDConflictPolicy

from workflows import names
from workflows.billing_cycle import search_attributes
from workflows.inputs import CycleConfig, EngagementInput


async def start_engagement(
    client: Client,
    *,
    task_queue: str,
    workflow_id: str,
    org_id: str,
    contract_id: str,
    client_id: str,
    client_key: str,
    timezone: str,
    start_period: str,
    end_period: str | None,
    terms_versions: int,
    config: CycleConfig,
) -> None:
    """Idempotent: a second start for the same contract attaches to the running engagement."""
    await client.start_workflow(
        names.ENGAGEMENT_WORKFLOW,
        EngagementInput(
            org_id=org_id,
            contract_id=contract_id,
            client_id=client_id,
            client_key=client_key,
            timezone=timezone,
            next_period=start_period,
            end_period=end_period,
            config=config,
            terms_versions=terms_versions,
        ),
        id=workflow_id,
        task_queue=task_queue,
        id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
        search_attributes=search_attributes(org_id, client_id, "active", client_key=client_key),
    )
