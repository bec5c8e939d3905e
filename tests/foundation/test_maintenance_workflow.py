"""The maintenance workflow purges expired idempotency keys of every org, on a real Temporal server."""

from __future__ import annotations

import uuid
from datetime import timedelta

from sqlalchemy import text
from temporalio.worker import Worker

from activities.maintenance import MaintenanceActivities
from cli.worker import sandbox_runner
from workflows.maintenance import MaintenanceWorkflow
from workflows.names import MAINTENANCE_WORKFLOW


async def test_purge_removes_only_expired_keys_across_orgs(
    temporal_env, sessionmaker, admin_engine, org, other_org
) -> None:
    async with admin_engine.begin() as conn:
        for org_id, key, age in (
            (org.id, "old-a", "30 hours"),
            (other_org.id, "old-b", "25 hours"),
            (org.id, "fresh", "1 hour"),
        ):
            await conn.execute(
                text(
                    "INSERT INTO idempotency_keys (org_id, scope, key, request_hash, status_code, response_body, "
                    "content_type, created_at) VALUES (:o, 'POST /v1/x', :k, 'h', 201, '', 'application/json', "
                    f"now() - interval '{age}')"
                ),
                {"o": org_id, "k": key},
            )
    queue = f"maint-{uuid.uuid4().hex[:6]}"
    activities = MaintenanceActivities(sessionmaker)
    async with Worker(
        temporal_env.client,
        task_queue=queue,
        workflows=[MaintenanceWorkflow],
        activities=[activities.purge_idempotency_keys],
        workflow_runner=sandbox_runner(),
    ):
        handle = await temporal_env.client.start_workflow(
            MAINTENANCE_WORKFLOW,
            24,
            id=f"maint-{uuid.uuid4().hex[:6]}",
            task_queue=queue,
            execution_timeout=timedelta(seconds=30),
        )
        # The first activity completes, then the workflow sleeps for an hour; poll the history for the result.
        import asyncio

        for _ in range(100):
            async with admin_engine.connect() as conn:
                keys = {
                    row[0]
                    for row in await conn.execute(text("SELECT key FROM idempotency_keys WHERE scope = 'POST /v1/x'"))
                }
            if keys == {"fresh"}:
                break
            await asyncio.sleep(0.1)
        await handle.terminate("test done")
    assert keys == {"fresh"}


async def test_housekeeping_singletons_start_once_however_many_workers_try(temporal_env) -> None:
    from cli.worker import start_housekeeping
    from workflows import names

    queue = f"house-{uuid.uuid4().hex[:6]}"
    await start_housekeeping(temporal_env.client, queue)
    first = await temporal_env.client.get_workflow_handle(names.METERING_WORKFLOW_ID).describe()
    await start_housekeeping(temporal_env.client, queue)
    second = await temporal_env.client.get_workflow_handle(names.METERING_WORKFLOW_ID).describe()
    assert first.run_id == second.run_id
    maintenance = await temporal_env.client.get_workflow_handle(names.MAINTENANCE_WORKFLOW_ID).describe()
    assert maintenance.workflow_type == names.MAINTENANCE_WORKFLOW
    for workflow_id in (names.METERING_WORKFLOW_ID, names.MAINTENANCE_WORKFLOW_ID):
        await temporal_env.client.get_workflow_handle(workflow_id).terminate("test done")
