"""Every workflow class the worker hosts; names are constants in ``workflows.names``."""

from __future__ import annotations

from typing import Any

from workflows.billing_cycle import BillingCycleWorkflow
from workflows.capacity import CapacityPlanWorkflow
from workflows.credit_ledger import CreditGrantLedgerWorkflow
from workflows.credit_note_ledger import CreditNoteLedgerWorkflow
from workflows.engagement import EngagementWorkflow
from workflows.invoice_collection import InvoiceCollectionWorkflow
from workflows.ledger_sync import LedgerSyncWorkflow
from workflows.maintenance import MaintenanceWorkflow
from workflows.metering import MeteringWorkflow, WebhookDeliveryWorkflow

WORKFLOWS: list[Any] = [MaintenanceWorkflow, EngagementWorkflow, BillingCycleWorkflow, LedgerSyncWorkflow]
WORKFLOWS += [MeteringWorkflow, WebhookDeliveryWorkflow]
WORKFLOWS += [CapacityPlanWorkflow]
WORKFLOWS += [CreditGrantLedgerWorkflow]
WORKFLOWS += [InvoiceCollectionWorkflow, CreditNoteLedgerWorkflow]
