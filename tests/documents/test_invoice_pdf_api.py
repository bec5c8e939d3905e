"""GET /v1/invoices/{id}/pdf and Accept: application/pdf: stored once for approved invoices, isolated, audited."""

from __future__ import annotations

import hashlib
import io
from datetime import UTC, datetime

import pypdf
from sqlalchemy import select, text

import billing
from persistence.db import tenant_session
from persistence.models import AuditEntry, Contract, Invoice
from persistence.models import InvoiceDocument as StoredDocument
from tests.billing.conftest import EXAMPLES, run_example


async def _invoice(sessionmaker, org, status: str = "approved") -> Invoice:  # type: ignore[no-untyped-def]
    draft = billing.to_builtins(run_example(EXAMPLES / "07-jpy-client").runs[0].draft)
    async with tenant_session(sessionmaker, org.id) as session:
        contract = Contract(
            org_id=org.id, client_id=org.client_id, code=f"c-{status}", name="C", terms={}, start_period="2025-01",
            workflow_id=f"wf-{status}",
        )
        session.add(contract)
        await session.flush()
        row = Invoice(
            org_id=org.id, client_id=org.client_id, contract_id=contract.id, period="2025-01", status=status,
            number="INV-2025-00001" if status == "approved" else None, currency="JPY", subtotal=draft["subtotal"],
            tax=draft["tax_total"], total=draft["total"], draft=draft, inputs={}, state_before={}, state_after={},
            workflow_id=f"wf-{status}", decided_at=datetime(2025, 2, 3, tzinfo=UTC) if status == "approved" else None,
        )
        session.add(row)
        await session.flush()
        return row


async def test_an_approved_invoice_pdf_is_stored_once_and_reread_byte_identical(client, org, sessionmaker) -> None:  # type: ignore[no-untyped-def]
    inv = await _invoice(sessionmaker, org)
    first = await client.get(f"/v1/invoices/{inv.id}/pdf", headers=org.headers())
    assert first.status_code == 200 and first.headers["content-type"].startswith("application/pdf")
    again = await client.get(f"/v1/invoices/{inv.id}", headers=org.headers(Accept="application/pdf"))
    assert again.status_code == 200 and again.content == first.content
    async with tenant_session(sessionmaker, org.id) as session:
        stored = (await session.execute(select(StoredDocument))).scalars().all()
        assert len(stored) == 1 and stored[0].sha256 == hashlib.sha256(first.content).hexdigest()
        audits = (await session.execute(select(AuditEntry).where(AuditEntry.entity_id == str(inv.id)))).scalars().all()
        assert sum(a.action == "invoice.read" for a in audits) == 2
    page = pypdf.PdfReader(io.BytesIO(first.content)).pages[0].extract_text().replace("\u00a0", " ")
    assert "¥171,694" in page and "INV-2025-00001" in page


async def test_the_stored_pdf_cannot_be_changed_by_the_app_role(client, org, sessionmaker) -> None:  # type: ignore[no-untyped-def]
    inv = await _invoice(sessionmaker, org)
    assert (await client.get(f"/v1/invoices/{inv.id}/pdf", headers=org.headers())).status_code == 200
    async with tenant_session(sessionmaker, org.id) as session:
        try:
            await session.execute(text("UPDATE invoice_documents SET content = 'x'::bytea, size = 1"))
        except Exception as exc:
            assert "permission denied" in str(exc)
        else:
            raise AssertionError("the app role could update a stored invoice PDF")


async def test_json_stays_the_default_and_a_draft_renders_marked_draft(client, org, sessionmaker) -> None:  # type: ignore[no-untyped-def]
    inv = await _invoice(sessionmaker, org, status="draft")
    assert (await client.get(f"/v1/invoices/{inv.id}", headers=org.headers())).headers["content-type"].startswith(
        "application/json"
    )
    pdf = await client.get(f"/v1/invoices/{inv.id}/pdf", headers=org.headers())
    assert pdf.status_code == 200 and "DRAFT" in pypdf.PdfReader(io.BytesIO(pdf.content)).pages[0].extract_text()


async def test_another_org_and_a_viewer_of_a_draft_get_404(client, org, other_org, sessionmaker) -> None:  # type: ignore[no-untyped-def]
    approved = await _invoice(sessionmaker, org)
    draft = await _invoice(sessionmaker, org, status="draft")
    for path in (f"/v1/invoices/{approved.id}/pdf", f"/v1/invoices/{approved.id}"):
        r = await client.get(path, headers=other_org.headers(Accept="application/pdf"))
        assert r.status_code == 404
    from core.permissions import Role

    viewer = org.headers(Role.CLIENT_VIEWER)
    assert (await client.get(f"/v1/invoices/{draft.id}/pdf", headers=viewer)).status_code == 404
    assert (await client.get(f"/v1/invoices/{approved.id}/pdf", headers=viewer)).status_code == 200
