"""Every versioned route, collected in one list the app mounts under ``/v1``."""

from __future__ import annotations

from typing import Any

from api.routes import api_keys, audit, clients, memberships, org, people, projects, sites

V1_ROUTES: list[Any] = [
    *org.ROUTES,
    *clients.ROUTES,
    *sites.ROUTES,
    *projects.ROUTES,
    *people.ROUTES,
    *memberships.ROUTES,
    *api_keys.ROUTES,
    *audit.ROUTES,
]
