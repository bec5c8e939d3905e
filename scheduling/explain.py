"""Why demand stayed unstaffed: one primary reason per unmet demand line, with details.

For the people who fit the line (skill and level, or the named person) the week's situation is
classified, and the first matching reason wins:

1. ``no_skill``      nobody in the instance fits the skill and level;
2. ``pin_conflict``  everyone who fits is excluded by a must-not pin, or has their capacity taken by
                     must-pinned work;
3. ``time_off``      everyone who fits and is not pinned out is away (time off / public holidays
                     leave less than the minimum hours), or the hours they lost to time off would
                     have covered the gap while they are booked on this project or lost a quarter
                     of their week;
4. ``capacity_taken_by_higher_priority`` / ``capacity_taken``  the available people who fit are
                     fully booked, mostly by projects of higher priority (or not);
5. ``rule_limit``    people have free hours but the rules forbid using them (projects-per-week
                     limit, or less than the minimum hours left on the line / person);
6. ``not_profitable`` the free hours would cost more than the line earns (e.g. a low-probability
                     tentative project staffed by expensive people);
7. ``not_chosen``    staffing was possible and profitable per hour, but the plan preferred
                     otherwise (churn / utilization penalties, or the solver's time limit).
"""

from __future__ import annotations

from collections import defaultdict

from scheduling.greedy import utilization_value
from scheduling.plan import UnmetDemand, UnmetReason
from scheduling.prepared import Assignment, Prepared


def explain_unmet(prep: Prepared, assignment: Assignment) -> list[UnmetDemand]:
    bh = prep.block_hours
    staffed: dict[int, int] = defaultdict(int)
    used: dict[tuple[int, int], int] = defaultdict(int)
    hours_on: dict[tuple[int, int], dict[int, int]] = defaultdict(lambda: defaultdict(int))
    projects_of: dict[tuple[int, int], set[int]] = defaultdict(set)
    for (p, d), blocks in assignment.items():
        w, j = prep.line_week[d], prep.line_project[d]
        staffed[d] += blocks
        used[(p, w)] += blocks
        hours_on[(p, w)][j] += blocks
        projects_of[(p, w)].add(j)
    result: list[UnmetDemand] = []
    for d, line in enumerate(prep.lines):
        missing = prep.line_blocks[d] - staffed[d]
        if missing <= 0:
            continue
        j, w = prep.line_project[d], prep.line_week[d]
        project = prep.projects[j]
        qualified = prep.qualified[d]
        what = f"{line.person_id}" if line.person_id else f"{line.skill} ≥ L{line.min_level}"
        reason: UnmetReason
        blocking: list[str] = []
        if not qualified:
            reason, detail = "no_skill", f"nobody has {what}"
        else:
            pinned_out, away, short, busy, limited, free = [], [], [], [], [], []
            for q in qualified:
                on = j in projects_of[(q, w)]
                left = prep.cap_blocks[q][w] - used[(q, w)]
                if (q, j, w) in prep.must_not:
                    pinned_out.append(q)
                elif int(prep.people[q].weekly_capacity_hours / bh + 1e-9) < prep.min_blocks:
                    short.append(q)  # below the minimum even in a full week: a rule, not time off
                elif prep.cap_blocks[q][w] < prep.min_blocks:
                    away.append(q)
                elif left < (1 if on else prep.min_blocks):
                    busy.append(q)
                elif not on and len(projects_of[(q, w)]) >= prep.max_projects[q]:
                    limited.append(q)
                else:
                    free.append(q)
            n = len(qualified)
            if len(pinned_out) == n:
                reason, detail = "pin_conflict", f"all {n} people with {what} are pinned off {project.id}"
            elif not free and not busy and not limited and not away:
                reason = "rule_limit"
                detail = (
                    f"all {len(short)} people with {what} have less capacity a week than the "
                    f"{prep.min_blocks * bh:g} h minimum per person and project"
                ) + (f", {len(pinned_out)} pinned off" if pinned_out else "")
            elif not free and not busy and not limited:
                reason = "time_off"
                detail = f"{len(away)} of {n} people with {what} are away in week {w}" + (
                    f", {len(pinned_out)} pinned off" if pinned_out else ""
                ) + (f", {len(short)} below the {prep.min_blocks * bh:g} h minimum" if short else "")
            elif not free and busy:
                holders: dict[int, int] = defaultdict(int)
                for q in busy:
                    for other, blocks in hours_on[(q, w)].items():
                        holders[other] += blocks
                pinned_hours = sum(
                    blocks for q in busy for other, blocks in hours_on[(q, w)].items() if (q, other, w) in prep.must
                )
                total = sum(holders.values())
                higher = sum(b for other, b in holders.items() if prep.projects[other].priority < project.priority)
                ranked = sorted(holders, key=lambda o: (-holders[o], o))
                blocking = [prep.projects[o].id for o in ranked[:5]]
                booked = f"{len(busy)} of {n} people with {what} are fully booked in week {w}"
                base = sum(int(prep.people[q].weekly_capacity_hours / bh + 1e-9) for q in busy + away)
                lost = base - sum(prep.cap_blocks[q][w] for q in busy + away)
                # Time off is the reason when the lost hours would cover the gap and either the people
                # are booked on this very project or a large share (>= 25 %) of their week is gone.
                if lost >= missing and (2 * holders.get(j, 0) > total or 4 * lost >= base):
                    reason = "time_off"
                    detail = booked + f" after losing {lost * bh:g} h to time off and public holidays"
                elif total and pinned_hours * 2 > total:
                    reason = "pin_conflict"
                    detail = booked + " mostly by must-pinned work"
                elif total and higher * 2 > total:
                    reason = "capacity_taken_by_higher_priority"
                    detail = booked + f", mostly by higher-priority projects ({', '.join(blocking)})"
                else:
                    reason = "capacity_taken"
                    detail = booked + f" by {', '.join(blocking)} (same or lower priority, higher value)"
                if away:
                    detail += f"; {len(away)} away"
            elif not free:
                reason = "rule_limit"
                detail = f"{len(limited)} people with {what} already work on {prep.max_projects[limited[0]]} projects"
            else:
                room = [
                    q
                    for q in free
                    if j in projects_of[(q, w)] or min(missing, prep.cap_blocks[q][w] - used[(q, w)]) >= prep.min_blocks
                ]
                if not room:
                    reason = "rule_limit"
                    detail = f"{missing * bh:g} h left is below the {prep.min_blocks * bh:g} h minimum for a new person"
                else:
                    gains = [
                        prep.block_value(q, d)
                        + utilization_value(prep, q, w, used[(q, w)] + 1)
                        - utilization_value(prep, q, w, used[(q, w)])
                        for q in room
                    ]
                    if max(gains) <= 0:
                        reason = "not_profitable"
                        detail = f"{len(room)} people with {what} are free but cost more than the line earns"
                    else:
                        reason = "not_chosen"
                        detail = (
                            f"{len(room)} people with {what} have free hours; the plan preferred otherwise "
                            "(churn or utilization trade-off, or the time limit)"
                        )
        result.append(
            UnmetDemand(
                demand_id=line.id,
                project_id=project.id,
                week=w,
                role=line.role,
                skill=line.skill,
                person_id=line.person_id,
                demand_hours=line.hours,
                staffed_hours=staffed[d] * bh,
                unmet_hours=missing * bh,
                reason=reason,
                detail=detail,
                blocking_projects=blocking,
            )
        )
    return result
