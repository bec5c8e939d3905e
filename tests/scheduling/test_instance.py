"""Instance decoding, validation and capacity after holidays and time off."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING

import msgspec
import pytest

from scheduling import (
    InstanceError,
    Rules,
    SolveOptions,
    TimeOff,
    dump_instance,
    load_instance,
    solve,
    validate_instance,
)
from scheduling.calendar import weekly_capacity

if TYPE_CHECKING:
    from conftest import Kit

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "capacity"


def test_examples_round_trip_through_json() -> None:
    for name in ("small.json", "medium.json"):
        raw = (EXAMPLES / name).read_bytes()
        instance = load_instance(raw)
        assert validate_instance(instance) == []
        assert load_instance(dump_instance(instance)) == instance


def test_unknown_fields_are_rejected() -> None:
    raw = (EXAMPLES / "small.json").read_bytes().replace(b'"weeks"', b'"wekes"', 1)
    with pytest.raises(msgspec.ValidationError):
        load_instance(raw)


def test_validation_lists_every_problem(kit: Kit) -> None:
    instance = kit.make(
        [kit.person("a", {"go": 7}, country="XX"), kit.person("a")],
        [kit.project("P", priority=9)],
        [kit.line("d", "P", 5, 10, "go"), kit.line("e", "Q", 0, 8), kit.line("f", "P", 0, 8, who="zed")],
        start=date(2025, 3, 4),
        rules=Rules(block_hours=4),
    )
    errors = validate_instance(instance)
    expected = [
        "start 2025-03-04 is not a Monday",
        "duplicate person id 'a'",
        "person 'a': level of 'go' must be within 1..5",
        "person 'a': unknown holiday country 'XX'",
        "project 'P': priority 9 has no multiplier in weights",
        "demand 'd': week 5 outside 0..1",
        "demand 'd': 10 h is not a multiple of the 4 h block",
        "demand 'e': unknown project 'Q'",
        "demand 'e': needs a skill (placeholder) or a person_id (named)",
        "demand 'f': unknown person 'zed'",
    ]
    for message in expected:
        assert message in errors
    with pytest.raises(InstanceError) as info:
        solve(instance, SolveOptions(time_limit_s=1))
    assert info.value.errors == errors


def test_capacity_drops_for_public_holidays_and_time_off(kit: Kit) -> None:
    # Weeks from 2025-12-22: Christmas (25th) and Boxing Day (26th) in GB; New Year's Day in week 1.
    instance = kit.make(
        [
            kit.person("gb", country="GB"),
            kit.person("off", time_off=[TimeOff(start=date(2025, 12, 29), end=date(2025, 12, 30))]),
            kit.person("part", weekly_capacity_hours=20),
        ],
        [kit.project("P")],
        [],
        weeks=2,
        start=date(2025, 12, 22),
    )
    assert weekly_capacity(instance, instance.people[0]) == [24.0, 32.0]
    assert weekly_capacity(instance, instance.people[1]) == [40.0, 24.0]
    assert weekly_capacity(instance, instance.people[2]) == [20.0, 20.0]


def test_solver_respects_holiday_capacity(kit: Kit) -> None:
    instance = kit.make(
        [kit.person("b", {"python": 2}, country="DE", cost_rate=40, utilization_target=1.0)],
        [kit.project("P", bill_rate=150)],
        [kit.line("p0", "P", 0, 40, "python")],
        weeks=1,
        start=date(2025, 4, 14),  # Good Friday week
    )
    plan = solve(instance, SolveOptions(time_limit_s=5))
    assert [(a.person_id, a.hours) for a in plan.allocations] == [("b", 32.0)]
    [unmet] = plan.unmet
    assert (unmet.unmet_hours, unmet.reason) == (8, "time_off")
    assert "losing 8 h to time off and public holidays" in unmet.detail


def test_a_demand_naming_both_a_skill_and_a_person_is_refused(kit: Kit) -> None:
    instance = kit.make(
        [kit.person("a", {"go": 3})], [kit.project("P", bill_rate=100)], [kit.line("d", "P", 0, 8, "go", who="a")]
    )
    assert validate_instance(instance) == [
        "demand 'd': give either a skill (placeholder) or a person_id (named), not both"
    ]


@pytest.mark.parametrize("hours", [1e12, 168.5, float("inf"), float("nan")])
def test_an_impossible_weekly_capacity_is_refused_with_its_bounds(kit: Kit, hours: float) -> None:
    instance = kit.make(
        [kit.person("a", {"go": 3}, weekly_capacity_hours=hours)],
        [kit.project("P", bill_rate=100)],
        [kit.line("d", "P", 0, 8, "go")],
    )
    with pytest.raises(InstanceError) as info:
        solve(instance, SolveOptions(time_limit_s=1))
    assert info.value.errors == ["person 'a': weekly_capacity_hours must be within 0..168"]


def test_rates_beyond_the_documented_bound_are_refused(kit: Kit) -> None:
    instance = kit.make(
        [kit.person("a", {"go": 3}, cost_rate=1e9)],
        [kit.project("P", bill_rate=float("inf"))],
        [kit.line("d", "P", 0, 8, "go")],
    )
    assert validate_instance(instance) == [
        "person 'a': cost_rate must be within 0..1e+06",
        "project 'P': bill_rate must be within 0..1e+06",
    ]
