"""Every example contract's invoices equal the expected invoices worked out by hand in its folder."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

import billing
from billing.periods import Period, contract_year_start

from .conftest import Example, amounts, example_dirs, run_example


def _mismatches(ex: Example) -> list[str]:
    errors: list[str] = []
    for run in ex.runs:
        exp: dict[str, Any] = run.expected
        d = run.draft
        where = f"{ex.path.name} {run.period}"
        want_lines = {k.replace("PERIOD", run.period): v for k, v in exp["lines"].items()}
        got_lines = amounts(d)
        if got_lines != want_lines:
            for k in sorted(set(want_lines) | set(got_lines)):
                if want_lines.get(k) != got_lines.get(k):
                    errors.append(f"{where}: line {k}: expected {want_lines.get(k)}, got {got_lines.get(k)}")
        got_sites = {s.site: str(s.amount) for s in d.site_subtotals}
        if got_sites != exp["site_subtotals"]:
            errors.append(f"{where}: site subtotals expected {exp['site_subtotals']}, got {got_sites}")
        for name in ("subtotal", "total"):
            if str(getattr(d, name)) != exp[name]:
                errors.append(f"{where}: {name} expected {exp[name]}, got {getattr(d, name)}")
        got_tax = {t.rate_id: str(t.amount) for t in d.tax}
        if got_tax != (exp.get("tax") or {}):
            errors.append(f"{where}: tax expected {exp.get('tax')}, got {got_tax}")
        if not d.verification.balanced:
            errors.append(f"{where}: verification failed")
        if "rollover_hours" in exp:
            got = {b.earned: b.minutes / 60 for b in run.state.rollover}
            want = {k: Decimal(v) for k, v in (exp["rollover_hours"] or {}).items()}
            if got != want:
                errors.append(f"{where}: rollover hours expected {want}, got {got}")
        if "credit_balances" in exp:
            got_c = {c.grant: str(c.remaining) for c in run.state.credits}
            if got_c != exp["credit_balances"]:
                errors.append(f"{where}: credit balances expected {exp['credit_balances']}, got {got_c}")
        if "cap_billed" in exp:
            year = contract_year_start(Period.parse(run.period), _anchor(ex.terms)).key
            got_b = {f"{c.cap}/{c.instance}": str(c.billed) for c in run.state.caps if c.year_start == year}
            if got_b != exp["cap_billed"]:
                errors.append(f"{where}: caps billed expected {exp['cap_billed']}, got {got_b}")
    return errors


def _anchor(terms: billing.ContractTerms) -> Period:
    return Period.parse(terms.contract_year_anchor) if terms.contract_year_anchor else Period.of_date(terms.start_date)


@pytest.mark.parametrize("path", example_dirs(), ids=lambda p: p.name)
def test_example_invoices_match_the_hand_worked_expectations(path: Path) -> None:
    ex = run_example(path)
    assert ex.runs, "example has no periods"
    errors = _mismatches(ex)
    assert not errors, "\n".join(errors)


def test_there_are_at_least_eight_examples_each_with_expectations() -> None:
    dirs = example_dirs()
    assert len(dirs) >= 8
    for d in dirs:
        assert (d / "contract.yaml").exists()
        assert billing.validate_terms(d / "contract.yaml") == []
