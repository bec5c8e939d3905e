"""Invoice PDFs: an approved invoice's PDF is rendered once, stored with its SHA-256 and served unchanged
ever after; a draft renders on the fly, marked DRAFT. Reads follow the JSON read's rules (another org's id
is 404, a client_viewer sees only its client's approved invoices) and are audited as invoice views."""

from __future__ import annotations

import asyncio
import hashlib
import re
import uuid
from datetime import datetime
from zoneinfo import ZoneInfo

from litestar import Request, Response, get
from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert

from api.context import Ctx
from api.routes.invoices import _invoice
from documents import RENDERER_VERSION, Branding, InvoiceDocument, Logo, PartyAddress, render_invoice_pdf
from persistence.models import Client, Invoice, Org, OrgBranding
from persistence.models import InvoiceDocument as StoredDocument

PDF = "application/pdf"
KIND = "invoice_pdf"


def accepts_pdf(request: Request) -> bool:  # type: ignore[type-arg]
    """``Accept: application/pdf`` (preferred over JSON by q-value or order) asks for the document."""
    return request.accept.best_match(["application/json", PDF], default="application/json") == PDF


async def _branding(ctx: Ctx) -> Branding:
    org = (await ctx.session.execute(select(Org))).scalar_one()
    row = (await ctx.session.execute(select(OrgBranding))).scalar_one_or_none()
    if row is None:
        return Branding(name=org.name)
    logo = Logo(data=row.logo, format=row.logo_format) if row.logo and row.logo_format in ("svg", "png") else None
    return Branding(
        name=row.display_name or org.name,
        address_lines=list(row.address_lines),
        tax_ids=list(row.tax_ids),
        primary_colour=row.primary_colour,
        accent_colour=row.accent_colour,
        logo=logo,  # type: ignore[arg-type]
        locale=row.locale,
        payment_terms=row.payment_terms,
        payment_instructions=row.payment_instructions,
    )


async def _document(ctx: Ctx, row: Invoice) -> InvoiceDocument:
    client = (await ctx.session.execute(select(Client).where(Client.id == row.client_id))).scalar_one()
    when: datetime = row.decided_at or row.created_at
    day = when.astimezone(ZoneInfo(client.timezone)).date()
    return InvoiceDocument(
        draft=row.draft,
        status=row.status,
        number=row.number,
        invoice_date=day,
        client=PartyAddress.from_billing_address(client.name, client.billing_address, (client.tax or {}).get("tax_id")),
        branding=await _branding(ctx),
        appendix=True,
    )


async def stored_pdf(ctx: Ctx, row: Invoice) -> tuple[bytes, str]:
    """The stored PDF, rendering and storing it on first read; a concurrent first read keeps the winner's."""
    query = select(StoredDocument).where(StoredDocument.invoice_id == row.id, StoredDocument.kind == KIND)
    stored = (await ctx.session.execute(query)).scalar_one_or_none()
    if stored is None:
        pdf = await asyncio.to_thread(render_invoice_pdf, await _document(ctx, row))
        digest = hashlib.sha256(pdf).hexdigest()
        await ctx.session.execute(
            insert(StoredDocument)
            .values(
                org_id=ctx.org_id,
                invoice_id=row.id,
                kind=KIND,
                media_type=PDF,
                renderer=RENDERER_VERSION,
                sha256=digest,
                size=len(pdf),
                content=pdf,
            )
            .on_conflict_do_nothing(constraint="uq_invoice_documents_org_id_invoice_id_kind")
        )
        stored = (await ctx.session.execute(query)).scalar_one()
    return stored.content, stored.sha256


async def pdf_response(ctx: Ctx, row: Invoice) -> Response[bytes]:
    if row.status == "approved":
        pdf, digest = await stored_pdf(ctx, row)
    else:
        pdf = await asyncio.to_thread(render_invoice_pdf, await _document(ctx, row))
        digest = hashlib.sha256(pdf).hexdigest()
    await ctx.audit("invoice.read", "invoice", row.id, detail={"format": "pdf", "sha256": digest})
    name = re.sub(r"[^A-Za-z0-9._-]", "_", row.number or f"draft-{row.id}")
    return Response(
        content=pdf,
        media_type=PDF,
        headers={"Content-Disposition": f'inline; filename="{name}.pdf"', "Digest": f"sha-256={digest}"},
    )


@get(
    "/invoices/{invoice_id:uuid}/pdf",
    opt={"action": "invoices.read"},
    media_type=PDF,
    summary="The invoice as PDF (approved: stored once, never changes; draft: rendered on the fly)",
)
async def get_invoice_pdf(ctx: Ctx, invoice_id: uuid.UUID) -> Response[bytes]:
    return await pdf_response(ctx, await _invoice(ctx, invoice_id))


ROUTES = [get_invoice_pdf]
