"""capacity planning (issue 7): plans, allocations

``capacity_plans`` holds one planning run: the request as submitted, the instance built from it (people of
the org at that moment, demand from the request), the live status and progress of the Temporal workflow
solving it, the best-so-far checkpoint a retried solve resumes from, the result (plan, checker report, diff
for what-ifs) and when it was published. Published allocations live in ``capacity_allocations`` (0003).

Revision ID: 0005_capacity
Revises: 0004_billing
Create Date: 2026-11-25
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import ARRAY, JSONB, UUID

from persistence.migrations.rls import disable_tenant_rls, enable_tenant_rls

revision = "0005_capacity"
down_revision = "0004_billing"
branch_labels = None
depends_on = None

STATUSES = ("queued", "solving", "done", "cancelled", "failed")


def upgrade() -> None:
    op.create_table(
        "capacity_plans",
        sa.Column("id", UUID(as_uuid=True), primary_key=True),
        sa.Column("org_id", UUID(as_uuid=True), sa.ForeignKey("orgs.id"), nullable=False, index=True),
        sa.Column("kind", sa.String(16), nullable=False, server_default="plan"),
        sa.Column("base_plan_id", UUID(as_uuid=True)),
        sa.Column("name", sa.String(200), nullable=False, server_default=""),
        sa.Column("status", sa.String(16), nullable=False, server_default="queued"),
        sa.Column("request", JSONB, nullable=False),
        sa.Column("scenario", JSONB),
        sa.Column("instance", JSONB),
        sa.Column("start_date", sa.Date),
        sa.Column("weeks", sa.Integer),
        sa.Column("project_ids", ARRAY(UUID(as_uuid=True)), nullable=False, server_default="{}"),
        sa.Column("time_limit_s", sa.Float, nullable=False),
        sa.Column("progress", JSONB),
        sa.Column("checkpoint", JSONB),
        sa.Column("result", JSONB),
        sa.Column("check_report", JSONB),
        sa.Column("diff", JSONB),
        sa.Column("notes", JSONB, nullable=False, server_default="[]"),
        sa.Column("error", sa.Text),
        sa.Column("workflow_id", sa.String(200), nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
        sa.Column("created_by", sa.String(200), nullable=False),
        sa.Column("cancel_requested_at", sa.DateTime(timezone=True)),
        sa.Column("started_at", sa.DateTime(timezone=True)),
        sa.Column("finished_at", sa.DateTime(timezone=True)),
        sa.Column("published_at", sa.DateTime(timezone=True)),
        sa.Column("published_by", sa.String(200)),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        sa.Column("version", sa.Integer, nullable=False, server_default="1"),
        sa.UniqueConstraint("org_id", "id", name="uq_capacity_plans_org_id_id"),
        sa.ForeignKeyConstraint(
            ["org_id", "base_plan_id"],
            ["capacity_plans.org_id", "capacity_plans.id"],
            name="fk_capacity_plans_base_plan_id",
        ),
        sa.CheckConstraint(f"status IN {STATUSES!r}", name="ck_capacity_plans_status"),
        sa.CheckConstraint("kind IN ('plan', 'what_if')", name="ck_capacity_plans_kind"),
        sa.CheckConstraint("kind = 'plan' OR base_plan_id IS NOT NULL", name="ck_capacity_plans_what_if_base"),
        sa.CheckConstraint("time_limit_s > 0", name="ck_capacity_plans_time_limit"),
    )
    op.create_index("ix_capacity_plans_org_published", "capacity_plans", ["org_id", "published_at"])
    enable_tenant_rls("capacity_plans")


def downgrade() -> None:
    disable_tenant_rls("capacity_plans")
    op.drop_index("ix_capacity_plans_org_published", table_name="capacity_plans")
    op.drop_table("capacity_plans")
