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
from temporalio.worker import Worker
from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner, SandboxRestrictions

from activities.registry import build_activities
from core.runtime.endpoints import temporal_address
from core.search_attributes import SEARCH_ATTRIBUTES
from core.settings import Settings
from persistence.db import make_engine, make_sessionmaker
from workflows.converter import DATA_CONVERTER
from workflows.registry import WORKFLOWS

log = logging.getLogger("agencyflow.worker")

PASSTHROUGH = ("sqlalchemy", "asyncpg", "httpx", "msgspec", "ortools", "billing", "scheduling", "holidays")


def sandbox_runner() -> SandboxedWorkflowRunner:
    return SandboxedWorkflowRunner(restrictions=SandboxRestrictions.default.with_passthrough_modules(*PASSTHROUGH))


async def ensure_search_attributes(client: Client, namespace: str) -> None:
    """The dev server registers them at start; an external cluster gets them here (idempotent)."""
    from temporalio.api.enums.v1 import IndexedValueType
    from temporalio.api.operatorservice.v1 import AddSearchAttributesRequest, ListSearchAttributesRequest

    existing = await client.operator_service.list_search_attributes(ListSearchAttributesRequest(namespace=namespace))
    missing = {name: kind for name, kind in SEARCH_ATTRIBUTES.items() if name not in existing.custom_attributes}
    if not missing:
        return
    kinds = {"Keyword": IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD}
    await client.operator_service.add_search_attributes(
        AddSearchAttributesRequest(
            namespace=namespace, search_attributes={name: kinds[kind] for name, kind in missing.items()}
        )
    )


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
        await stop.wait()
    await engine.dispose()  # type: ignore[attr-defined]
    log.info("worker stopped")
