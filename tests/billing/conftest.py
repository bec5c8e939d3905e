"""Shared helpers for the billing tests (exposed as fixtures: the test suite uses importlib mode)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

import billing
from billing.loader import parse_document
from billing.periods import Period
from cli.billing import read_milestones, read_state, read_time, read_usage

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "contracts"


def D(x: str | int) -> Decimal:
    return Decimal(str(x))


def usage(meter: str, quantity: str | int, cost: str | None = None, **dims: str) -> billing.UsageAggregate:
    return billing.UsageAggregate(
        meter=meter, dimensions=dims, quantity=D(quantity), provider_cost=None if cost is None else D(cost)
    )


def terms_from(doc: str) -> billing.ContractTerms:
    """Load terms from YAML text (validated, like production)."""
    return billing.load_terms(doc.encode())


def amounts(draft: billing.InvoiceDraft) -> dict[str, str]:
    """Line key -> amount as text, so tests compare exact minor-unit representations."""
    out: dict[str, str] = {}
    for ln in draft.lines:
        assert ln.key not in out, f"duplicate line key {ln.key}"
        out[ln.key] = str(ln.amount)
    return out


@dataclass
class PeriodRun:
    period: str
    draft: billing.InvoiceDraft
    state: billing.CarriedState
    expected: dict[str, Any]


@dataclass
class Example:
    path: Path
    terms: billing.ContractTerms
    spec: dict[str, Any]
    runs: list[PeriodRun] = field(default_factory=list)


def run_example(path: Path) -> Example:
    """Rate every period of an example in order, carrying state, exactly as the CLI reads the files."""
    spec = parse_document((path / "expected.yaml").read_bytes())
    terms = billing.load_terms(path / spec["contract"])
    ex = Example(path, terms, spec)
    state = read_state(path / spec["state"]) if "state" in spec else None
    for per in spec["periods"]:
        p = per["period"]
        by_period = read_usage(path / per["usage"], terms)
        current = list(by_period.get(p, [])) + list(by_period.get(None, []))
        entries = (
            [e for e in read_time(path / per["time"]) if Period.of_date(e.work_date).key == p] if "time" in per else []
        )
        accepted = read_milestones(path / per["milestones"]) if "milestones" in per else []
        late = (
            [
                billing.LateUsage(period=k, usage=v)
                for k, v in sorted(read_usage(path / per["late_usage"], terms).items(), key=lambda kv: kv[0] or "")
            ]
            if "late_usage" in per
            else []
        )
        inputs = billing.RatingInputs(usage=current, time_entries=entries, milestones=accepted, late_usage=late)
        draft, state = billing.rate(terms, inputs, state, p)
        ex.runs.append(PeriodRun(p, draft, state, per["expected"]))
    return ex


def example_dirs() -> list[Path]:
    return sorted(p for p in EXAMPLES.iterdir() if (p / "expected.yaml").exists())


@pytest.fixture
def example_runner() -> Callable[[Path], Example]:
    return run_example


@pytest.fixture
def make_terms() -> Callable[[str], billing.ContractTerms]:
    return terms_from
