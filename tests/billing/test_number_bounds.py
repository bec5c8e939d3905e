"""Numbers no one planned for (issue 14, item 3): NaN, infinities, 1e400, 1e-400 and 10^66 + 1.

Each is refused where it enters -- contract files (``validate``), rating inputs (``preview``/``rate``), usage
CSV and CloudEvents -- with a message naming the field, never a traceback and never an absurd invoice. The
bounds live in one table (core/decimal_bounds.py) and money arithmetic runs in a context that traps
inexact results.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal, Inexact, localcontext
from pathlib import Path

import pytest
from typer.testing import CliRunner

import billing
from billing.aggregation import aggregate_events, parse_usage_csv
from billing.inputs import LateUsage, RatingInputs, TimeEntry, UsageAggregate
from billing.money import BILLING_CONTEXT
from cli.billing import app
from core import decimal_bounds

ABSURD = ["NaN", "Infinity", "-Infinity", "sNaN", "1e400", "1e-400", str(10**66 + 1)]

CONTRACT = """
contract_id: bounds
currency: USD
timezone: UTC
start_date: 2025-01-01
versions:
  - effective_from: 2025-01
    retainers:
      - {{id: r, amount: "{v}", billing: arrears}}
    time_and_materials:
      rate_cards: [{{effective_from: 2025-01-01, roles: {{engineer: "{v}"}}}}]
    usage_charges:
      - {{id: u, meter: m, pricing: {{model: per_unit, unit_price: "{v}"}}}}
      - id: t
        meter: n
        pricing:
          model: graduated
          tiers: [{{from: 0, up_to: "{v}", unit_price: "1"}}, {{from: "{v}", unit_price: "1"}}]
      - {{id: c, meter: o, pricing: {{model: cost_plus, margin_percent: "{v}"}}}}
    minimums: [{{id: mn, amount: "{v}"}}]
"""

FIELDS = [
    "/versions/0/retainers/0/amount",
    "/versions/0/time_and_materials/rate_cards/0/roles/engineer",
    "/versions/0/usage_charges/0/pricing/unit_price",
    "/versions/0/usage_charges/1/pricing/tiers/0/up_to",
    "/versions/0/usage_charges/1/pricing/tiers/1/from",
    "/versions/0/usage_charges/2/pricing/margin_percent",
    "/versions/0/minimums/0/amount",
]

SIMPLE = b"""
contract_id: simple
currency: USD
timezone: UTC
start_date: 2025-01-01
versions:
  - effective_from: 2025-01
    time_and_materials:
      rate_cards: [{effective_from: 2025-01-01, roles: {engineer: "100.00"}}]
    usage_charges:
      - {id: u, meter: m, pricing: {model: per_unit, unit_price: "0.50"}}
