"""webhook deliveries: a dispatch lease, so a delivery that keeps failing never blocks usage folding

Before, the metering workflow's compaction returned every delivery pending for two minutes, folded nothing
while any existed, and re-started their (still retrying) workflows every run: one org's dead target stopped
folding and budget alerts for every org. Now a dispatcher starts delivery workflows apart from folding, and
``dispatch_at`` says when a pending delivery is next due to be (re)started: new rows are due at once; a row
whose workflow was started is held far ahead, so it is looked at again only if its workflow vanished.

``af_claim_webhook_deliveries`` (definer: it spans orgs) claims due rows fairly — at most ``p_per_endpoint``
per endpoint per call, and only as many more of an endpoint as keep its deliveries retrying after a failed
attempt under ``p_max_failing`` — so one dead target cannot fill the worker with its retries.

Revision ID: h1_0009_webhook_dispatch
Revises: 0008_credit_grants
Create Date: 2026-12-05
"""

from __future__ import annotations

from alembic import op

from core.settings import APP_ROLE

revision = "h1_0009_webhook_dispatch"
down_revision = "0008_credit_grants"
branch_labels = None
depends_on = None

CLAIM_FUNCTION = """
CREATE FUNCTION af_claim_webhook_deliveries(
  p_limit integer, p_per_endpoint integer, p_max_failing integer, p_hold interval
) RETURNS TABLE (org_id uuid, delivery_id uuid)
LANGUAGE sql SECURITY DEFINER SET search_path = public AS $$
  WITH due AS (
    SELECT d.id, d.endpoint_id, d.dispatch_at,
           row_number() OVER (PARTITION BY d.endpoint_id ORDER BY d.dispatch_at, d.id) AS rank
    FROM webhook_deliveries d
    WHERE d.status = 'pending' AND d.dispatch_at <= now()
  ), failing AS (
    SELECT f.endpoint_id, count(*) AS n FROM webhook_deliveries f
    WHERE f.status = 'pending' AND f.dispatch_at > now() AND f.attempts > 0
    GROUP BY f.endpoint_id
  ), picked AS (
    SELECT due.id FROM due LEFT JOIN failing ON failing.endpoint_id = due.endpoint_id
    WHERE due.rank <= least(p_per_endpoint, p_max_failing - coalesce(failing.n, 0))
    ORDER BY due.rank, due.dispatch_at, due.id
    LIMIT p_limit
  )
  UPDATE webhook_deliveries w SET dispatch_at = now() + p_hold
  FROM picked WHERE w.id = picked.id AND w.status = 'pending' AND w.dispatch_at <= now()
  RETURNING w.org_id, w.id
$$
"""


def upgrade() -> None:
    # now() is stable: PostgreSQL stores the default once instead of rewriting the table; existing pending
    # rows become due at once and are re-dispatched (a running workflow is attached to, not started twice).
    op.execute("ALTER TABLE webhook_deliveries ADD COLUMN dispatch_at timestamptz NOT NULL DEFAULT now()")
    op.execute(
        "CREATE INDEX ix_webhook_deliveries_dispatch ON webhook_deliveries (dispatch_at) WHERE status = 'pending'"
    )
    op.execute(CLAIM_FUNCTION)
    op.execute("REVOKE ALL ON FUNCTION af_claim_webhook_deliveries(integer, integer, integer, interval) FROM PUBLIC")
    op.execute(
        f'GRANT EXECUTE ON FUNCTION af_claim_webhook_deliveries(integer, integer, integer, interval) TO "{APP_ROLE}"'
    )


def downgrade() -> None:
    op.execute("DROP FUNCTION IF EXISTS af_claim_webhook_deliveries(integer, integer, integer, interval)")
    op.execute("DROP INDEX IF EXISTS ix_webhook_deliveries_dispatch")
    op.execute("ALTER TABLE webhook_deliveries DROP COLUMN IF EXISTS dispatch_at")
