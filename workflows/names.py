"""Workflow ids, names and activity names shared by workers, the API and tests.

Both sides import these constants, so a rename cannot leave a starter calling a name no worker hosts.
"""

from __future__ import annotations

from core.workflow_ids import billing_cycle_id, engagement_id, ledger_sync_id

__all__ = ["billing_cycle_id", "engagement_id", "ledger_sync_id"]

MAINTENANCE_WORKFLOW = "Maintenance"
MAINTENANCE_WORKFLOW_ID = "agencyflow/maintenance"
PURGE_IDEMPOTENCY_KEYS = "purge_idempotency_keys"

# Metering (issue 5): rollup compaction + budget alerts, webhook deliveries
METERING_WORKFLOW = "Metering"
METERING_WORKFLOW_ID = "agencyflow/metering"
WEBHOOK_DELIVERY_WORKFLOW = "WebhookDelivery"
COMPACT_USAGE = "compact_usage"
DELIVER_WEBHOOK = "deliver_webhook"
FAIL_WEBHOOK_DELIVERY = "fail_webhook_delivery"
# Issue 13: folding apart from delivery; "compact_usage" stays only for metering runs started before it.
FOLD_USAGE = "fold_usage"
DISPATCH_WEBHOOKS = "dispatch_webhook_deliveries"


def webhook_delivery_id(delivery_id: str) -> str:
    return f"webhook-delivery/{delivery_id}"


# Engagements and billing cycles (issue 6)
ENGAGEMENT_WORKFLOW = "Engagement"
BILLING_CYCLE_WORKFLOW = "BillingCycle"
LEDGER_SYNC_WORKFLOW = "LedgerSync"

GATHER_CYCLE_INPUTS = "gather_cycle_inputs"
FILE_DRAFT_INVOICE = "file_draft_invoice"
RECORD_DECISION = "record_invoice_decision"
NOTIFY = "notify"
STORE_AMENDMENT = "store_amendment"
SET_CONTRACT_STATUS = "set_contract_status"
POST_TO_LEDGER = "post_invoice_to_ledger"

# Prepaid credit grants on live contracts (issue 14): each grant is booked once as a liability.
CREDIT_GRANT_LEDGER_WORKFLOW = "CreditGrantLedger"
POST_CREDIT_GRANT = "post_credit_grant_to_ledger"
MARK_CREDIT_GRANT_FAILED = "mark_credit_grant_ledger_failed"


def credit_grant_ledger_id(org_id: str, grant_id: str) -> str:
    return f"credit-grant-ledger/{org_id}/{grant_id}"


MARK_LEDGER_FAILED = "mark_ledger_sync_failed"

# Collecting an issued invoice (issue 16): overdue after its due date, dunning reminders on the org's schedule.
INVOICE_COLLECTION_WORKFLOW = "InvoiceCollection"
START_INVOICE_COLLECTION = "start_invoice_collection"
COLLECTION_PLAN = "invoice_collection_plan"
MARK_INVOICE_OVERDUE = "mark_invoice_overdue"
SEND_DUNNING_REMINDER = "send_dunning_reminder"


def invoice_collection_id(org_id: object, invoice_id: object) -> str:
    return f"collection/{org_id}/{invoice_id}"


# Credit notes (issue 16): each posted once to the ledger as a reversal.
CREDIT_NOTE_LEDGER_WORKFLOW = "CreditNoteLedger"
POST_CREDIT_NOTE = "post_credit_note_to_ledger"
MARK_CREDIT_NOTE_FAILED = "mark_credit_note_ledger_failed"


def credit_note_ledger_id(org_id: object, credit_note_id: object) -> str:
    return f"credit-note-ledger/{org_id}/{credit_note_id}"


# Updates and signals
UPDATE_APPROVE = "approve"
UPDATE_REJECT = "reject"
UPDATE_ADJUST = "adjust"
UPDATE_REDRAFT = "redraft"
UPDATE_RESOLVE = "resolve_reconciliation"
UPDATE_AMEND = "amend"
SIGNAL_PAUSE = "pause"
SIGNAL_RESUME = "resume"
UPDATE_TERMINATE = "terminate"
SIGNAL_MILESTONE_ACCEPTED = "milestone_accepted"
QUERY_STATUS = "status"

# Capacity planning (issue 7)
CAPACITY_PLAN_WORKFLOW = "CapacityPlan"
PREPARE_CAPACITY_PLAN = "prepare_capacity_plan"
SOLVE_CAPACITY_PLAN = "solve_capacity_plan"
FINISH_CAPACITY_PLAN = "finish_capacity_plan"
QUERY_CAPACITY_STAGE = "capacity_stage"


def capacity_plan_id(org_id: str, plan_id: str) -> str:
    return f"capacity/{org_id}/{plan_id}"
