"""Internal work (bill rate 0) is staffed when a demand line is ``required`` or carries its own value
(issue 19, item 6: priority only multiplies revenue, so 0 × any priority left internal projects empty)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import msgspec

from scheduling import SolveOptions, check_plan, solve, validate_instance

if TYPE_CHECKING:
    from conftest import Kit

    from scheduling import Instance

FAST = SolveOptions(time_limit_s=5)


def one_person_two_projects(kit: Kit, **internal_line: object) -> Instance:
    # Ada has 40 h; the client project wants all of them, the internal one 16 h.
    client = kit.line("c", "CLIENT", 0, 40, "go")
    internal = msgspec.structs.replace(kit.line("i", "INTERNAL", 0, 16, "go"), **internal_line)
    return kit.make(
        [kit.person("ada", {"go": 3}, cost_rate=50)],
        [kit.project("CLIENT", bill_rate=150), kit.project("INTERNAL", bill_rate=0, priority=1)],
        [client, internal],
        weeks=1,
    )


def hours_on(plan: object, project: str) -> float:
    return sum(a.hours for a in plan.allocations if a.project_id == project)  # type: ignore[attr-defined]


def test_internal_work_at_bill_rate_zero_stays_empty_even_at_top_priority(kit: Kit) -> None:
    plan = solve(one_person_two_projects(kit), FAST)
    assert (hours_on(plan, "CLIENT"), hours_on(plan, "INTERNAL")) == (40, 0)
    assert next(u for u in plan.unmet if u.demand_id == "i").unmet_hours == 16


def test_a_required_internal_line_is_staffed_before_paid_work(kit: Kit) -> None:
    instance = one_person_two_projects(kit, required=True)
    plan = solve(instance, FAST)
    assert (hours_on(plan, "CLIENT"), hours_on(plan, "INTERNAL")) == (24, 16)
    assert [u.demand_id for u in plan.unmet] == ["c"]
    report = check_plan(instance, plan)
    assert report.ok, report.violations  # the independent checker values the required hours the same way


def test_an_explicit_value_per_hour_competes_with_bill_rates(kit: Kit) -> None:
    # Worth 200/h × 2.0 (priority 1) against the client's 150/h × 1.2 (priority 3): internal first.
    instance = one_person_two_projects(kit, value_per_hour=200.0)
    plan = solve(instance, FAST)
    assert (hours_on(plan, "CLIENT"), hours_on(plan, "INTERNAL")) == (24, 16)
    assert plan.breakdown.revenue == 24 * 150 * 1.2 + 16 * 200 * 2.0
    assert check_plan(instance, plan).ok
    # A low value loses to the client's rate.
    cheap = solve(one_person_two_projects(kit, value_per_hour=10.0), FAST)
    assert (hours_on(cheap, "CLIENT"), hours_on(cheap, "INTERNAL")) == (40, 0)


def test_a_value_per_hour_out_of_bounds_is_refused(kit: Kit) -> None:
    assert validate_instance(one_person_two_projects(kit, value_per_hour=-1.0)) == [
        "demand 'i': value_per_hour must be within 0..1e+06"
    ]
