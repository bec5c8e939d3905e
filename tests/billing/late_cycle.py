"""The next cycle's draft in the late-work tests, whichever way the race with the approval went.

The next cycle starts as soon as the first invoice is approved, so its gather can run before the test's
approval of the late work and its reconciliation after: the draft is then ``blocked`` (the live view holds
the late line, the draft not), or, if both ran before, a ``draft`` without it. Either is correct product
behaviour; finance redrafts, and the new draft holds the late line.
"""

from __future__ import annotations

from core.permissions import Role
from tests.engagements.conftest import eventually
from tests.engagements.test_engagement_api import drafts


async def _open_draft(api, org, contract_id: str) -> dict | None:  # type: ignore[no-untyped-def]
    for status in ("draft", "blocked"):
        items = await drafts(api, org, contract_id, status)
        if items:
            return items[0]
    return None


async def _replacement(api, org, contract_id: str, previous: str) -> dict | None:  # type: ignore[no-untyped-def]
    current = await _open_draft(api, org, contract_id)
    return current if current is not None and current["id"] != previous else None


async def next_draft_with_late_work(api, org, contract_id: str, period: str, reason: str) -> dict:  # type: ignore[no-untyped-def]
    """The open draft for ``period`` once it bills something, redrafting (at most twice) when it missed it."""
    finance = org.headers(Role.FINANCE)
    for _ in range(3):
        invoice = await eventually(lambda: _open_draft(api, org, contract_id), timeout=60)
        assert invoice["period"] == period
        if invoice["status"] == "draft" and invoice["total"] != "0.00":
            return invoice
        if invoice["status"] == "draft":
            rejected = await api.post(f"/v1/invoices/{invoice['id']}/reject", json={"reason": reason}, headers=finance)
            assert rejected.status_code == 200, rejected.text
        redraft = await api.post(f"/v1/invoices/{invoice['id']}/redraft", headers=finance)
        assert redraft.status_code in (200, 202), redraft.text
        previous = invoice["id"]

        invoice = await eventually(lambda previous=previous: _replacement(api, org, contract_id, previous), timeout=60)
        if invoice["status"] == "draft" and invoice["total"] != "0.00":
            return invoice
    raise AssertionError(f"no draft for {period} billed the late work after two redrafts")
