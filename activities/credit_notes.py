"""Ledger I/O for credit notes (workflows/credit_note_ledger.py)."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import msgspec
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.liveness import heartbeating
from billing.credit_notes import CreditNoteDraft
from core.settings import Settings
from integrations.accounting.beancount_ledger import BeancountLedger, LedgerCheckError
from integrations.accounting.mapping import ledger_credit_note
from persistence import audit
from persistence.db import tenant_session
from persistence.models import Client, Contract, CreditNote, Invoice
from workflows import names


class CreditNoteActivities:
    def __init__(self, sessionmaker: async_sessionmaker[AsyncSession], settings: Settings) -> None:
        self.sessionmaker = sessionmaker
        self.settings = settings

    def all(self) -> list[Any]:
        return [self.post_credit_note_to_ledger, self.mark_credit_note_ledger_failed]

    @activity.defn(name=names.POST_CREDIT_NOTE)
    @heartbeating
    async def post_credit_note_to_ledger(self, org_id: str, credit_note_id: str) -> str:
        org = uuid.UUID(org_id)
        async with tenant_session(self.sessionmaker, org) as session:
            row = (await session.execute(select(CreditNote).where(CreditNote.id == uuid.UUID(credit_note_id)))).scalar()
            if row is None:
                # The API starts this workflow inside the request that writes the row: it may not be committed yet.
                raise ApplicationError("credit note not found (yet)", type="CreditNoteNotFound")
            client = (await session.execute(select(Client).where(Client.id == row.client_id))).scalar_one()
            contract = (
                await session.execute(
                    select(Contract.code)
                    .join(Invoice, Invoice.contract_id == Contract.id)
                    .where(Invoice.id == row.invoice_id)
                )
            ).scalar_one()
            document = ledger_credit_note(
                contract=contract,
                credit_note_id=str(row.id),
                number=row.number,
                issue_date=row.issue_date,
                client_key=client.external_key,
                client_name=client.name,
                note=msgspec.convert(row.document, CreditNoteDraft, strict=False),
            )
        ledger = BeancountLedger(self.settings.ledger_dir / f"{org_id}.beancount")
        try:
            result = await asyncio.to_thread(ledger.post, document)
        except LedgerCheckError as exc:
            raise ApplicationError(str(exc), type="LedgerCheckError", non_retryable=True) from exc
        async with tenant_session(self.sessionmaker, org) as session:
            await session.execute(
                update(CreditNote)
                .where(CreditNote.id == uuid.UUID(credit_note_id))
                .values(ledger_status="posted", ledger_reference=result.reference)
            )
            await audit.record(
                session,
                org_id=org,
                actor=audit.Actor(type="workflow", id="credit-note-ledger"),
                action="credit_note.ledger_post",
                entity_type="credit_note",
                entity_id=credit_note_id,
                detail={"already_posted": result.already_posted},
            )
        return result.reference

    @activity.defn(name=names.MARK_CREDIT_NOTE_FAILED)
    @heartbeating
    async def mark_credit_note_ledger_failed(self, org_id: str, credit_note_id: str, error: str) -> None:
        async with tenant_session(self.sessionmaker, uuid.UUID(org_id)) as session:
            await session.execute(
                update(CreditNote)
                .where(CreditNote.id == uuid.UUID(credit_note_id))
                .values(ledger_status="failed", ledger_reference=error[:500])
            )
