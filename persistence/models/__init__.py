"""All mapped tables; importing this package registers every model on ``Base.metadata``."""

from persistence.models.api_key import ApiKey
from persistence.models.audit import AuditEntry
from persistence.models.base import Base
from persistence.models.bill_rate import BillRate
from persistence.models.billing_lock import BillingPeriodLock
from persistence.models.budget import Budget
from persistence.models.capacity_allocation import CapacityAllocation
from persistence.models.capacity_plan import CapacityPlan
from persistence.models.client import Client
from persistence.models.collection import CollectionPolicy, InvoicePayment
from persistence.models.contract import Contract
from persistence.models.credit_grant import CreditGrant
from persistence.models.credit_note import CreditNote, CreditNoteSequence
from persistence.models.expense import Expense
from persistence.models.idempotency import IdempotencyRecord
from persistence.models.identity import IdentityPolicy, Invite, LoginThrottle, PasswordReset, UserSession
from persistence.models.invoice import Invoice, InvoiceNumberSequence, LedgerPosting, Notification
from persistence.models.invoice_document import InvoiceDocument, OrgBranding
from persistence.models.membership import Membership
from persistence.models.meter import Meter
from persistence.models.metering_config import MeteringConfigVersion
from persistence.models.milestone import Milestone
from persistence.models.org import Org
from persistence.models.person import Person
from persistence.models.phase import Phase
from persistence.models.project import Project
from persistence.models.project_member import ProjectMember
from persistence.models.revenue import RevenueEntry
from persistence.models.site import Site
from persistence.models.task import Task
from persistence.models.time_entry import TimeEntry
from persistence.models.time_import import TimeImport
from persistence.models.timesheet import Timesheet
from persistence.models.usage_budget import UsageBudget, UsageBudgetAlert
from persistence.models.usage_event import IngestBatch, UsageEvent, UsageEventKey
from persistence.models.usage_rollup import UsageRollupDaily, UsageRollupHourly, UsageRollupMonthly
from persistence.models.user import User
from persistence.models.webhook import WebhookDelivery, WebhookDeliveryAttempt, WebhookEndpoint

__all__ = [
    "ApiKey",
    "AuditEntry",
    "Base",
    "BillRate",
    "BillingPeriodLock",
    "Budget",
    "CapacityAllocation",
    "CapacityPlan",
    "Client",
    "CollectionPolicy",
    "Contract",
    "CreditGrant",
    "CreditNote",
    "CreditNoteSequence",
    "Expense",
    "IdempotencyRecord",
    "IdentityPolicy",
    "IngestBatch",
    "Invite",
    "Invoice",
    "InvoiceDocument",
    "InvoiceNumberSequence",
    "InvoicePayment",
    "LedgerPosting",
    "LoginThrottle",
    "Membership",
    "Meter",
    "MeteringConfigVersion",
    "Milestone",
    "Notification",
    "Org",
    "OrgBranding",
    "PasswordReset",
    "Person",
    "Phase",
    "Project",
    "ProjectMember",
    "RevenueEntry",
    "Site",
    "Task",
    "TimeEntry",
    "TimeImport",
    "Timesheet",
    "UsageBudget",
    "UsageBudgetAlert",
    "UsageEvent",
    "UsageEventKey",
    "UsageRollupDaily",
    "UsageRollupHourly",
    "UsageRollupMonthly",
    "User",
    "UserSession",
    "WebhookDelivery",
    "WebhookDeliveryAttempt",
    "WebhookEndpoint",
]
