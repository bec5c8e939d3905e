"""Ledger I/O for prepaid credit grants (workflows/credit_ledger.py)."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.liveness import heartbeating
from core.settings import Settings
from integrations.accounting.beancount_ledger import BeancountLedger, LedgerCheckError
from integrations.accounting.model import LedgerInvoice, LedgerLine, RevenueAccount
from persistence import audit
from persistence.db import tenant_session
from persistence.models import Client, Contract, CreditGrant
from workflows import names


def grant_document(grant: CreditGrant, client: Client) -> LedgerInvoice:
    """The grant as a ledger document: receivable against ``Liabilities:Prepaid-Credits``, no tax (credits are a
    prepaid price reduction; tax is charged on the invoices that consume them)."""
    return LedgerInvoice(
        invoice_id=str(grant.id),
        number=f"PREPAID-{grant.code}",
        issue_date=grant.created_at.date(),
        client_key=client.external_key,
        client_name=client.name,
        currency=grant.currency,
        period=grant.granted,
        lines=(LedgerLine(account=RevenueAccount.PREPAID_CREDITS, amount=grant.amount, description=grant.description),),
        taxes=(),
        total=grant.amount,
    )


class CreditActivities:
    def __init__(self, sessionmaker: async_sessionmaker[AsyncSession], settings: Settings) -> None:
        self.sessionmaker = sessionmaker
        self.settings = settings

    @activity.defn(name=names.POST_CREDIT_GRANT)
    @heartbeating
    async def post_credit_grant_to_ledger(self, org_id: str, grant_id: str) -> str:
        org = uuid.UUID(org_id)
        async with tenant_session(self.sessionmaker, org) as session:
            grant = (await session.execute(select(CreditGrant).where(CreditGrant.id == uuid.UUID(grant_id)))).scalar()
            if grant is None:
                # The API starts this workflow inside the request that creates the row: it may not be committed yet.
                raise ApplicationError("credit grant not found (yet)", type="CreditGrantNotFound")
            contract = (await session.execute(select(Contract).where(Contract.id == grant.contract_id))).scalar_one()
            client = (await session.execute(select(Client).where(Client.id == contract.client_id))).scalar_one()
            document = grant_document(grant, client)
        ledger = BeancountLedger(self.settings.ledger_dir / f"{org_id}.beancount")
        try:
            result = await asyncio.to_thread(ledger.post, document)
        except LedgerCheckError as exc:
            raise ApplicationError(str(exc), type="LedgerCheckError", non_retryable=True) from exc
        async with tenant_session(self.sessionmaker, org) as session:
            await session.execute(
                update(CreditGrant)
                .where(CreditGrant.id == uuid.UUID(grant_id))
                .values(ledger_status="posted", ledger_reference=result.reference, ledger_error=None)
            )
            await audit.record(
                session,
                org_id=org,
                actor=audit.Actor(type="workflow", id="credit-grant-ledger"),
                action="credit_grant.ledger_post",
                entity_type="credit_grant",
                entity_id=grant_id,
                detail={"already_posted": result.already_posted},
            )
        return result.reference

    @activity.defn(name=names.MARK_CREDIT_GRANT_FAILED)
    @heartbeating
    async def mark_credit_grant_ledger_failed(self, org_id: str, grant_id: str, error: str) -> None:
        async with tenant_session(self.sessionmaker, uuid.UUID(org_id)) as session:
            await session.execute(
                update(CreditGrant)
                .where(CreditGrant.id == uuid.UUID(grant_id))
                .values(ledger_status="failed", ledger_error=error[:2000])
            )

    def all(self) -> list[Any]:
        return [self.post_credit_grant_to_ledger, self.mark_credit_grant_ledger_failed]
