"""Database steps of the invoice collection workflow (workflows/invoice_collection.py)."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Callable
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio import activity
from temporalio.common import WorkflowIDReusePolicy
from temporalio.exceptions import ApplicationError, WorkflowAlreadyStartedError

from persistence import collections
from persistence.db import tenant_session
from persistence.models import Client, Invoice
from workflows import names
from workflows.collection_inputs import CollectionInput, CollectionPlan, CollectionStart, CollectionStep
from workflows.visibility import search_attributes


class CollectionActivities:
    def __init__(self, sessionmaker: async_sessionmaker[AsyncSession]) -> None:
        self.sessionmaker = sessionmaker

    def all(self) -> list[Callable[..., Any]]:
        return [
            self.start_invoice_collection,
            self.invoice_collection_plan,
            self.mark_invoice_overdue,
            self.send_dunning_reminder,
        ]

    @activity.defn(name=names.START_INVOICE_COLLECTION)
    async def start_invoice_collection(self, start: CollectionStart) -> str:
        """Start the invoice's collection workflow once; a retry after it started finds it running (or done)."""
        workflow_id = names.invoice_collection_id(start.org_id, start.invoice_id)
        client = activity.client()  # the worker's own connection
        with contextlib.suppress(WorkflowAlreadyStartedError):  # started by an earlier attempt
            await client.start_workflow(
                names.INVOICE_COLLECTION_WORKFLOW,
                CollectionInput(org_id=start.org_id, invoice_id=start.invoice_id),
                id=workflow_id,
                task_queue=activity.info().task_queue,
                id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
                search_attributes=search_attributes(
                    start.org_id, start.client_id, "collection", client_key=start.client_key, period=start.period
                ),
            )
        return workflow_id

    @activity.defn(name=names.COLLECTION_PLAN)
    async def invoice_collection_plan(self, inp: CollectionInput) -> CollectionPlan:
        async with tenant_session(self.sessionmaker, uuid.UUID(inp.org_id)) as session:
            row = (
                await session.execute(
                    select(Invoice, Client.timezone)
                    .join(Client, Client.id == Invoice.client_id)
                    .where(Invoice.id == uuid.UUID(inp.invoice_id))
                )
            ).first()
            if row is None:
                raise ApplicationError(f"invoice {inp.invoice_id} not found", type="NotFound", non_retryable=True)
            invoice, timezone = row
            terms = await collections.org_terms(session)
        return CollectionPlan(
            open=invoice.collection in collections.OPEN,
            due_date=invoice.due_date,
            timezone=timezone,
            reminder_days=[days for days in terms.reminder_days if days > 0],
        )

    @activity.defn(name=names.MARK_INVOICE_OVERDUE)
    async def mark_invoice_overdue(self, step: CollectionStep) -> bool:
        async with tenant_session(self.sessionmaker, uuid.UUID(step.org_id)) as session:
            return await collections.mark_overdue(session, uuid.UUID(step.invoice_id), as_of=step.as_of)

    @activity.defn(name=names.SEND_DUNNING_REMINDER)
    async def send_dunning_reminder(self, step: CollectionStep) -> bool:
        async with tenant_session(self.sessionmaker, uuid.UUID(step.org_id)) as session:
            return await collections.remind(session, uuid.UUID(step.invoice_id), step=step.step, days=step.days)
