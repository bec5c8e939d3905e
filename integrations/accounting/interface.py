"""The contract every accounting integration implements (Beancount now; Xero and QuickBooks next).

Each target splits into a pure payload builder (invoice → the target's document, testable without I/O)
and a thin client that posts it. ``post`` must be idempotent on ``invoice_id``: a retry after a crash, a
timeout or a duplicate activity execution finds the earlier posting and reports it instead of posting again.
"""

from __future__ import annotations

from typing import Protocol

from integrations.accounting.model import LedgerInvoice, PostingResult


class AccountingTarget(Protocol):
    name: str

    def find(self, invoice_id: str) -> PostingResult | None:
        """The existing posting of this invoice, if any."""

    def post(self, invoice: LedgerInvoice) -> PostingResult:
        """Post once; if already posted, return the earlier posting with ``already_posted=True``."""
