"""agencyflow billing engine: pure, explainable rating of hybrid agency contracts.

``rate(terms, inputs, state, period) -> (InvoiceDraft, CarriedState)`` is the entry point; see
docs/billing.md for the pipeline and docs/contracts.md for the contract format.
"""

from billing.adjustments import ManualAdjustment, apply_adjustments
from billing.codec import decode, encode, to_builtins
from billing.credit_notes import Credited, CreditNoteDraft, CreditRefused, CreditRequest, credit_note
from billing.currencies import MINOR_UNITS, is_known_currency, minor_units
from billing.engine import rate
from billing.errors import InvalidTerms, Problem, RatingError
from billing.inputs import ExpenseEntry, LateUsage, MilestoneAcceptance, RatingInputs, TimeEntry, UsageAggregate
from billing.invoice import (
    Check,
    Commitment,
    InvoiceDraft,
    InvoiceLine,
    Note,
    SiteSubtotal,
    TaxLine,
    TraceStep,
    Verification,
)
from billing.loader import load_terms, load_version, parse_terms
from billing.money import round_money
from billing.periods import Period, period_bounds, period_of_instant
from billing.plan import RatingPlan, compile_terms
from billing.simulate import BillShockReport, simulate
from billing.state import CarriedState
from billing.terms import ContractTerms, ContractVersion
from billing.validate import contract_warnings, validate_terms
from billing.verify import verify

__all__ = [
    "MINOR_UNITS",
    "BillShockReport",
    "CarriedState",
    "Check",
    "Commitment",
    "ContractTerms",
    "ContractVersion",
    "CreditNoteDraft",
    "CreditRefused",
    "CreditRequest",
    "Credited",
    "ExpenseEntry",
    "InvalidTerms",
    "InvoiceDraft",
    "InvoiceLine",
    "LateUsage",
    "ManualAdjustment",
    "MilestoneAcceptance",
    "Note",
    "Period",
    "Problem",
    "RatingError",
    "RatingInputs",
    "RatingPlan",
    "SiteSubtotal",
    "TaxLine",
    "TimeEntry",
    "TraceStep",
    "UsageAggregate",
    "Verification",
    "apply_adjustments",
    "compile_terms",
    "contract_warnings",
    "credit_note",
    "decode",
    "encode",
    "is_known_currency",
    "load_terms",
    "load_version",
    "minor_units",
    "parse_terms",
    "period_bounds",
    "period_of_instant",
    "rate",
    "round_money",
    "simulate",
    "to_builtins",
    "validate_terms",
    "verify",
]
