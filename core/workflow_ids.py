"""Workflow ids, one format for every process: the id *is* the idempotency key of an engagement, a cycle
(one per contract period) and a ledger sync (one per invoice)."""

from __future__ import annotations


def engagement_id(org_id: object, contract_id: object) -> str:
    return f"engagement/{org_id}/{contract_id}"


def billing_cycle_id(org_id: object, contract_id: object, period: str) -> str:
    return f"billing/{org_id}/{contract_id}/{period}"


def ledger_sync_id(org_id: object, invoice_id: object) -> str:
    return f"ledger/{org_id}/{invoice_id}"
