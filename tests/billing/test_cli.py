"""The ``agencyflow billing`` sub-app: preview, simulate, validate and schema, in table and JSON form."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from billing import schema as schema_mod
from cli.billing import app

from .conftest import EXAMPLES

runner = CliRunner()
LATE = EXAMPLES / "10-late-usage"
AI = EXAMPLES / "05-cost-plus-ai-margin"


def test_preview_json_has_the_invoice_fields_and_the_carried_state(tmp_path: Path) -> None:
    r = runner.invoke(
        app,
        [
            "preview",
            "--contract",
            str(LATE / "contract.yaml"),
            "--usage",
            str(LATE / "usage.csv"),
            "--period",
            "2025-03",
            "--format",
            "json",
        ],
    )
    assert r.exit_code == 0, r.output
    out = json.loads(r.stdout)
    for key in ("currency", "period", "lines", "site_subtotals", "subtotal", "tax", "total", "state", "verification"):
        assert key in out
    assert out["total"] == "1066.98"
    line = out["lines"][0]
    assert set(line) >= {"site", "kind", "description", "quantity", "unit_price", "amount", "trace"}
    assert out["state"]["last_period"] == "2025-03"
    # chain: the JSON output (or just its state) feeds the next period, with the late usage as deltas
    prev = tmp_path / "march.json"
    prev.write_text(r.stdout)
    r2 = runner.invoke(
        app,
        [
            "preview",
            "--contract",
            str(LATE / "contract.yaml"),
            "--usage",
            str(LATE / "usage.csv"),
            "--late-usage",
            str(LATE / "late-usage.csv"),
            "--state",
            str(prev),
            "--period",
            "2025-04",
            "--format",
            "json",
        ],
    )
    assert r2.exit_code == 0, r2.output
    april = json.loads(r2.stdout)
    assert april["total"] == "206.86"
    assert {ln["delta_for"] for ln in april["lines"]} == {None, "2025-03"}


def test_preview_table_reads_cloudevents_and_shows_traces() -> None:
    r = runner.invoke(
        app,
        [
            "preview",
            "--contract",
            str(AI / "contract.yaml"),
            "--usage",
            str(AI / "events.jsonl"),
            "--period",
            "2025-04",
            "--trace",
        ],
        env={"COLUMNS": "200"},
    )
    assert r.exit_code == 0, r.output
    assert "AI completions — (model=gpt-4o)" in r.stdout or "model=gpt-4o" in r.stdout
    assert "167.06" in r.stdout and "85.31" in r.stdout and "-252.37" in r.stdout
    assert "provider cost 101.25" in r.stdout
    assert "balanced" in r.stdout


def test_validate_lists_every_problem_and_exits_non_zero(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        (EXAMPLES / "06-volume-vs-graduated-tiers" / "contract.yaml")
        .read_text()
        .replace("currency: EUR", "currency: EURO")
        .replace("{from: 1000, up_to: 5000", "{from: 900, up_to: 5000")
    )
    r = runner.invoke(app, ["validate", str(bad), "--format", "json"])
    assert r.exit_code == 1
    out = json.loads(r.stdout)
    assert out["valid"] is False
    assert {p["path"] for p in out["problems"]} == {
        "/currency",
        "/versions/0/usage_charges/0/pricing/tiers/1/from",
        "/versions/0/usage_charges/1/pricing/tiers/1/from",
    }
    r = runner.invoke(app, ["validate", str(EXAMPLES / "01-multisite-ai-platform" / "contract.yaml")])
    assert r.exit_code == 0 and "valid" in r.stdout
    r = runner.invoke(app, ["validate", str(bad)], env={"COLUMNS": "200"})
    assert r.exit_code == 1 and "unknown ISO 4217 currency" in r.stdout


def test_simulate_reports_per_site_differences(tmp_path: Path) -> None:
    ex = EXAMPLES / "09-amended-mid-year"
    proposed = tmp_path / "proposal.yaml"
    proposed.write_text("""
effective_from: 2025-06
label: proposal
sites: [{id: store-1}, {id: store-2}]
usage_charges:
  - {id: scans, meter: shelf_scans, pricing: {model: per_unit, unit_price: "0.25"}}
annual_caps:
  - {id: store-cap, amount: "5000.00", per_site: true}
""")
    r = runner.invoke(
        app,
        [
            "simulate",
            "--contract",
            str(ex / "contract.yaml"),
            "--proposed",
            str(proposed),
            "--usage",
            str(ex / "usage.csv"),
            "--period",
            "2025-06",
            "--state",
            str(ex / "state-2025-05.json"),
            "--format",
            "json",
        ],
    )
    assert r.exit_code == 0, r.output
    out = json.loads(r.stdout)
    sites = {s["site"]: (s["current"], s["proposed"], s["difference"], s["percent"]) for s in out["sites"]}
    # June: store 1 3,000 scans: current 600.00 capped to 400.00; proposed 750.00 capped to 400.00 as well.
    # store 2 2,500 scans: 500.00 -> 625.00 (+125.00, +25.00%)
    assert sites == {
        "store-1": ("400.00", "400.00", "0.00", "0.00"),
        "store-2": ("500.00", "625.00", "125.00", "25.00"),
    }
    assert out["flagged"] is True
    r = runner.invoke(
        app,
        [
            "simulate",
            "--contract",
            str(ex / "contract.yaml"),
            "--proposed",
            str(proposed),
            "--usage",
            str(ex / "usage.csv"),
            "--period",
            "2025-06",
            "--state",
            str(ex / "state-2025-05.json"),
        ],
        env={"COLUMNS": "200"},
    )
    assert r.exit_code == 0 and "shock" in r.stdout


def test_preview_reports_rating_errors_cleanly(tmp_path: Path) -> None:
    r = runner.invoke(
        app,
        [
            "preview",
            "--contract",
            str(LATE / "contract.yaml"),
            "--usage",
            str(LATE / "usage.csv"),
            "--period",
            "2025-02",
        ],
    )
    assert r.exit_code == 1
    assert "before the contract starts" in r.stdout


def test_schema_command_prints_the_committed_contract_schema() -> None:
    r = runner.invoke(app, ["schema"])
    assert r.exit_code == 0
    assert r.stdout.encode() == schema_mod.render("contract.schema.json")


def _preview_notes(period: str) -> str:
    r = runner.invoke(
        app,
        ["preview", "--contract", str(LATE / "contract.yaml"), "--usage", str(LATE / "usage.csv"), "--period", period],
    )
    assert r.exit_code == 0, r.output
    return r.stderr


def test_preview_calls_a_future_periods_usage_later_not_already_invoiced() -> None:
    notes = _preview_notes("2025-03")
    assert "usage for later periods ignored: 2025-04" in notes
    assert "already-invoiced" not in notes


def test_preview_points_an_earlier_periods_usage_at_late_usage() -> None:
    notes = _preview_notes("2025-04")
    assert "usage for earlier periods ignored: 2025-03" in notes
    assert "--late-usage" in notes
    assert "later periods" not in notes
