"""Published schemas match the code, JSON round-trips exactly, and the engine package stays pure."""

from __future__ import annotations

import ast
import json
from decimal import Decimal
from pathlib import Path

import pytest

import billing
from billing import schema as schema_mod

from .conftest import EXAMPLES, run_example

BILLING = Path(billing.__file__).parent


@pytest.mark.parametrize("name", sorted(schema_mod.SCHEMAS))
def test_committed_schema_equals_the_one_generated_from_the_types(name: str) -> None:
    committed = (BILLING / name).read_bytes()
    assert committed == schema_mod.render(name), f"run `agencyflow billing schema --write` to refresh {name}"


def test_contract_schema_describes_money_as_decimal_text_and_forbids_unknown_fields() -> None:
    s = json.loads((BILLING / "contract.schema.json").read_text())
    tier = s["$defs"]["Tier"]
    assert tier["additionalProperties"] is False
    assert tier["properties"]["unit_price"]["format"] == "decimal"
    assert set(tier["required"]) == {"from", "unit_price"}


def test_invoice_and_state_round_trip_through_json_byte_for_byte() -> None:
    ex = run_example(EXAMPLES / "10-late-usage")
    run = ex.runs[-1]
    data = billing.encode(run.draft)
    again = billing.decode(data, billing.InvoiceDraft)
    assert again == run.draft
    assert billing.encode(again) == data
    st = billing.decode(billing.encode(run.state), billing.CarriedState)
    assert st == run.state
    # money is text in JSON, never a binary number
    assert json.loads(data)["total"] == "206.86"
    assert isinstance(billing.to_builtins(run.draft)["lines"][0]["amount"], str)


def test_decimal_amounts_keep_their_minor_unit_exponent() -> None:
    ex = run_example(EXAMPLES / "07-jpy-client")
    assert str(ex.runs[0].draft.total) == "171694"
    ex = run_example(EXAMPLES / "08-kwd-client")
    assert ex.runs[0].draft.total.as_tuple().exponent == -3
    assert Decimal("0.00") == Decimal(0)


def _sources() -> list[Path]:
    return sorted(BILLING.rglob("*.py"))


def test_no_binary_floating_point_anywhere_in_the_engine() -> None:
    for path in _sources():
        assert "float" not in path.read_text(), path


FORBIDDEN_MODULES = {
    "time",
    "random",
    "os",
    "sqlalchemy",
    "asyncpg",
    "litestar",
    "httpx",
    "temporalio",
    "socket",
    "requests",
    "uuid",
    "secrets",
    "threading",
    "asyncio",
    "subprocess",
}


def test_engine_imports_no_clock_randomness_network_or_database() -> None:
    for path in _sources():
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            names: list[str] = []
            if isinstance(node, ast.Import):
                names = [a.name.split(".")[0] for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names = [node.module.split(".")[0]]
            bad = set(names) & FORBIDDEN_MODULES
            # os is only used for the PathLike type of load_terms' argument
            assert not bad or (path.name == "loader.py" and bad == {"os"}), (path, bad)
            if isinstance(node, ast.Attribute) and node.attr in {"now", "today", "utcnow"}:
                pytest.fail(f"{path}: reads the clock ({node.attr})")
