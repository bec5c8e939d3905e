"""What-ifs return a new plan and its diff to the base plan."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from scheduling import Instance, Plan, SolveOptions, check_plan, delay_project, drop_project, hire_person, solve

if TYPE_CHECKING:
    from conftest import Kit

FAST = SolveOptions(time_limit_s=5)


@pytest.fixture
def base(kit: Kit) -> tuple[Instance, Plan]:
    instance = kit.make(
        [kit.person("a", {"python": 3}, cost_rate=50), kit.person("b", {"react": 2}, cost_rate=45)],
        [
            kit.project("P", bill_rate=150),
            kit.project("M", bill_rate=170),
            kit.project("T", bill_rate=160, tentative=True, probability=0.6),
        ],
        [
            kit.line("p0", "P", 0, 32, "python"),
            kit.line("p1", "P", 1, 32, "python"),
            kit.line("m1", "M", 1, 24, "ml", 2),
            kit.line("m2", "M", 2, 24, "ml", 2),
            kit.line("t0", "T", 0, 24, "react"),
            kit.line("t1", "T", 1, 24, "react"),
        ],
        weeks=3,
    )
    return instance, solve(instance, FAST)


def test_hiring_the_missing_skill_staffs_the_demand(base: tuple[Instance, Plan], kit: Kit) -> None:
    instance, plan = base
    assert {u.demand_id for u in plan.unmet if u.reason == "no_skill"} == {"m1", "m2"}
    result = hire_person(instance, plan, kit.person("new", {"ml": 3}, cost_rate=70), FAST)
    assert {(c.person_id, c.project_id, c.week, c.hours_after) for c in result.diff.added} == {
        ("new", "M", 1, 24.0),
        ("new", "M", 2, 24.0),
    }
    assert result.diff.removed == [] and result.diff.changed == []
    assert result.diff.unmet_delta_by_project == {"M": -48.0}
    assert result.diff.objective_delta == pytest.approx(result.plan.objective - plan.objective)
    assert result.diff.objective_delta > 0
    assert check_plan(result.instance, result.plan).ok


def test_delaying_a_project_moves_its_allocations(base: tuple[Instance, Plan]) -> None:
    instance, plan = base
    result = delay_project(instance, plan, "P", 1, FAST)
    assert {(c.person_id, c.week) for c in result.diff.added if c.project_id == "P"} == {("a", 2)}
    assert {(c.person_id, c.week) for c in result.diff.removed if c.project_id == "P"} == {("a", 0)}
    assert sorted(a.week for a in result.plan.allocations if a.project_id == "P") == [1, 2]
    assert result.notes == []
    assert check_plan(result.instance, result.plan).ok


def test_delay_past_the_horizon_is_noted(base: tuple[Instance, Plan]) -> None:
    instance, plan = base
    result = delay_project(instance, plan, "P", 2, FAST)
    assert result.notes == ["p1 (32 h) moves to week 3, outside the horizon"]


def test_dropping_a_tentative_project_frees_its_people(base: tuple[Instance, Plan]) -> None:
    instance, plan = base
    assert any(a.project_id == "T" for a in plan.allocations)
    result = drop_project(instance, plan, "T", FAST)
    assert {c.project_id for c in result.diff.removed} == {"T"}
    assert not any(a.project_id == "T" for a in result.plan.allocations)
    assert result.diff.breakdown_delta["revenue"] < 0
    assert check_plan(result.instance, result.plan).ok


def test_dropping_a_confirmed_project_is_refused(base: tuple[Instance, Plan]) -> None:
    instance, plan = base
    with pytest.raises(ValueError, match="confirmed"):
        drop_project(instance, plan, "P", FAST)
