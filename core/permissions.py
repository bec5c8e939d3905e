"""Who may do what: the one role-permission table of the product.

Every API handler names exactly one action from this table; the table is the whole truth, so the role
matrix test can read it and check every role against every action without a second source.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Final


class Role(StrEnum):
    OWNER = "owner"
    ADMIN = "admin"
    FINANCE = "finance"
    DELIVERY_LEAD = "delivery_lead"
    PM = "pm"
    STAFF = "staff"
    CLIENT_VIEWER = "client_viewer"


class Scope(StrEnum):
    """What an API key may be used for, on top of its role: an ingest key cannot read invoices."""

    READ = "read"
    WRITE = "write"
    EVENTS_WRITE = "events:write"


ALL_ROLES: Final = frozenset(Role)
MANAGERS: Final = frozenset({Role.OWNER, Role.ADMIN})
FINANCE: Final = frozenset({Role.OWNER, Role.ADMIN, Role.FINANCE})
DELIVERY: Final = frozenset({Role.OWNER, Role.ADMIN, Role.DELIVERY_LEAD})
PROJECT_EDITORS: Final = frozenset({Role.OWNER, Role.ADMIN, Role.DELIVERY_LEAD, Role.PM})
INTERNAL: Final = ALL_ROLES - {Role.CLIENT_VIEWER}

# action -> (roles allowed, scope the key needs)
PERMISSIONS: Final[dict[str, tuple[frozenset[Role], Scope]]] = {
    # organisation and identity
    "org.read": (ALL_ROLES, Scope.READ),
    "org.write": (MANAGERS, Scope.WRITE),
    "memberships.read": (MANAGERS, Scope.READ),
    "memberships.write": (MANAGERS, Scope.WRITE),
    "api_keys.read": (MANAGERS, Scope.READ),
    "api_keys.write": (MANAGERS, Scope.WRITE),
    "audit.read": (FINANCE, Scope.READ),
    # one's own sign-in: sessions, second factor (browser sessions only; API keys get 403 in the handler)
    "account.read": (ALL_ROLES, Scope.READ),
    "account.write": (ALL_ROLES, Scope.WRITE),
    # clients, sites, projects, people
    "clients.read": (ALL_ROLES, Scope.READ),
    "clients.write": (FINANCE | {Role.DELIVERY_LEAD}, Scope.WRITE),
    "sites.read": (ALL_ROLES, Scope.READ),
    "sites.write": (FINANCE | {Role.DELIVERY_LEAD}, Scope.WRITE),
    "projects.read": (ALL_ROLES, Scope.READ),
    "projects.write": (PROJECT_EDITORS, Scope.WRITE),
    "people.read": (INTERNAL, Scope.READ),
    "people.write": (MANAGERS | {Role.DELIVERY_LEAD}, Scope.WRITE),
    # metering
    "meters.read": (INTERNAL, Scope.READ),
    "meters.write": (FINANCE | {Role.DELIVERY_LEAD}, Scope.WRITE),
    "events.write": (MANAGERS | {Role.DELIVERY_LEAD, Role.FINANCE}, Scope.EVENTS_WRITE),
    "usage.read": (ALL_ROLES, Scope.READ),
    "budgets.read": (FINANCE | {Role.DELIVERY_LEAD, Role.PM}, Scope.READ),
    "budgets.write": (FINANCE, Scope.WRITE),
    "webhooks.read": (FINANCE, Scope.READ),
    "webhooks.write": (FINANCE, Scope.WRITE),
    # contracts, invoices, ledger
    "contracts.read": (FINANCE | {Role.DELIVERY_LEAD, Role.PM}, Scope.READ),
    "contracts.write": (FINANCE, Scope.WRITE),
    "contracts.simulate": (FINANCE, Scope.READ),
    "invoices.read": (FINANCE | {Role.CLIENT_VIEWER}, Scope.READ),
    "invoices.approve": (frozenset({Role.FINANCE, Role.OWNER}), Scope.WRITE),
    "invoices.adjust": (frozenset({Role.FINANCE, Role.OWNER}), Scope.WRITE),
    "credit_notes.write": (frozenset({Role.FINANCE, Role.OWNER}), Scope.WRITE),
    "invoices.collect": (FINANCE, Scope.WRITE),
    "invoices.void": (frozenset({Role.FINANCE, Role.OWNER}), Scope.WRITE),
    "collections.read": (FINANCE, Scope.READ),
    "collections.write": (FINANCE, Scope.WRITE),
    "ledger.read": (FINANCE, Scope.READ),
    "ledger.retry": (FINANCE, Scope.WRITE),
    # projects, time, expenses, reports
    "tasks.read": (ALL_ROLES - {Role.CLIENT_VIEWER}, Scope.READ),
    "tasks.write": (PROJECT_EDITORS, Scope.WRITE),
    "milestones.read": (ALL_ROLES, Scope.READ),
    "milestones.write": (PROJECT_EDITORS, Scope.WRITE),
    "milestones.accept": (PROJECT_EDITORS | {Role.FINANCE, Role.CLIENT_VIEWER}, Scope.WRITE),
    "budget.read": (PROJECT_EDITORS | {Role.FINANCE}, Scope.READ),
    "budget.write": (PROJECT_EDITORS | {Role.FINANCE}, Scope.WRITE),
    "time.read_own": (INTERNAL, Scope.READ),
    "time.write_own": (INTERNAL, Scope.WRITE),
    "time.read_all": (PROJECT_EDITORS | {Role.FINANCE}, Scope.READ),
    "time.write_all": (PROJECT_EDITORS, Scope.WRITE),
    "time.import": (PROJECT_EDITORS, Scope.WRITE),
    "timesheets.submit": (INTERNAL, Scope.WRITE),
    "timesheets.approve": (PROJECT_EDITORS, Scope.WRITE),
    "expenses.read": (INTERNAL, Scope.READ),
    "expenses.write": (INTERNAL, Scope.WRITE),
    "expenses.approve": (PROJECT_EDITORS | {Role.FINANCE}, Scope.WRITE),
    "reports.profitability": (FINANCE, Scope.READ),
    "reports.utilization": (FINANCE | {Role.DELIVERY_LEAD, Role.PM}, Scope.READ),
    # capacity planning
    "capacity.read": (DELIVERY | {Role.PM}, Scope.READ),
    "capacity.plan": (DELIVERY, Scope.WRITE),
    "capacity.publish": (DELIVERY, Scope.WRITE),
}

DEFAULT_SCOPES: Final = (Scope.READ, Scope.WRITE)

UNSCOPABLE_ROLES: Final = MANAGERS | {Role.CLIENT_VIEWER}
"""Owners and admins manage the whole organisation (members, keys, scopes themselves), and a client_viewer is
already bound to its one client: none of them takes a client/project scope."""

SCOPED_ACTIONS: Final = frozenset(
    {
        "org.read",
        "account.read",
        "account.write",
        "clients.read",
        "sites.read",
        "projects.read",
        "projects.write",
        "people.read",
        "usage.read",
        "contracts.read",
        "invoices.read",
        "invoices.approve",
        "invoices.adjust",
        "invoices.collect",
        "invoices.void",
        "credit_notes.write",
        "tasks.read",
        "tasks.write",
        "milestones.read",
        "milestones.write",
        "milestones.accept",
        "budget.read",
        "budget.write",
        "time.read_own",
        "time.write_own",
        "time.read_all",
        "time.write_all",
        "time.import",
        "timesheets.submit",
        "timesheets.approve",
        "expenses.read",
        "expenses.write",
        "expenses.approve",
    }
)
"""What a member scoped to some clients/projects may still do: each of these reads or acts on one client's or
one project's rows, filtered or 404'd by the scope (``api.member_scope``). Everything else spans the whole
organisation (reports, capacity, meters, budgets, webhooks, members, keys, the ledger) and is refused."""

STEP_UP_ACTIONS: Final = frozenset(
    {"invoices.approve", "invoices.void", "credit_notes.write", "api_keys.write", "webhooks.write"}
)
"""Money, keys and integrations: a browser session whose role the org holds to MFA (default owner, admin,
finance) needs a second-factor check within the last few minutes for these (``api.sessions``)."""


def allowed(role: Role | str, action: str) -> bool:
    roles, _ = PERMISSIONS[action]
    return Role(role) in roles


def required_scope(action: str) -> Scope:
    return PERMISSIONS[action][1]
