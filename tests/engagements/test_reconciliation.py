"""A draft is reconciled against the live running-period view before finance sees it: a contract changed
between gathering and filing blocks the invoice with the differing lines named and finance told; a
retried draft write finds its own draft instead of filing a second one."""

from __future__ import annotations

import uuid
from decimal import Decimal

import msgspec
from sqlalchemy import select, text, update

import billing
from activities.billing import BillingActivities
from core.settings import load_settings
from persistence.db import tenant_session
from persistence.models import AuditEntry, Contract, Invoice, Notification
from workflows import names
from workflows.inputs import CycleConfig, CycleInput, DraftWrite

PERIOD = "2026-03"


def retainer_document(contract_code: str, amount: str) -> dict:
    terms, problems = billing.parse_terms(
        msgspec.json.encode(
            {
                "contract_id": contract_code,
                "currency": "USD",
                "timezone": "UTC",
                "start_date": "2026-01-01",
                "versions": [
                    {
                        "effective_from": "2026-01",
                        "retainers": [
                            {"id": "platform", "description": "Platform", "amount": amount, "billing": "arrears"}
                        ],
                    }
                ],
            }
        )
    )
    assert terms is not None, problems
    return msgspec.json.decode(billing.encode(terms))


async def seed_contract(sessionmaker, org, amount: str) -> str:
    contract_id = uuid.uuid4()
    async with tenant_session(sessionmaker, org.id) as session:
        session.add(
            Contract(
                id=contract_id,
                org_id=org.id,
                client_id=org.client_id,
                code="REC-1",
                name="Reconciled retainer",
                terms=retainer_document("REC-1", amount),
                terms_versions=1,
                start_period="2026-01",
                workflow_id=names.engagement_id(str(org.id), str(contract_id)),
            )
        )
    return str(contract_id)


async def draft_of(activities: BillingActivities, inp: CycleInput) -> DraftWrite:
    gathered = await activities.gather_cycle_inputs(inp)
    draft, after = billing.rate(gathered.terms, gathered.inputs, gathered.state, inp.period)
    return DraftWrite(
        org_id=inp.org_id,
        contract_id=inp.contract_id,
        client_id=inp.client_id,
        period=inp.period,
        workflow_id=names.billing_cycle_id(inp.org_id, inp.contract_id, inp.period),
        draft=draft,
        inputs=gathered.inputs,
        state_before=gathered.state,
        state_after=after,
    )


def cycle_input(org, contract_id: str) -> CycleInput:
    return CycleInput(
        org_id=str(org.id),
        contract_id=contract_id,
        client_id=str(org.client_id),
        period=PERIOD,
        timezone="UTC",
        config=CycleConfig(reconciliation_threshold=Decimal("0.01")),
    )


async def test_a_contract_changed_while_drafting_blocks_the_invoice_and_names_the_line(sessionmaker, org) -> None:
    contract_id = await seed_contract(sessionmaker, org, "1000.00")
    activities = BillingActivities(sessionmaker, load_settings())
    inp = cycle_input(org, contract_id)
    write = await draft_of(activities, inp)
    assert write.draft.total == Decimal("1000.00")
    ref = await activities._write(write)
    assert ref.status == "reconciling" and ref.revision == 1

    # Someone raises the retainer after the cycle gathered its inputs: the live view no longer agrees.
    async with tenant_session(sessionmaker, org.id) as session:
        await session.execute(
            update(Contract)
            .where(Contract.id == uuid.UUID(contract_id))
            .values(terms=retainer_document("REC-1", "1200.00"))
        )
    result = await activities._reconcile(inp, ref.invoice_id)

    assert not result.ok
    assert (result.draft_total, result.live_total, result.difference) == (
        Decimal("1000.00"),
        Decimal("1200.00"),
        Decimal("200.00"),
    )
    assert len(result.details) == 1 and result.details[0].endswith(": draft 1000.00 vs live 1200.00")
    async with tenant_session(sessionmaker, org.id) as session:
        invoice = (await session.execute(select(Invoice).where(Invoice.id == uuid.UUID(ref.invoice_id)))).scalar_one()
        notices = (
            (await session.execute(select(Notification).where(Notification.invoice_id == invoice.id))).scalars().all()
        )
    assert invoice.status == "blocked"
    assert invoice.version == 2  # the reconciliation is a change of the row: its ETag moves on
    assert invoice.reconciliation["ok"] is False and invoice.reconciliation["difference"] == "200.00"
    assert [(n.kind, n.recipient_role) for n in notices] == [("reconciliation_blocked", "finance")]
    assert "differs from the live view by 200.00" in notices[0].message


async def test_a_matching_draft_becomes_reviewable_and_a_retried_write_files_nothing_new(sessionmaker, org) -> None:
    contract_id = await seed_contract(sessionmaker, org, "750.00")
    activities = BillingActivities(sessionmaker, load_settings())
    inp = cycle_input(org, contract_id)
    write = await draft_of(activities, inp)
    first = await activities._write(write)
    retried = await activities._write(write)  # the activity ran again after a lost completion
    assert retried == first

    result = await activities._reconcile(inp, first.invoice_id)
    again = await activities._reconcile(inp, first.invoice_id)
    assert result.ok and again.ok and result.details == []
    async with tenant_session(sessionmaker, org.id) as session:
        rows = (await session.execute(select(Invoice.status, Invoice.total).where(Invoice.period == PERIOD))).all()
        audits = (
            (await session.execute(select(AuditEntry.action).where(AuditEntry.entity_id == first.invoice_id)))
            .scalars()
            .all()
        )
        notices = (
            (
                await session.execute(
                    text("SELECT kind FROM notifications WHERE invoice_id = :i"), {"i": first.invoice_id}
                )
            )
            .scalars()
            .all()
        )
    assert [(r.status, r.total) for r in rows] == [("draft", Decimal("750.00"))]
    assert audits == ["invoice.draft"]
    assert notices == ["invoice_ready"]  # announced once, although reconciled twice
