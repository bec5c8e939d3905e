"""The Lagrangian bound keeps churn, minimum hours and the project limit: it is never below the optimum
(brute force), never above the flow bound it starts from, and sees churn that no plan can avoid."""

from __future__ import annotations

import itertools
import random
from datetime import date
from typing import TYPE_CHECKING

import numpy as np
import pytest

from scheduling import Instance, Rules, SolveOptions, TimeOff, Weights, check_plan, generate, solve
from scheduling.bound import flow_bound
from scheduling.lagrangian import LagrangianBound
from scheduling.pins import resolve_pins
from scheduling.prepared import Prepared
from tests.scheduling.test_optimality import CASES

if TYPE_CHECKING:
    from conftest import Kit


def lagrangian(instance: Instance, *, steps: int = 300, target: float = 0.0) -> tuple[float, float, list[float]]:
    """(flow bound, best Lagrangian bound, the bound of every step) with the solver's warm start."""
    prep = Prepared(instance)
    resolve_pins(prep)
    relaxation = flow_bound(prep)
    bound = LagrangianBound(prep)
    bound.set_prices(np.array(relaxation.person_prices), np.array(relaxation.line_prices))
    seen = [bound.step(target) for _ in range(steps)]
    return relaxation.bound, bound.best, seen


def away_in_the_middle(k: Kit) -> Instance:
    # Only a fits; a is away in week 1: working weeks 0 and 2 means leaving and rejoining (2 churn events).
    return k.make(
        [
            k.person(
                "a", {"python": 3}, cost_rate=60, time_off=[TimeOff(start=date(2025, 3, 10), end=date(2025, 3, 14))]
            )
        ],
        [k.project("P", bill_rate=120)],
        [k.line("d0", "P", 0, 16, "python"), k.line("d1", "P", 1, 16, "python"), k.line("d2", "P", 2, 16, "python")],
        weeks=3,
        weights=Weights(churn_per_change=500),
    )


def random_tiny(seed: int, k: Kit) -> Instance:
    rng = random.Random(seed)
    people = [
        k.person(
            name,
            {rng.choice(["py", "ml"]): rng.randint(1, 3)},
            cost_rate=rng.choice([40, 70, 110]),
            weekly_capacity_hours=rng.choice([8, 16]),
            utilization_target=rng.choice([0.5, 1.0]),
            max_concurrent_projects=rng.choice([None, 1]),
        )
        for name in ("a", "b")
    ]
    projects = [k.project(p, bill_rate=rng.choice([90, 150]), existing_team=rng.choice([[], ["a"]])) for p in "PQ"]
    lines = [
        k.line(f"{p}{w}", p, w, rng.choice([4, 8]), rng.choice(["py", "ml"]), rng.randint(1, 2))
        for p in "PQ"
        for w in range(2)
        if rng.random() < 0.85
    ]
    return k.make(
        people,
        projects,
        lines,
        weeks=2,
        rules=Rules(block_hours=4, min_hours=rng.choice([4, 8]), max_projects_per_week=rng.choice([1, 2])),
        weights=Weights(churn_per_change=rng.choice([100, 600])),
    )


@pytest.mark.parametrize("name", sorted(CASES))
def test_bound_is_never_below_the_brute_force_optimum(name: str, kit: Kit) -> None:
    instance = CASES[name](kit)
    best, _ = kit.brute_force(instance)
    flow, lagr, seen = lagrangian(instance, target=best)
    assert min(seen) == pytest.approx(lagr)
    assert all(b >= best - 1e-6 for b in seen)  # every step is a valid bound, not just the last
    assert lagr <= flow + 1e-3  # the flow bound is the start; only float slack above it


@pytest.mark.parametrize("seed", range(12))
def test_bound_is_valid_on_random_tiny_instances(seed: int, kit: Kit) -> None:
    instance = random_tiny(seed, kit)
    best, _ = kit.brute_force(instance)
    flow, lagr, seen = lagrangian(instance, steps=150, target=best - 50)
    assert all(b >= best - 1e-6 for b in seen)
    assert best - 1e-6 <= lagr <= flow + 1e-3


def test_bound_sees_churn_that_no_plan_avoids(kit: Kit) -> None:
    instance = away_in_the_middle(kit)
    best, allocations = kit.brute_force(instance)
    flow, lagr, _ = lagrangian(instance)
    # The flow bound counts weeks 0 and 2 in full; any plan working both pays 2 × 500 churn.
    assert {a.week for a in allocations} == {0, 2}
    assert flow - lagr == pytest.approx(1000, abs=1e-3)
    assert lagr == pytest.approx(best, abs=1e-3)  # one person: the chain is solved exactly


def test_solver_reports_the_tighter_lagrangian_bound_on_a_generated_instance() -> None:
    instance = generate(40, 16, 8, seed=7)
    plan = solve(instance, SolveOptions(time_limit_s=3, decompose="always", neighbourhood_pairs=1500))
    prep = Prepared(instance)
    resolve_pins(prep)
    assert plan.stats.bound_source == "lagrangian"
    assert plan.bound < flow_bound(prep).bound
    assert plan.bound >= plan.objective
    assert check_plan(instance, plan).ok


def test_disabled_lagrangian_falls_back_to_the_flow_bound() -> None:
    instance = generate(40, 16, 8, seed=7)
    plan = solve(instance, SolveOptions(time_limit_s=2, decompose="always", lagrangian_share=0))
    assert plan.stats.bound_source == "flow relaxation"


def test_steps_never_raise_the_reported_bound(kit: Kit) -> None:
    _, lagr, seen = lagrangian(generate(20, 8, 6, seed=2), steps=60)
    assert lagr == pytest.approx(min(seen))
    assert all(b >= lagr - 1e-9 for b in itertools.chain(seen))


def test_progress_reports_plain_numbers_that_serialise() -> None:
    import msgspec

    from scheduling import Progress

    seen: list[Progress] = []
    solve(generate(30, 12, 6, seed=4), SolveOptions(time_limit_s=2, decompose="always"), seen.append)
    assert any(p.phase == "lagrangian" for p in seen)
    for p in seen:
        assert all(type(v) in (float, type(None)) for v in (p.best_objective, p.bound, p.gap))
        msgspec.json.encode(p)
