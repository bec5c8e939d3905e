"""Weekly capacity after explicit time off and public holidays (model side)."""

from __future__ import annotations

from datetime import date, timedelta
from functools import lru_cache

import holidays

from scheduling.instance import Instance, Person


@lru_cache(maxsize=256)
def _public_holidays(country: str, subdivision: str | None, years: tuple[int, ...]) -> frozenset[date]:
    return frozenset(holidays.country_holidays(country, subdiv=subdivision, years=list(years)).keys())


def week_start(instance: Instance, week: int) -> date:
    return instance.start + timedelta(days=7 * week)


def working_dates(instance: Instance, week: int) -> list[date]:
    first = week_start(instance, week)
    return [first + timedelta(days=i) for i in range(instance.rules.working_days)]


def _horizon_years(instance: Instance) -> tuple[int, ...]:
    last = week_start(instance, instance.weeks)
    return tuple(range(instance.start.year, last.year + 1))


def days_off(instance: Instance, person: Person, week: int) -> tuple[int, int]:
    """(public holidays, other time-off days) among the person's working days of ``week``."""
    public = (
        _public_holidays(person.country, person.subdivision, _horizon_years(instance))
        if person.country
        else frozenset()
    )
    n_public = n_other = 0
    for day in working_dates(instance, week):
        if day in public:
            n_public += 1
        elif any(off.start <= day <= off.end for off in person.time_off):
            n_other += 1
    return n_public, n_other


def weekly_capacity(instance: Instance, person: Person) -> list[float]:
    """Hours available per week: the weekly capacity pro rata over the working days not off."""
    per_day = person.weekly_capacity_hours / instance.rules.working_days
    result: list[float] = []
    for week in range(instance.weeks):
        n_public, n_other = days_off(instance, person, week)
        result.append(per_day * (instance.rules.working_days - n_public - n_other))
    return result
