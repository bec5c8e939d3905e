"""Arguments and results of the engagement, billing-cycle and ledger workflows and their activities.

These are the only shapes that cross the Temporal boundary, so they are versioned by being additive:
new fields get defaults, old histories still decode.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

import msgspec

from billing import CarriedState, ContractTerms, ContractVersion, InvoiceDraft, MilestoneAcceptance, RatingInputs


class CycleConfig(msgspec.Struct, frozen=True, kw_only=True):
    """Delays and thresholds of a billing cycle (seconds, so time-skipping tests can shrink them)."""

    grace_s: int = 3 * 24 * 3600
    remind_after_s: int = 2 * 24 * 3600
    escalate_after_s: int = 5 * 24 * 3600
    reconciliation_threshold: Decimal = Decimal("0.01")
    auto_redraft_on_mismatch: bool = False


class EngagementInput(msgspec.Struct, frozen=True, kw_only=True):
    org_id: str
    contract_id: str
    client_id: str
    client_key: str = ""
    timezone: str
    next_period: str
    end_period: str | None = None
    config: CycleConfig = CycleConfig()
    paused: bool = False
    paused_at: datetime | None = None
    pause_windows: list[tuple[datetime, datetime]] = []
    terms_versions: int = 1
    cycles: int = 0
    skipped_periods: list[str] = []
    totals: dict[str, Decimal] = {}
    last_invoice_id: str | None = None
    pending_milestones: list[MilestoneAcceptance] = []


class EngagementStatus(msgspec.Struct, frozen=True, kw_only=True):
    contract_id: str
    state: str
    next_period: str | None
    terms_versions: int
    cycles: int
    totals: dict[str, Decimal]
    skipped_periods: list[str]
    last_invoice_id: str | None
    terminated_on: date | None = None


class CycleInput(msgspec.Struct, frozen=True, kw_only=True):
    org_id: str
    contract_id: str
    client_id: str
    client_key: str = ""
    period: str
    timezone: str = "UTC"
    config: CycleConfig = CycleConfig()
    milestones: list[MilestoneAcceptance] = []
    terminated_on: date | None = None


class CycleResult(msgspec.Struct, frozen=True, kw_only=True):
    invoice_id: str
    number: str
    period: str
    currency: str
    total: Decimal
    revisions: int


class CycleGathered(msgspec.Struct, frozen=True, kw_only=True):
    """Everything the engine needs for one period, read in one activity from one snapshot."""

    terms: ContractTerms
    inputs: RatingInputs
    state: CarriedState
    client_name: str
    as_of: datetime


class DraftWrite(msgspec.Struct, frozen=True, kw_only=True):
    org_id: str
    contract_id: str
    client_id: str
    period: str
    workflow_id: str
    draft: InvoiceDraft
    inputs: RatingInputs
    state_before: CarriedState
    state_after: CarriedState


class InvoiceRef(msgspec.Struct, frozen=True, kw_only=True):
    invoice_id: str
    status: str
    revision: int


class Reconciliation(msgspec.Struct, frozen=True, kw_only=True):
    ok: bool
    draft_total: Decimal
    live_total: Decimal
    difference: Decimal
    threshold: Decimal
    checked_at: datetime
    details: list[str] = []


class FiledDraft(msgspec.Struct, frozen=True, kw_only=True):
    invoice: InvoiceRef
    reconciliation: Reconciliation


class Adjustment(msgspec.Struct, frozen=True, kw_only=True):
    description: str
    amount: Decimal
    site: str | None = None
    tax_rate: str | None = None


class Decision(msgspec.Struct, frozen=True, kw_only=True):
    """A finance decision arriving as a workflow Update from the API."""

    invoice_id: str
    actor_id: str
    actor_role: str
    reason: str = ""
    adjustments: list[Adjustment] = []
    expected_version: int | None = None
    actor_type: str = "api_key"
    """``api_key`` or ``session``: what ``actor_id`` names (histories recorded before it replay as keys)."""
    actor_user_id: str | None = None
    """The person behind the key or session, for the audit; None for a service key and old histories."""


class DecisionRecord(msgspec.Struct, frozen=True, kw_only=True):
    """What the cycle asks the database to record for a decision."""

    org_id: str
    invoice_id: str
    action: str
    actor_id: str
    actor_role: str
    reason: str = ""
    adjusted_draft: InvoiceDraft | None = None
    adjustments: list[Adjustment] = []
    issue_date: date | None = None
    actor_type: str = "api_key"
    """``api_key`` or ``session``: what ``actor_id`` names (histories recorded before it replay as keys)."""
    actor_user_id: str | None = None
    """The person behind the key or session, for the audit; None for a service key and old histories."""


class DecisionOutcome(msgspec.Struct, frozen=True, kw_only=True):
    invoice_id: str
    status: str
    number: str | None = None
    total: Decimal | None = None


class NotifyRequest(msgspec.Struct, frozen=True, kw_only=True):
    org_id: str
    invoice_id: str | None
    kind: str
    recipient_role: str
    message: str


class Amendment(msgspec.Struct, frozen=True, kw_only=True):
    """New terms from the next period boundary on; ``effective_from`` is set by the workflow."""

    version: ContractVersion
    actor_id: str
    actor_role: str
    actor_type: str = "api_key"
    """``api_key`` or ``session``: what ``actor_id`` names (histories recorded before it replay as keys)."""
    actor_user_id: str | None = None
    """The person behind the key or session, for the audit; None for a service key and old histories."""


class AmendmentStored(msgspec.Struct, frozen=True, kw_only=True):
    effective_from: str
    terms_versions: int


class Termination(msgspec.Struct, frozen=True, kw_only=True):
    effective_on: date
    actor_id: str
    actor_role: str
    reason: str = ""


class LedgerSyncInput(msgspec.Struct, frozen=True, kw_only=True):
    org_id: str
    invoice_id: str
    target: str = "beancount"
