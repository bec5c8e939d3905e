"""The team search moves memberships (who is on which project when) and re-sizes hours by min-cost flows:
it removes avoidable churn, keeps its running value equal to the objective, never makes a plan worse,
keeps plans valid and leaves must pins in place."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

import pytest

from scheduling import Pin, generate
from scheduling.construct import construct
from scheduling.objective import evaluate
from scheduling.pins import resolve_pins
from scheduling.prepared import Prepared
from scheduling.teams import TeamSearch

if TYPE_CHECKING:
    from conftest import Kit


def test_a_one_week_stand_in_is_replaced_by_the_member_who_was_away(kit: Kit) -> None:
    instance = kit.make(
        [kit.person("a", {"python": 3}, cost_rate=50), kit.person("b", {"python": 3}, cost_rate=50)],
        [kit.project("P", bill_rate=150)],
        [kit.line(f"d{w}", "P", w, 16, "python") for w in range(4)],
        weeks=4,
    )
    prep = Prepared(instance)
    resolve_pins(prep)
    # a works weeks 0, 1 and 3; b stands in for week 2: a leaves and rejoins, b joins and leaves.
    stand_in = {(0, 0): 4, (0, 1): 4, (1, 2): 4, (0, 3): 4}
    before = evaluate(prep, stand_in)
    search = TeamSearch(prep, stand_in)
    improved = search.run(time.monotonic() + 5)
    after = evaluate(prep, improved)
    assert (before.churn_events, after.churn_events) == (4, 0)
    assert after.objective == pytest.approx(before.objective + 4 * instance.weights.churn_per_change)
    assert improved == {(0, 0): 4, (0, 1): 4, (0, 2): 4, (0, 3): 4}
    assert search.moves >= 1


def test_reflow_lets_a_member_flex_down_instead_of_a_second_person_joining(kit: Kit) -> None:
    # Two projects share one person; P needs 24 h in week 1 only. Rather than keeping "b" on P for one
    # week (two churn events), the flow re-sizes a's hours: the plan keeps the same revenue with a alone.
    instance = kit.make(
        [kit.person("a", {"go": 2}, cost_rate=40), kit.person("b", {"go": 2}, cost_rate=40)],
        [kit.project("P", bill_rate=150)],
        [kit.line("d0", "P", 0, 16, "go"), kit.line("d1", "P", 1, 24, "go"), kit.line("d2", "P", 2, 16, "go")],
        weeks=3,
    )
    prep = Prepared(instance)
    resolve_pins(prep)
    # a: 16, 16, 16; b: 8 h in week 1 only (joins and leaves).
    split = {(0, 0): 4, (0, 1): 4, (1, 1): 2, (0, 2): 4}
    before = evaluate(prep, split)
    after_plan = TeamSearch(prep, split).run(time.monotonic() + 5)
    after = evaluate(prep, after_plan)
    assert before.churn_events == 2
    assert after.churn_events == 0
    assert {p for p, _ in after_plan} == {0}
    assert after_plan[(0, 1)] == 6  # a takes the whole 24 h of week 1
    assert after.objective > before.objective


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_team_search_never_worsens_a_constructed_plan_and_keeps_it_valid(kit: Kit, seed: int) -> None:
    instance = generate(40, 16, 10, seed=seed)
    prep = Prepared(instance)
    conflicts, pins = resolve_pins(prep)
    start = construct(prep, pins)
    before = evaluate(prep, start)
    search = TeamSearch(prep, start)
    improved = search.run(time.monotonic() + 5)
    after = evaluate(prep, improved)
    assert after.objective >= before.objective - 1e-6
    assert search.value() == pytest.approx(after.objective)
    assert after.churn_events < before.churn_events
    assert kit.valid(instance, prep, improved, conflicts)


def test_must_pin_keeps_its_membership_even_when_dropping_it_would_pay(kit: Kit) -> None:
    instance = kit.make(
        [kit.person("cheap", {"go": 2}, cost_rate=30), kit.person("pricey", {"go": 2}, cost_rate=90)],
        [kit.project("P", bill_rate=150)],
        [kit.line(f"d{w}", "P", w, 16, "go") for w in range(3)],
        weeks=3,
        pins=[Pin(person_id="pricey", project_id="P", kind="must", weeks=[1])],
    )
    prep = Prepared(instance)
    conflicts, pins = resolve_pins(prep)
    assert conflicts == []
    start = construct(prep, pins)
    improved = TeamSearch(prep, start).run(time.monotonic() + 5)
    pricey = prep.person_index["pricey"]
    assert sum(blocks for (p, d), blocks in improved.items() if p == pricey and prep.line_week[d] == 1) >= 2
    assert kit.valid(instance, prep, improved, conflicts)


def test_an_expired_deadline_still_returns_the_reflowed_plan(kit: Kit) -> None:
    instance = generate(20, 8, 6, seed=4)
    prep = Prepared(instance)
    conflicts, pins = resolve_pins(prep)
    start = construct(prep, pins)
    seen: list[float] = []
    result = TeamSearch(prep, start).run(
        time.monotonic() - 1, on_pass=lambda plan: seen.append(evaluate(prep, plan).objective)
    )
    assert len(seen) == 1  # the reflow, offered before any move
    assert evaluate(prep, result).objective >= evaluate(prep, start).objective - 1e-6
    assert kit.valid(instance, prep, result, conflicts)
