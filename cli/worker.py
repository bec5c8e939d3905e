"""The Temporal worker process: every workflow and activity of the product on one task queue.

Workflow code runs in Temporal's sandbox; the libraries activities use are passed through so the sandbox
does not re-import SQLAlchemy, asyncpg or httpx for every workflow run.
"""

from __future__ import annotations

import asyncio
import logging
import signal
from concurrent.futures import ThreadPoolExecutor

from temporalio.client import Client
from temporalio.common import WorkflowIDConflictPolicy
from temporalio.worker import Worker
from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner, SandboxRestrictions

from activities.registry import build_activities
from core.runtime.endpoints import temporal_address
from core.search_attributes import SEARCH_ATTRIBUTES
from core.settings import Settings
from persistence.db import make_engine, make_sessionmaker
from workflows import names
from workflows.converter import DATA_CONVERTER
from workflows.registry import WORKFLOWS

log = logging.getLogger("agencyflow.worker")

PASSTHROUGH = ("sqlalchemy", "asyncpg", "httpx", "msgspec", "ortools", "billing", "scheduling", "holidays")


def sandbox_runner() -> SandboxedWorkflowRunner:
    return SandboxedWorkflowRunner(restrictions=SandboxRestrictions.default.with_passthrough_modules(*PASSTHROUGH))


async def ensure_search_attributes(client: Client, namespace: str) -> None:
    """The dev server registers them at start; an external cluster (or the time-skipping test server,
    which cannot list them) gets them here. Idempotent."""
    from temporalio.api.enums.v1 import IndexedValueType
    from temporalio.api.operatorservice.v1 import AddSearchAttributesRequest, ListSearchAttributesRequest
    from temporalio.service import RPCError, RPCStatusCode

    try:
        listed = await client.operator_service.list_search_attributes(ListSearchAttributesRequest(namespace=namespace))
        existing = set(listed.custom_attributes)
    except RPCError as exc:
        if exc.status != RPCStatusCode.UNIMPLEMENTED:
            raise
        existing = set()
    kinds = {"Keyword": IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD}
    for name, kind in SEARCH_ATTRIBUTES.items():
        if name in existing:
            continue
        try:
            await client.operator_service.add_search_attributes(
                AddSearchAttributesRequest(namespace=namespace, search_attributes={name: kinds[kind]})
            )
        except RPCError as exc:
            if exc.status != RPCStatusCode.ALREADY_EXISTS:
                raise


def build_worker(client: Client, settings: Settings, app_database_url: str) -> tuple[Worker, object]:
    engine = make_engine(app_database_url, pool_size=10, max_overflow=10)
    sessionmaker = make_sessionmaker(engine)
    activities = build_activities(sessionmaker=sessionmaker, settings=settings)
    worker = Worker(
        client,
        task_queue=settings.task_queue,
        workflows=WORKFLOWS,
        activities=activities,
        workflow_runner=sandbox_runner(),
        activity_executor=ThreadPoolExecutor(max_workers=64),
        max_concurrent_activities=64,
        max_concurrent_workflow_tasks=64,
    )
    return worker, engine


async def start_housekeeping(client: Client, task_queue: str) -> None:
    """The cluster-wide singletons (usage folding + alerts, idempotency-key expiry): fixed ids, so every
    worker may try and only the first start takes effect."""
    for workflow, workflow_id in (
        (names.METERING_WORKFLOW, names.METERING_WORKFLOW_ID),
        (names.MAINTENANCE_WORKFLOW, names.MAINTENANCE_WORKFLOW_ID),
    ):
        await client.start_workflow(
            workflow, id=workflow_id, task_queue=task_queue, id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING
        )


async def run_worker(settings: Settings, app_database_url: str) -> None:
    client = await Client.connect(
        temporal_address(settings), namespace=settings.temporal_namespace, data_converter=DATA_CONVERTER
    )
    await ensure_search_attributes(client, settings.temporal_namespace)
    worker, engine = build_worker(client, settings, app_database_url)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    log.info("worker started", extra={"task_queue": settings.task_queue})
    async with worker:
        await start_housekeeping(client, settings.task_queue)
        await stop.wait()
    await engine.dispose()  # type: ignore[attr-defined]
    log.info("worker stopped")
