"""``agencyflow plan``: readable summary and heatmap from a JSON instance."""

from __future__ import annotations

from pathlib import Path

import msgspec
from typer.testing import CliRunner

from cli.plan import app
from scheduling import Plan

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "capacity" / "small.json"


def test_plan_command_prints_summary_and_writes_heatmap(tmp_path: Path) -> None:
    heatmap = tmp_path / "util.png"
    output = tmp_path / "plan.json"
    result = CliRunner().invoke(
        app,
        ["--input", str(EXAMPLE), "--time-limit", "5", "--heatmap", str(heatmap), "--output", str(output), "-q"],
        env={"COLUMNS": "200"},
    )
    assert result.exit_code == 0, result.output
    for text in ("Objective breakdown", "Utilization per person", "Unmet demand", "Plan checker: all rules hold"):
        assert text in result.output
    assert heatmap.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    plan = msgspec.json.decode(output.read_bytes(), type=Plan)
    assert f"{plan.objective:,.0f}" in result.output
    assert plan.allocations


def test_plan_command_reports_invalid_input(tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text('{"start": "2025-03-04", "weeks": 1, "people": [], "projects": [], "demand": []}')
    result = CliRunner().invoke(app, ["--input", str(bad)], env={"COLUMNS": "200"})
    assert result.exit_code == 2
    assert "is not a Monday" in result.output
