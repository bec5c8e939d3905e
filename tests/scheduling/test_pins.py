"""Pins: honoured when possible, infeasible ones reported clearly (never a crash)."""

from __future__ import annotations

from datetime import date
from typing import TYPE_CHECKING

from scheduling import Pin, SolveOptions, TimeOff, check_plan, solve

if TYPE_CHECKING:
    from conftest import Kit

FAST = SolveOptions(time_limit_s=5)


def test_must_pin_is_honoured_even_when_worse(kit: Kit) -> None:
    instance = kit.make(
        [kit.person("cheap", {"go": 2}, cost_rate=30), kit.person("pricey", {"go": 2}, cost_rate=90)],
        [kit.project("P", bill_rate=150)],
        [kit.line("d0", "P", 0, 16, "go"), kit.line("d1", "P", 1, 16, "go")],
        pins=[Pin(person_id="pricey", project_id="P", kind="must", weeks=[1])],
    )
    plan = solve(instance, FAST)
    assert plan.pin_conflicts == []
    assert any(a.person_id == "pricey" and a.week == 1 and a.hours >= 8 for a in plan.allocations)
    assert check_plan(instance, plan).ok


def test_must_pin_during_time_off_is_reported_not_crashing(kit: Kit) -> None:
    away = TimeOff(start=date(2025, 3, 3), end=date(2025, 3, 7))
    instance = kit.make(
        [kit.person("a", {"go": 2}, cost_rate=30, time_off=[away])],
        [kit.project("P", bill_rate=150)],
        [kit.line("d0", "P", 0, 16, "go"), kit.line("d1", "P", 1, 16, "go")],
        pins=[Pin(person_id="a", project_id="P", kind="must")],
    )
    plan = solve(instance, FAST)
    assert [(c.person_id, c.project_id, c.week, c.pins) for c in plan.pin_conflicts] == [("a", "P", 0, [0])]
    assert "time off" in plan.pin_conflicts[0].reason
    assert any(a.person_id == "a" and a.week == 1 for a in plan.allocations)  # the feasible week holds
    assert check_plan(instance, plan).ok


def test_contradicting_and_unfitting_pins_are_reported(kit: Kit) -> None:
    instance = kit.make(
        [kit.person("a", {"go": 2}), kit.person("b", {"css": 2})],
        [kit.project("P", bill_rate=150)],
        [kit.line("d0", "P", 0, 16, "go")],
        weeks=1,
        pins=[
            Pin(person_id="a", project_id="P", kind="must"),
            Pin(person_id="a", project_id="P", kind="must_not"),
            Pin(person_id="b", project_id="P", kind="must"),
        ],
    )
    plan = solve(instance, FAST)
    reasons = {c.person_id: c.reason for c in plan.pin_conflicts}
    assert reasons["a"].startswith("contradicts must-not pin(s) #1")
    assert "fits none of P's demand lines" in reasons["b"]
    assert plan.allocations == []  # a is pinned off, b does not fit
    assert check_plan(instance, plan).ok


def test_jointly_infeasible_pins_drop_the_latest_and_name_the_others(kit: Kit) -> None:
    instance = kit.make(
        [kit.person("a", {"go": 2}, max_concurrent_projects=2)],
        [kit.project(j, bill_rate=150) for j in "PQR"],
        [kit.line(j.lower(), j, 0, 8, "go") for j in "PQR"],
        weeks=1,
        pins=[Pin(person_id="a", project_id=j, kind="must") for j in "PQR"],
    )
    plan = solve(instance, FAST)
    assert len(plan.pin_conflicts) == 1
    conflict = plan.pin_conflicts[0]
    assert (conflict.project_id, conflict.pins) == ("R", [2])
    assert "pinned to 3 projects in week 0 (limit 2)" in conflict.reason
    assert "conflicts with pin(s) #0, #1" in conflict.reason
    assert sorted(a.project_id for a in plan.allocations) == ["P", "Q"]
    assert check_plan(instance, plan).ok
