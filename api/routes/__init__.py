"""Every versioned route, collected in one list the app mounts under ``/v1``."""

from __future__ import annotations

from typing import Any

from api.routes import (
    api_keys,
    audit,
    budgets,
    clients,
    expenses,
    memberships,
    milestones,
    org,
    people,
    phases,
    project_members,
    projects,
    rates,
    reports,
    sites,
    tasks,
    time_entries,
    timesheets,
)

V1_ROUTES: list[Any] = [
    *org.ROUTES,
    *clients.ROUTES,
    *sites.ROUTES,
    *projects.ROUTES,
    *people.ROUTES,
    *memberships.ROUTES,
    *api_keys.ROUTES,
    *audit.ROUTES,
    *phases.ROUTES,
    *project_members.ROUTES,
    *tasks.ROUTES,
    *milestones.ROUTES,
    *budgets.ROUTES,
    *rates.ROUTES,
    *time_entries.ROUTES,
    *timesheets.ROUTES,
    *expenses.ROUTES,
    *reports.ROUTES,
]
