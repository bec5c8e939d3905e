"""projects, time and profitability (issue 8): phases, milestones, tasks, time entries, timesheets, expenses

Tables: project_members (who manages a project), project_phases, milestones, tasks, budgets, bill_rates
(the WIP rate card), time_imports, time_entries, timesheets, expenses, capacity_allocations (published
by capacity planning, read by forecasts). Every table is tenant-owned with FORCEd row-level security and
composite foreign keys ``(org_id, x_id)`` so a row can only reference rows of its own organisation.

Revision ID: 0003_projects_time
Revises: 0002_metering
Create Date: 2026-11-25
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import ARRAY, UUID

from persistence.migrations.rls import disable_tenant_rls, enable_tenant_rls

revision = "0003_projects_time"
down_revision = "0002_metering"
branch_labels = None
depends_on = None

# Creation order (parents first); downgrade drops in reverse.
TABLES = (
    "project_members",
    "project_phases",
    "milestones",
    "tasks",
    "budgets",
    "bill_rates",
    "time_imports",
    "time_entries",
    "timesheets",
    "expenses",
    "capacity_allocations",
)


def _id() -> sa.Column:  # type: ignore[type-arg]
    return sa.Column("id", UUID(as_uuid=True), primary_key=True)


def _org() -> sa.Column:  # type: ignore[type-arg]
    return sa.Column("org_id", UUID(as_uuid=True), sa.ForeignKey("orgs.id"), nullable=False, index=True)


def _timestamps(*, versioned: bool = True) -> list[sa.Column]:  # type: ignore[type-arg]
    columns: list[sa.Column] = [  # type: ignore[type-arg]
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
    ]
    if versioned:
        columns.append(sa.Column("version", sa.Integer, nullable=False, server_default="1"))
    return columns


def _uuid(name: str, *, nullable: bool = True) -> sa.Column:  # type: ignore[type-arg]
    return sa.Column(name, UUID(as_uuid=True), nullable=nullable)


def _fk(table: str, column: str, target: str, *, ondelete: str | None = None) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        ["org_id", column],
        [f"{target}.org_id", f"{target}.id"],
        name=f"fk_{table}_{column}",
        ondelete=ondelete,
    )


def upgrade() -> None:
    op.create_table(
        "project_members",
        _id(),
        _org(),
        _uuid("project_id", nullable=False),
        _uuid("person_id", nullable=False),
        sa.Column("role", sa.String(16), nullable=False, server_default="member"),
        *_timestamps(),
        _fk("project_members", "project_id", "projects", ondelete="CASCADE"),
        _fk("project_members", "person_id", "people"),
        sa.UniqueConstraint("org_id", "project_id", "person_id", name="uq_project_members_org_id_project_id_person_id"),
        sa.CheckConstraint("role IN ('manager', 'member')", name="ck_project_members_role"),
    )
    op.create_index("ix_project_members_person_id", "project_members", ["person_id"])

    op.create_table(
        "project_phases",
        _id(),
        _org(),
        _uuid("project_id", nullable=False),
        sa.Column("code", sa.String(64), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("position", sa.Integer, nullable=False, server_default="0"),
        sa.Column("status", sa.String(16), nullable=False, server_default="planned"),
        sa.Column("start_date", sa.Date),
        sa.Column("end_date", sa.Date),
        *_timestamps(),
        _fk("project_phases", "project_id", "projects", ondelete="CASCADE"),
        sa.UniqueConstraint("org_id", "id", name="uq_project_phases_org_id_id"),
        sa.UniqueConstraint("org_id", "project_id", "code", name="uq_project_phases_org_id_project_id_code"),
        sa.CheckConstraint("status IN ('planned', 'active', 'done')", name="ck_project_phases_status"),
        sa.CheckConstraint(
            "end_date IS NULL OR start_date IS NULL OR end_date >= start_date", name="ck_project_phases_dates"
        ),
    )
    op.create_index("ix_project_phases_project_id", "project_phases", ["project_id"])

    op.create_table(
        "milestones",
        _id(),
        _org(),
        _uuid("project_id", nullable=False),
        _uuid("phase_id"),
        sa.Column("code", sa.String(64), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("amount", sa.Numeric(18, 4), nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("due_date", sa.Date),
        sa.Column("status", sa.String(16), nullable=False, server_default="planned"),
        sa.Column("delivered_on", sa.Date),
        sa.Column("accepted_on", sa.Date),
        sa.Column("decided_at", sa.DateTime(timezone=True)),
        sa.Column("decided_by", sa.String(64)),
        sa.Column("decision_note", sa.Text),
        *_timestamps(),
        _fk("milestones", "project_id", "projects", ondelete="CASCADE"),
        _fk("milestones", "phase_id", "project_phases"),
        sa.UniqueConstraint("org_id", "project_id", "code", name="uq_milestones_org_id_project_id_code"),
        sa.CheckConstraint("amount >= 0", name="ck_milestones_amount"),
        sa.CheckConstraint("status IN ('planned', 'delivered', 'accepted', 'rejected')", name="ck_milestones_status"),
        sa.CheckConstraint("(status = 'accepted') = (accepted_on IS NOT NULL)", name="ck_milestones_accepted_on"),
    )
    op.create_index("ix_milestones_project_id", "milestones", ["project_id"])
    op.create_index("ix_milestones_accepted", "milestones", ["org_id", "accepted_on"])

    op.create_table(
        "tasks",
        _id(),
        _org(),
        _uuid("project_id", nullable=False),
        _uuid("phase_id"),
        sa.Column("title", sa.String(300), nullable=False),
        sa.Column("description", sa.Text),
        _uuid("assignee_id"),
        sa.Column("estimate_hours", sa.Numeric(10, 2)),
        sa.Column("status", sa.String(16), nullable=False, server_default="todo"),
        sa.Column("due_date", sa.Date),
        *_timestamps(),
        _fk("tasks", "project_id", "projects", ondelete="CASCADE"),
        _fk("tasks", "phase_id", "project_phases"),
        _fk("tasks", "assignee_id", "people"),
        sa.UniqueConstraint("org_id", "id", name="uq_tasks_org_id_id"),
        sa.CheckConstraint("status IN ('todo', 'in_progress', 'blocked', 'done', 'cancelled')", name="ck_tasks_status"),
        sa.CheckConstraint("estimate_hours IS NULL OR estimate_hours >= 0", name="ck_tasks_estimate"),
    )
    op.create_index("ix_tasks_project_id", "tasks", ["project_id"])

    op.create_table(
        "budgets",
        _id(),
        _org(),
        _uuid("project_id", nullable=False),
        _uuid("phase_id"),
        sa.Column("hours", sa.Numeric(12, 2)),
        sa.Column("amount", sa.Numeric(18, 4)),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("basis", sa.String(8), nullable=False, server_default="bill"),
        sa.Column("alert_thresholds", ARRAY(sa.Numeric(6, 4)), nullable=False),
        *_timestamps(),
        _fk("budgets", "project_id", "projects", ondelete="CASCADE"),
        _fk("budgets", "phase_id", "project_phases", ondelete="CASCADE"),
        sa.CheckConstraint("basis IN ('bill', 'cost')", name="ck_budgets_basis"),
        sa.CheckConstraint("hours IS NULL OR hours >= 0", name="ck_budgets_hours"),
        sa.CheckConstraint("amount IS NULL OR amount >= 0", name="ck_budgets_amount"),
    )
    op.create_index(
        "uq_budgets_project", "budgets", ["org_id", "project_id"], unique=True, postgresql_where="phase_id IS NULL"
    )
    op.create_index("uq_budgets_phase", "budgets", ["org_id", "project_id", "phase_id"], unique=True)

    op.create_table(
        "bill_rates",
        _id(),
        _org(),
        _uuid("client_id", nullable=False),
        _uuid("project_id"),
        sa.Column("role", sa.String(64)),
        sa.Column("hourly_rate", sa.Numeric(14, 4), nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("valid_from", sa.Date),
        *_timestamps(),
        _fk("bill_rates", "client_id", "clients", ondelete="CASCADE"),
        _fk("bill_rates", "project_id", "projects", ondelete="CASCADE"),
        sa.CheckConstraint("hourly_rate >= 0", name="ck_bill_rates_rate"),
    )
    op.create_index("ix_bill_rates_lookup", "bill_rates", ["org_id", "client_id", "project_id", "role"])

    op.create_table(
        "time_imports",
        _id(),
        _org(),
        sa.Column("source", sa.String(16), nullable=False),
        sa.Column("filename", sa.String(300)),
        sa.Column("row_count", sa.Integer, nullable=False),
        sa.Column("imported_by", sa.String(64), nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        *_timestamps(versioned=False),
        sa.UniqueConstraint("org_id", "id", name="uq_time_imports_org_id_id"),
    )

    op.create_table(
        "time_entries",
        _id(),
        _org(),
        _uuid("person_id", nullable=False),
        _uuid("project_id", nullable=False),
        _uuid("phase_id"),
        _uuid("task_id"),
        sa.Column("role", sa.String(64), nullable=False),
        sa.Column("work_date", sa.Date, nullable=False),
        sa.Column("minutes", sa.Numeric(10, 2), nullable=False),
        sa.Column("billable", sa.Boolean, nullable=False, server_default=sa.true()),
        sa.Column("notes", sa.Text),
        sa.Column("started_at", sa.DateTime(timezone=True)),
        sa.Column("status", sa.String(16), nullable=False, server_default="draft"),
        sa.Column("cost_rate", sa.Numeric(14, 4), nullable=False),
        sa.Column("cost_currency", sa.String(3), nullable=False),
        sa.Column("bill_rate", sa.Numeric(14, 4)),
        sa.Column("bill_currency", sa.String(3)),
        sa.Column("source", sa.String(16), nullable=False, server_default="api"),
        sa.Column("external_ref", sa.String(128)),
        _uuid("import_id"),
        *_timestamps(),
        _fk("time_entries", "project_id", "projects"),
        _fk("time_entries", "person_id", "people"),
        _fk("time_entries", "phase_id", "project_phases"),
        _fk("time_entries", "task_id", "tasks"),
        _fk("time_entries", "import_id", "time_imports"),
        sa.CheckConstraint("minutes > 0 AND minutes <= 1440", name="ck_time_entries_minutes"),
        sa.CheckConstraint("status IN ('draft', 'submitted', 'approved')", name="ck_time_entries_status"),
        sa.CheckConstraint("source IN ('api', 'harvest', 'toggl', 'clockify')", name="ck_time_entries_source"),
        sa.CheckConstraint("cost_rate >= 0 AND (bill_rate IS NULL OR bill_rate >= 0)", name="ck_time_entries_rates"),
    )
    op.create_index("ix_time_entries_date", "time_entries", ["org_id", "work_date"])
    op.create_index("ix_time_entries_project_date", "time_entries", ["org_id", "project_id", "work_date"])
    op.create_index("ix_time_entries_person_date", "time_entries", ["org_id", "person_id", "work_date"])
    op.create_index(
        "uq_time_entries_external",
        "time_entries",
        ["org_id", "source", "external_ref"],
        unique=True,
        postgresql_where="external_ref IS NOT NULL",
    )

    op.create_table(
        "timesheets",
        _id(),
        _org(),
        _uuid("person_id", nullable=False),
        sa.Column("week_start", sa.Date, nullable=False),
        sa.Column("status", sa.String(16), nullable=False, server_default="open"),
        sa.Column("submitted_at", sa.DateTime(timezone=True)),
        sa.Column("decided_at", sa.DateTime(timezone=True)),
        sa.Column("decided_by", sa.String(64)),
        sa.Column("note", sa.Text),
        *_timestamps(),
        _fk("timesheets", "person_id", "people"),
        sa.UniqueConstraint("org_id", "person_id", "week_start", name="uq_timesheets_org_id_person_id_week_start"),
        sa.CheckConstraint("extract(isodow FROM week_start) = 1", name="ck_timesheets_monday"),
        sa.CheckConstraint("status IN ('open', 'submitted', 'approved', 'rejected')", name="ck_timesheets_status"),
    )

    op.create_table(
        "expenses",
        _id(),
        _org(),
        _uuid("project_id", nullable=False),
        _uuid("person_id", nullable=False),
        sa.Column("spent_on", sa.Date, nullable=False),
        sa.Column("category", sa.String(64), nullable=False),
        sa.Column("description", sa.Text, nullable=False),
        sa.Column("amount", sa.Numeric(14, 4), nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("receipt_ref", sa.String(500)),
        sa.Column("billable", sa.Boolean, nullable=False, server_default=sa.false()),
        sa.Column("markup", sa.Numeric(6, 4), nullable=False, server_default="0"),
        sa.Column("billable_amount", sa.Numeric(14, 4), nullable=False, server_default="0"),
        sa.Column("status", sa.String(16), nullable=False, server_default="submitted"),
        sa.Column("decided_at", sa.DateTime(timezone=True)),
        sa.Column("decided_by", sa.String(64)),
        sa.Column("decision_note", sa.Text),
        *_timestamps(),
        _fk("expenses", "project_id", "projects"),
        _fk("expenses", "person_id", "people"),
        sa.CheckConstraint("amount > 0", name="ck_expenses_amount"),
        sa.CheckConstraint("markup >= 0 AND markup <= 10", name="ck_expenses_markup"),
        sa.CheckConstraint("status IN ('submitted', 'approved', 'rejected')", name="ck_expenses_status"),
    )
    op.create_index("ix_expenses_project_date", "expenses", ["org_id", "project_id", "spent_on"])

    op.create_table(
        "capacity_allocations",
        _id(),
        _org(),
        _uuid("plan_id"),
        _uuid("person_id", nullable=False),
        _uuid("project_id", nullable=False),
        sa.Column("week_start", sa.Date, nullable=False),
        sa.Column("hours", sa.Numeric(6, 2), nullable=False),
        sa.Column("published_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        _fk("capacity_allocations", "project_id", "projects", ondelete="CASCADE"),
        _fk("capacity_allocations", "person_id", "people", ondelete="CASCADE"),
        sa.UniqueConstraint(
            "org_id",
            "project_id",
            "person_id",
            "week_start",
            name="uq_capacity_allocations_org_id_project_id_person_id_week_start",
        ),
        sa.CheckConstraint("extract(isodow FROM week_start) = 1", name="ck_capacity_allocations_monday"),
        sa.CheckConstraint("hours >= 0 AND hours <= 168", name="ck_capacity_allocations_hours"),
    )

    for table in TABLES:
        enable_tenant_rls(table)


def downgrade() -> None:
    for table in reversed(TABLES):
        disable_tenant_rls(table)
        op.drop_table(table)
