"""A Beancount ledger file per org: posts each invoice once, and never leaves a ledger bean-check rejects.

Writes go to a temporary file that is checked with Beancount's loader (what ``bean-check`` runs) and then
atomically renamed over the ledger, under an exclusive file lock so concurrent workers serialise. The
invoice id in the ledger's own metadata is the idempotency record: a retry finds it and posts nothing.
"""

from __future__ import annotations

import fcntl
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from integrations.accounting.beancount_payload import accounts_of, open_directives, transaction_text
from integrations.accounting.model import LedgerInvoice, PostingResult

_INVOICE_ID = re.compile(r'^\s+invoice_id: "(?P<id>[^"]+)"', re.MULTILINE)
_OPEN = re.compile(r"^\d{4}-\d{2}-\d{2} open (?P<account>\S+)", re.MULTILINE)


class LedgerCheckError(RuntimeError):
    """The ledger with this posting would not pass bean-check; nothing was written."""


def bean_check(path: Path) -> list[str]:
    """Run the real ``bean-check`` on a file; return its error lines (empty when the ledger is valid)."""
    executable = Path(sys.executable).parent / "bean-check"
    result = subprocess.run([str(executable), str(path)], capture_output=True, text=True, check=False)
    if result.returncode == 0:
        return []
    return [line for line in (result.stdout + result.stderr).splitlines() if line.strip()] or ["bean-check failed"]


class BeancountLedger:
    name = "beancount"

    def __init__(self, path: Path, operating_currency: str = "USD") -> None:
        self.path = path
        self.operating_currency = operating_currency

    @contextmanager
    def _locked(self) -> Iterator[None]:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.path.with_suffix(".lock"), "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)

    def _read(self) -> str:
        if self.path.exists():
            return self.path.read_text()
        return f'option "title" "agencyflow ledger"\noption "operating_currency" "{self.operating_currency}"\n\n'

    def posted_invoice_ids(self) -> set[str]:
        return {m.group("id") for m in _INVOICE_ID.finditer(self._read())}

    def find(self, invoice_id: str) -> PostingResult | None:
        if invoice_id in self.posted_invoice_ids():
            return PostingResult(invoice_id=invoice_id, target=self.name, reference=str(self.path), already_posted=True)
        return None

    def post(self, invoice: LedgerInvoice) -> PostingResult:
        with self._locked():
            text = self._read()
            if invoice.invoice_id in {m.group("id") for m in _INVOICE_ID.finditer(text)}:
                return PostingResult(invoice.invoice_id, self.name, str(self.path), already_posted=True)
            opened = {m.group("account") for m in _OPEN.finditer(text)}
            missing = [account for account in accounts_of(invoice) if account not in opened]
            addition = ""
            if missing:
                addition += open_directives(missing) + "\n"
            addition += transaction_text(invoice) + "\n"
            candidate = self.path.with_name(self.path.name + ".tmp")
            candidate.write_text(text + addition)
            errors = bean_check(candidate)
            if errors:
                candidate.unlink(missing_ok=True)
                raise LedgerCheckError("; ".join(errors))
            with open(candidate, "rb+") as handle:
                os.fsync(handle.fileno())
            os.replace(candidate, self.path)
        return PostingResult(invoice.invoice_id, self.name, str(self.path), already_posted=False)
