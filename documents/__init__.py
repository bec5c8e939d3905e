"""Finance documents rendered from stored data: today the invoice PDF (docs/documents.md).

Pure: the renderer takes an invoice's stored data and the org's branding and returns PDF bytes. It reads no
database and no clock, so the same input always gives the same bytes.
"""

from documents.branding import Branding, Logo
from documents.invoice_pdf import RENDERER_VERSION, InvoiceDocument, PartyAddress, render_invoice_pdf

__all__ = ["RENDERER_VERSION", "Branding", "InvoiceDocument", "Logo", "PartyAddress", "render_invoice_pdf"]
