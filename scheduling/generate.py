"""Synthetic instances for benchmarks, examples and tests (deterministic per seed).

Shape: people with 1-3 skills, projects with 1-5 roles over a contiguous run of weeks; each role's
demand is piecewise constant (at most one ramp up or down), split into seats (demand lines) of at
most 40 h, and scaled so that total demand is ``load`` × total capacity at target utilization
(over-subscribed by default, so the solver has real trade-offs to make). Holidays from several
countries, time off, tentative projects, named demand, existing teams and a few pins.
"""

from __future__ import annotations

import random
from datetime import date, timedelta

from scheduling.instance import Demand, Instance, Person, Pin, Project, Rules, TimeOff, Weights

SKILLS = [
    "python", "typescript", "react", "ml", "data-eng", "devops",
    "design", "pm", "qa", "mobile", "llm", "cloud",
]  # fmt: skip
COUNTRIES = ["US", "GB", "DE", "FR", "NL", "ES", "PL", "IN"]
DEFAULT_START = date(2025, 3, 3)


def generate(
    n_people: int,
    n_projects: int,
    n_weeks: int,
    *,
    seed: int = 0,
    load: float = 1.15,
    start: date = DEFAULT_START,
    pins: int | None = None,
) -> Instance:
    rng = random.Random(seed)
    skill_weight = [rng.uniform(0.4, 1.6) for _ in SKILLS]
    people: list[Person] = []
    for i in range(n_people):
        n_skills = rng.choice([1, 2, 2, 3])
        chosen = rng.sample(range(len(SKILLS)), n_skills)
        skills = {SKILLS[k]: rng.choice([1, 2, 2, 3, 3, 3, 4, 4, 5]) for k in chosen}
        level = max(skills.values())
        time_off: list[TimeOff] = []
        for _ in range(rng.choice([0, 0, 1, 1, 2])):
            off_start = start + timedelta(days=rng.randrange(7 * n_weeks))
            off_end = off_start + timedelta(days=rng.choice([0, 1, 3, 4, 6, 11]))
            time_off.append(TimeOff(start=off_start, end=off_end))
        people.append(
            Person(
                id=f"u{i:04d}",
                name=f"Person {i}",
                skills=skills,
                weekly_capacity_hours=rng.choice([40.0] * 8 + [32.0, 24.0]),
                country=rng.choice(COUNTRIES),
                time_off=time_off,
                cost_rate=round(35 + 12 * level + rng.uniform(-8, 8), 2),
                utilization_target=rng.choice([0.75, 0.8, 0.85, 0.9]),
                max_concurrent_projects=rng.choice([None, None, 2, 3]),
            )
        )

    raw: list[tuple[int, int, str, int, float]] = []  # project, week, skill, level, hours
    projects: list[Project] = []
    for j in range(n_projects):
        length = rng.randint(max(2, n_weeks // 3), n_weeks)
        first = rng.randint(0, n_weeks - length)
        tentative = rng.random() < 0.25
        team_size = rng.randint(1, 5)
        roles = [
            (
                SKILLS[rng.choices(range(len(SKILLS)), weights=skill_weight)[0]],
                rng.choice([1, 2, 2, 3, 3, 4]),
                rng.uniform(12, 40),
            )
            for _ in range(team_size)
        ]
        for skill, level, hours in roles:
            # Each role runs at a constant level with at most one ramp (up or down) mid-project.
            ramp_at = rng.randint(first + 1, first + length - 1) if length > 2 and rng.random() < 0.4 else None
            ramp = rng.choice([0.5, 1.5])
            for w in range(first, first + length):
                factor = ramp if ramp_at is not None and w >= ramp_at else 1.0
                raw.append((j, w, skill, level, hours * factor))
        projects.append(
            Project(
                id=f"p{j:03d}",
                name=f"Project {j}",
                priority=rng.choice([1, 2, 3, 3, 4, 4, 5]),
                bill_rate=float(rng.choice(range(110, 230, 10))),
                tentative=tentative,
                probability=round(rng.uniform(0.3, 0.8), 2) if tentative else 1.0,
            )
        )

    capacity = sum(p.weekly_capacity_hours * p.utilization_target for p in people) * n_weeks
    scale = load * capacity / max(1.0, sum(r[4] for r in raw))
    block = 4.0
    demand: list[Demand] = []
    for j, w, skill, level, hours in raw:
        blocks = max(1, round(hours * scale / block))
        # A demand line is one seat (placeholder) of at most a full-time week.
        seats = -(-blocks // 10)
        for k in range(seats):
            seat_blocks = blocks // seats + (1 if k < blocks % seats else 0)
            demand.append(
                Demand(
                    id=f"d{len(demand):05d}",
                    project_id=projects[j].id,
                    week=w,
                    hours=seat_blocks * block,
                    role=f"{skill} L{level}+" + (f" #{k + 1}" if seats > 1 else ""),
                    skill=skill,
                    min_level=level,
                )
            )

    # Named demand: some projects want a specific person for a few weeks.
    for j in rng.sample(range(n_projects), max(1, n_projects // 10)):
        weeks = sorted({d.week for d in demand if d.project_id == projects[j].id})
        person = rng.choice(people)
        for w in weeks[: rng.randint(1, 4)]:
            demand.append(
                Demand(
                    id=f"d{len(demand):05d}",
                    project_id=projects[j].id,
                    week=w,
                    hours=float(rng.choice([8, 12, 16])),
                    role="named",
                    person_id=person.id,
                )
            )

    # Existing teams for projects running from week 0: people who fit one of their roles.
    for j, project in enumerate(projects):
        first_lines = [d for d in demand if d.project_id == project.id and d.week == 0 and d.skill]
        if not first_lines:
            continue
        team: list[str] = []
        for line in first_lines:
            fitting = [p.id for p in people if p.skills.get(line.skill or "", 0) >= line.min_level]
            if fitting and rng.random() < 0.7:
                team.append(rng.choice(fitting))
        projects[j] = Project(
            id=project.id,
            name=project.name,
            priority=project.priority,
            bill_rate=project.bill_rate,
            tentative=project.tentative,
            probability=project.probability,
            existing_team=sorted(set(team)),
        )

    pin_list: list[Pin] = []
    n_pins = max(1, n_projects // 20) if pins is None else pins
    for _ in range(n_pins):
        line = rng.choice([d for d in demand if d.skill])
        can_pin = [p for p in people if p.skills.get(line.skill or "", 0) >= line.min_level]
        if can_pin:
            pin_list.append(
                Pin(person_id=rng.choice(can_pin).id, project_id=line.project_id, kind="must", weeks=[line.week])
            )
        pin_list.append(Pin(person_id=rng.choice(people).id, project_id=line.project_id, kind="must_not"))

    return Instance(
        name=f"generated-{n_people}x{n_projects}x{n_weeks}-s{seed}",
        start=start,
        weeks=n_weeks,
        people=people,
        projects=projects,
        demand=demand,
        pins=pin_list,
        rules=Rules(block_hours=block, min_hours=8.0, max_projects_per_week=3),
        weights=Weights(),
    )
