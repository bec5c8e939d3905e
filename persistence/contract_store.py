"""Creating a contract row from validated terms; shared by the API and the demo loader."""

from __future__ import annotations

import uuid
from typing import Any

import msgspec
from sqlalchemy.ext.asyncio import AsyncSession

import billing
from core.workflow_ids import engagement_id
from persistence.models import Client, Contract


def terms_document(terms: billing.ContractTerms) -> dict[str, Any]:
    document: dict[str, Any] = msgspec.json.decode(billing.encode(terms))
    return document


async def create_contract(
    session: AsyncSession, *, org_id: uuid.UUID, client: Client, code: str, name: str, terms: billing.ContractTerms
) -> Contract:
    contract_id = uuid.uuid4()
    start = billing.Period.of_date(terms.start_date)
    end = billing.Period.of_date(terms.end_date) if terms.end_date else None
    row = Contract(
        id=contract_id,
        org_id=org_id,
        client_id=client.id,
        code=code,
        name=name,
        status="active",
        terms=terms_document(terms),
        terms_versions=len(terms.versions),
        start_period=str(start),
        end_period=str(end) if end else None,
        workflow_id=engagement_id(org_id, contract_id),
    )
    session.add(row)
    await session.flush()
    return row
