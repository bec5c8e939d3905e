"""The invoice PDF: one approved (or draft) invoice's stored data, laid out with Typst.

Why Typst through its PyPI package: a real typesetter (page breaks, repeated table headers, kerning) in one
wheel with no system dependencies, that renders in milliseconds. Only the fonts bundled in the wheel are used
(``ignore_system_fonts``; Libertinus Serif for text) and no Typst package is imported, so no font or package
is ever downloaded and the output does not depend on the machine.

User text (client and org names, descriptions, addresses, instructions) never becomes Typst markup: it is
handed to the template as JSON through ``sys.inputs`` and placed as strings, which Typst prints literally.
"""

from __future__ import annotations

import threading
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from importlib import resources
from typing import Any
from zoneinfo import ZoneInfo

import msgspec
import typst
from babel import Locale

from billing.explain import explain
from billing.invoice import InvoiceDraft
from documents.branding import Branding
from documents.formatting import locale_of, long_date, money, number, percent

RENDERER_VERSION = "invoice-pdf/1"

_TEMPLATE = resources.files("documents").joinpath("invoice.typ").read_bytes()
_local = threading.local()


class PartyAddress(msgspec.Struct, frozen=True, kw_only=True):
    """The client as printed: name, the lines of its billing address and its tax id, when it has them."""

    name: str
    address_lines: list[str] = []
    tax_ids: list[str] = []

    @classmethod
    def from_billing_address(cls, name: str, address: dict[str, Any] | None, tax_id: str | None) -> PartyAddress:
        lines: list[str] = []
        if address:
            lines = [str(address[k]) for k in ("line1", "line2") if address.get(k)]
            city = " ".join(str(address[k]) for k in ("postal_code", "city") if address.get(k))
            if address.get("region"):
                city = f"{city}, {address['region']}" if city else str(address["region"])
            if city:
                lines.append(city)
            if address.get("country"):
                lines.append(str(address["country"]))
        return cls(name=name, address_lines=lines, tax_ids=[f"Tax ID {tax_id}"] if tax_id else [])


class InvoiceDocument(msgspec.Struct, frozen=True, kw_only=True):
    """Everything the PDF shows. ``draft`` is ``invoices.draft`` as stored (an InvoiceDraft in plain JSON)."""

    draft: dict[str, Any]
    status: str
    number: str | None
    invoice_date: date
    client: PartyAddress
    branding: Branding
    appendix: bool = False


def render_invoice_pdf(doc: InvoiceDocument) -> bytes:
    """PDF bytes; the same document always gives the same bytes (the PDF's timestamp is the invoice date)."""
    data = msgspec.json.encode(_layout(doc)).decode()
    stamp = datetime(doc.invoice_date.year, doc.invoice_date.month, doc.invoice_date.day, tzinfo=UTC)
    pdf = _compiler().compile(input=_TEMPLATE, format="pdf", sys_inputs={"data": data}, timestamp=stamp)
    assert isinstance(pdf, bytes)
    return pdf


def _compiler() -> typst.Compiler:
    """One compiler per thread: it caches the parsed fonts, which is most of a cold render's time."""
    compiler: typst.Compiler | None = getattr(_local, "compiler", None)
    if compiler is None:
        compiler = typst.Compiler(ignore_system_fonts=True)
        _local.compiler = compiler
    return compiler


def _layout(doc: InvoiceDocument) -> dict[str, Any]:
    draft = msgspec.convert(doc.draft, InvoiceDraft, strict=False)
    loc = locale_of(doc.branding.locale)
    cur = draft.currency

    def amt(x: Decimal) -> str:
        return money(x, cur, loc)

    is_draft = doc.status != "approved"
    heading = "Invoice" if not is_draft else "Draft invoice"
    tz = ZoneInfo(draft.timezone)
    start = draft.period_start.astimezone(tz).date()
    last = (draft.period_end.astimezone(tz) - timedelta(microseconds=1)).date()
    meta: list[list[str]] = []
    meta.append(["Invoice no.", doc.number or "DRAFT"])
    meta.append(["Invoice date", long_date(doc.invoice_date, loc)])
    meta.append(["Service period", f"{long_date(start, loc)} – {long_date(last, loc)}"])
    meta.append(["Currency", cur])
    meta.append(["Contract", draft.contract_id])

    names = {s.site: s.name or s.site for s in draft.site_subtotals}
    sites = []
    for sub in draft.site_subtotals:
        lines = [ln for ln in draft.lines if ln.site == sub.site]
        sites.append(
            {
                "code": sub.site,
                "name": names[sub.site],
                "subtotal": amt(sub.amount),
                "lines": [_line(ln, cur, loc) for ln in lines],
            }
        )
    # A line whose site has no subtotal entry would otherwise vanish from the PDF: show it under its site code.
    known = {s.site for s in draft.site_subtotals}
    for code in dict.fromkeys(ln.site for ln in draft.lines if ln.site not in known):
        lines = [ln for ln in draft.lines if ln.site == code]
        sites.append({"code": code, "name": code, "subtotal": "", "lines": [_line(ln, cur, loc) for ln in lines]})

    taxes = [
        {"label": f"{t.name or t.rate_id} ({percent(t.percent, loc)} × {amt(t.base)})", "amount": amt(t.amount)}
        for t in draft.tax
    ]
    appendix = None
    if doc.appendix:
        appendix = [
            {
                "title": f"{ln.description} — {names.get(ln.site, ln.site)}",
                "amount": amt(ln.amount),
                "steps": explain(ln) or ["(no steps recorded)"],
            }
            for ln in draft.lines
        ]
    b = doc.branding
    return {
        "title": f"{heading} {doc.number or ''}".strip(),
        "heading": heading,
        "lang": loc.language,
        "draft_mark": is_draft,
        "colours": {"primary": b.primary_colour, "accent": b.accent_colour},
        "logo": None if b.logo is None else {"format": b.logo.format, "data": list(b.logo.data)},
        "org": {"name": b.name, "address_lines": list(b.address_lines), "tax_ids": list(b.tax_ids)},
        "client": {
            "name": doc.client.name,
            "address_lines": list(doc.client.address_lines),
            "tax_ids": list(doc.client.tax_ids),
        },
        "meta": meta,
        "sites": sites,
        "subtotal": amt(draft.subtotal),
        "taxes": taxes,
        "total": amt(draft.total),
        "payment_terms": b.payment_terms,
        "payment_instructions": b.payment_instructions,
        "appendix": appendix,
        "labels": _LABELS,
    }


def _line(ln: Any, cur: str, loc: Locale) -> dict[str, str]:
    return {
        "description": ln.description,
        "quantity": "" if ln.quantity is None else number(ln.quantity, loc),
        "unit": ln.unit,
        "unit_price": "" if ln.unit_price is None else money(ln.unit_price, cur, loc),
        "amount": money(ln.amount, cur, loc),
    }


_LABELS = {
    "draft": "DRAFT",
    "page": "Page",
    "bill_to": "BILL TO",
    "sites": "SITES",
    "description": "Description",
    "quantity": "Qty",
    "unit": "Unit",
    "unit_price": "Unit price",
    "amount": "Amount",
    "site_subtotal": "Subtotal",
    "subtotal": "Subtotal",
    "total": "Total",
    "payment_terms": "Payment terms",
    "payment_instructions": "How to pay",
    "appendix": "Appendix: how each line was calculated",
}
