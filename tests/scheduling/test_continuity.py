"""The continuity search removes avoidable churn with multi-week moves, never makes a plan worse and keeps
it valid; checkpoints hand over the best plan so far and a solve resumes from one."""

from __future__ import annotations

import itertools
import time
from typing import TYPE_CHECKING

import pytest

from scheduling import Allocation, SolveOptions, check_plan, generate, solve
from scheduling.assemble import assemble
from scheduling.construct import construct, polish
from scheduling.continuity import improve_continuity
from scheduling.objective import evaluate
from scheduling.pins import resolve_pins
from scheduling.prepared import Prepared

if TYPE_CHECKING:
    from conftest import Kit


def test_a_person_leaving_mid_project_stays_instead_of_a_newcomer(kit: Kit) -> None:
    instance = kit.make(
        [kit.person("a", {"python": 3}, cost_rate=50), kit.person("b", {"python": 3}, cost_rate=50)],
        [kit.project("P", bill_rate=150)],
        [kit.line(f"d{w}", "P", w, 8, "python") for w in range(4)],
        weeks=4,
    )
    prep = Prepared(instance)
    resolve_pins(prep)
    # a works week 0 and 1, b takes over for weeks 2 and 3: a leaves, b joins (2 churn events).
    handover = {(0, 0): 2, (0, 1): 2, (1, 2): 2, (1, 3): 2}
    before = evaluate(prep, handover)
    improved = improve_continuity(prep, handover, time.monotonic() + 5)
    after = evaluate(prep, improved)
    assert before.churn_events == 2 and after.churn_events == 0
    assert after.objective == pytest.approx(before.objective + 600)
    assert after.staffed_hours == before.staffed_hours
    assert len({p for p, _ in improved}) == 1


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_continuity_never_worsens_a_polished_plan_and_keeps_it_valid(kit: Kit, seed: int) -> None:
    instance = generate(40, 16, 10, seed=seed)
    prep = Prepared(instance)
    conflicts, pins = resolve_pins(prep)
    plan = polish(prep, construct(prep, pins), pins, time.monotonic() + 5)
    before = evaluate(prep, plan)
    improved = improve_continuity(prep, plan, time.monotonic() + 5)
    after = evaluate(prep, improved)
    assert after.objective >= before.objective - 1e-6
    assert after.churn_events <= before.churn_events
    assert kit.valid(instance, prep, improved, conflicts)


def test_checkpoints_hand_over_the_best_plan_and_a_solve_resumes_from_one(kit: Kit) -> None:
    instance = generate(40, 16, 8, seed=9)
    saved: list[tuple[list[Allocation], float]] = []
    options = SolveOptions(time_limit_s=3, checkpoint_interval_s=0.5)
    plan = solve(instance, options, checkpoint=lambda allocations, objective: saved.append((allocations, objective)))
    assert len(saved) >= 2
    objectives = [objective for _, objective in saved]
    assert all(b > a for a, b in itertools.pairwise(objectives))  # only improvements are handed over
    assert objectives[-1] <= plan.objective + 1e-6
    allocations, objective = saved[len(saved) // 2]
    prep = Prepared(instance)
    resolve_pins(prep)
    checkpoint_plan = assemble(
        prep,
        {(prep.person_index[a.person_id], prep.line_index[a.demand_id]): round(a.hours / 4) for a in allocations},
        1e12,
        "completed",
        [],
        kit.no_stats,
    )
    assert checkpoint_plan.objective == pytest.approx(objective)
    assert check_plan(instance, checkpoint_plan).ok
    resumed = solve(instance, SolveOptions(time_limit_s=1, polish_share=0, lagrangian_share=0), start_from=allocations)
    assert resumed.objective >= objective - 1e-6
    assert check_plan(instance, resumed).ok