"""


@pytest.mark.parametrize("value", ABSURD)
def test_validate_names_every_field_holding_an_absurd_number(value: str) -> None:
    problems = billing.validate_terms(CONTRACT.format(v=value).encode())
    assert sorted(p.path for p in problems) == sorted(FIELDS)
    for p in problems:
        assert "finite" in p.message or "integer digits" in p.message or "decimal places" in p.message


def test_each_kind_has_its_own_digits_and_places() -> None:
    # a unit price may carry 10 places, an amount 4; a percentage at most 4 integer digits
    assert decimal_bounds.problem(Decimal("0.0000000025"), "rate") is None
    assert "decimal places" in str(decimal_bounds.problem(Decimal("1.00001"), "amount"))
    assert "integer digits" in str(decimal_bounds.problem(Decimal("12000"), "percent"))
    # trailing zeros and exponent notation are read by value
    assert decimal_bounds.problem(Decimal("100.000000000000000000"), "amount") is None
    assert decimal_bounds.problem(Decimal("1E+3"), "quantity") is None
    assert decimal_bounds.digits(Decimal(10**66 + 1)) == (67, 0)


def test_terms_built_in_code_are_bounded_too() -> None:
    terms = billing.load_terms(SIMPLE)
    version = terms.versions[0]
    charge = version.usage_charges[0]
    import msgspec

    bad = msgspec.structs.replace(
        terms,
        versions=[
            msgspec.structs.replace(
                version,
                usage_charges=[
                    msgspec.structs.replace(charge, pricing=billing.terms.PerUnit(unit_price=Decimal("NaN")))
                ],
            )
        ],
    )
    problems = billing.validate_terms(bad)
    assert [p.path for p in problems] == ["/versions/0/usage_charges/0/pricing/unit_price"]
    with pytest.raises(billing.InvalidTerms):
        billing.compile_terms(bad)


@pytest.mark.parametrize("value", ABSURD)
def test_rating_refuses_absurd_quantities_minutes_and_costs_naming_the_field(value: str) -> None:
    terms = billing.load_terms(SIMPLE)
    v = Decimal(value)
    inputs = RatingInputs(
        usage=[UsageAggregate(meter="m", quantity=v, provider_cost=v)],
        time_entries=[
            TimeEntry(id="e1", person="p", role="engineer", project="P", work_date=date(2025, 1, 6), minutes=v)
        ],
        late_usage=[LateUsage(period="2024-12", usage=[UsageAggregate(meter="m", quantity=v)])],
    )
    with pytest.raises(billing.RatingError) as err:
        billing.rate(terms, inputs, None, "2025-01")
    assert sorted(p.path for p in err.value.problems) == [
        "/late_usage/0/usage/0/quantity",
        "/time_entries/0/minutes",
        "/usage/0/provider_cost",
        "/usage/0/quantity",
    ]


def test_a_quantity_of_ten_to_the_66_plus_one_is_refused_not_rounded_off() -> None:
    terms = billing.load_terms(SIMPLE)
    q = Decimal(10**66 + 1)
    with pytest.raises(billing.RatingError, match="67 integer digits"):
        billing.rate(terms, RatingInputs(usage=[UsageAggregate(meter="m", quantity=q)]), None, "2025-01")
    # the largest bounded quantity bills exactly: 999,999,999,999,999.999999999 x 0.50
    q = Decimal("999999999999999.999999999")
    draft, _ = billing.rate(terms, RatingInputs(usage=[UsageAggregate(meter="m", quantity=q)]), None, "2025-01")
    assert draft.total == Decimal("500000000000000.00")
    assert draft.verification.balanced


def test_money_arithmetic_traps_inexact_results() -> None:
    with localcontext(BILLING_CONTEXT), pytest.raises(Inexact):
        _ = Decimal(10**59) + Decimal("0.1")  # 61 significant digits would have been rounded off


@pytest.mark.parametrize("value", ["NaN", "1e400", "1e-400", str(10**66 + 1)])
def test_usage_csv_refuses_absurd_numbers_with_line_and_column(value: str) -> None:
    with pytest.raises(ValueError, match=r"usage CSV line 2: quantity: "):
        parse_usage_csv(f"meter,quantity\nm,{value}\n")
    with pytest.raises(ValueError, match=r"usage CSV line 3: provider_cost: "):
        parse_usage_csv(f"meter,quantity,provider_cost\nm,1,2\nm,1,{value}\n")


def test_cloudevents_with_absurd_values_are_rejected_one_by_one() -> None:
    meters = billing.load_terms(
        SIMPLE.replace(b"versions:", b"meters: [{id: m, event_type: t, value: q}]\nversions:")
    ).meters
    envelope = '"specversion":"1.0","source":"s","type":"t","time":"2025-01-02T00:00:00Z"'
    events = "\n".join(
        f'{{"id":"{i}",{envelope},"data":{{"q":{q}}}}}' for i, q in enumerate(["5", "1e-400", "1e400", '"NaN"', "7"])
    )
    report = aggregate_events(events.encode(), meters, "UTC", None)
    assert [a.quantity for a in report.by_period["2025-01"]] == [Decimal(12)]
    assert [r.line for r in report.rejected] == [2, 3, 4]
    assert "400 decimal places" in report.rejected[0].reason
    assert "401 integer digits" in report.rejected[1].reason


runner = CliRunner()


@pytest.mark.parametrize("value", ["NaN", "Infinity", "1e400"])
def test_cli_validate_and_preview_list_problems_without_a_traceback(tmp_path: Path, value: str) -> None:
    contract = tmp_path / "c.yaml"
    contract.write_text(CONTRACT.format(v=value))
    result = runner.invoke(app, ["validate", str(contract), "--format", "json"])
    assert result.exit_code == 1 and isinstance(result.exception, SystemExit)
    assert "Traceback" not in result.output
    for field in FIELDS:
        assert field in result.output
    usage = tmp_path / "u.csv"
    usage.write_text("meter,quantity\nm,1\n")
    result = runner.invoke(app, ["preview", "--contract", str(contract), "--usage", str(usage), "--period", "2025-01"])
    assert result.exit_code == 1 and isinstance(result.exception, SystemExit)
    ok = tmp_path / "ok.yaml"
    ok.write_bytes(SIMPLE)
    usage.write_text(f"meter,quantity\nm,{value}\n")
    time = tmp_path / "t.csv"
    time.write_text("id,person,role,project,work_date,minutes\ne1,p,engineer,P,2025-01-06,30\n")
    result = runner.invoke(app, ["preview", "--contract", str(ok), "--usage", str(usage), "--period", "2025-01"])
    assert result.exit_code == 1 and isinstance(result.exception, SystemExit)
    assert "usage CSV line 2: quantity" in " ".join(result.output.split())
    usage.write_text("meter,quantity\nm,1\n")
    time.write_text(f"id,person,role,project,work_date,minutes\ne1,p,engineer,P,2025-01-06,{value}\n")
    args = ["preview", "--contract", str(ok), "--usage", str(usage), "--time", str(time), "--period", "2025-01"]
    result = runner.invoke(app, args)
    assert result.exit_code == 1 and isinstance(result.exception, SystemExit)
    assert "minutes" in result.output
