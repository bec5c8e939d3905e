"""metering (issue 5): meters, events (partitioned by month), rollups, budgets, webhooks

Revision ID: 0002_metering
Revises: 0001_foundation
Create Date: 2026-11-25

Layout (see docs/metering.md for the reasoning):

- ``usage_events`` raw CloudEvents, range-partitioned by month of the event ``time``; partitions are made
  by ``af_ensure_usage_partition`` (definer) on demand. ``usage_event_keys`` holds the dedupe key
  (org, source, id) in one unpartitioned table, because a unique index on a partitioned table must contain
  the partition key and a retried event must be caught whatever month it claims.
- ``ingest_batches`` the ledger of committed ingest transactions (with their transaction id, so a billing
  snapshot can later ask "which events existed then"); ``rolled_at IS NULL`` marks batches not yet folded.
- ``usage_rollup_hourly`` / ``_daily`` / ``_monthly`` (UTC buckets) folded by ``af_compact_usage`` (definer,
  SKIP LOCKED),
  which marks the folded batches in the same transaction, so rollup + raw events of un-rolled batches is
  exactly the raw aggregate in any snapshot.
- ``metering_config_versions`` a per-org counter bumped by triggers whenever clients, sites, meters or
  billing locks change; ingest caches per org and re-reads only when the counter moves.
- Locking a billing period takes an exclusive per-org advisory lock that every ingest transaction holds
  shared, so no event can slip past a lock as "not late" (see ``af_billing_lock_guard``).
"""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import ARRAY, UUID

from core.settings import APP_ROLE
from persistence.migrations.rls import allow_owner_maintenance, disable_tenant_rls, enable_tenant_rls

revision = "0002_metering"
down_revision = "0001_foundation"
branch_labels = None
depends_on = None

# Advisory-lock namespace shared with persistence/ingest.py (pg_advisory_xact_lock(int4, int4)).
LOCK_NAMESPACE = 0x6D657465  # "mete"
# Months of partitions created up front, around the migration date; the rest are made on demand.
MONTHS_BACK = 13
MONTHS_AHEAD = 2

TENANT_TABLES = (
    "meters",
    "metering_config_versions",
    "usage_budgets",
    "usage_budget_alerts",
    "webhook_endpoints",
    "webhook_deliveries",
    "webhook_delivery_attempts",
)
# The ledger and raw events: the app inserts and reads; reprocessing unmatched events updates them.
INGEST_TABLES = ("ingest_batches", "usage_events")
# Written only by the compactor (definer function); the app reads them.
ROLLUP_TABLES = ("usage_rollup_hourly", "usage_rollup_daily", "usage_rollup_monthly")


def _timestamps() -> list[sa.Column]:  # type: ignore[type-arg]
    return [
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        sa.Column("version", sa.Integer, nullable=False, server_default="1"),
    ]


def _id() -> sa.Column:  # type: ignore[type-arg]
    return sa.Column("id", UUID(as_uuid=True), primary_key=True)


def _org() -> sa.Column:  # type: ignore[type-arg]
    return sa.Column("org_id", UUID(as_uuid=True), sa.ForeignKey("orgs.id"), nullable=False, index=True)


def _rollup(table: str) -> None:
    op.execute(
        f"""
        CREATE TABLE {table} (
            org_id uuid NOT NULL,
            client_id uuid NOT NULL,
            meter_id uuid NOT NULL,
            bucket timestamptz NOT NULL,
            site text,
            d1 text, d2 text, d3 text, d4 text,
            uniq text,
            qty_sum numeric,
            qty_max numeric,
            event_count bigint NOT NULL,
            cost_sum numeric,
            cost_count bigint NOT NULL,
            latest af_latest,
            CONSTRAINT uq_{table}_key UNIQUE NULLS NOT DISTINCT
                (org_id, client_id, meter_id, bucket, site, d1, d2, d3, d4, uniq)
        )
        """
    )
    op.execute(f"CREATE INDEX ix_{table}_org_bucket ON {table} (org_id, bucket)")


def _month_starts(today: dt.date) -> list[dt.date]:
    first = today.replace(day=1)
    index = first.year * 12 + first.month - 1
    return [dt.date(i // 12, i % 12 + 1, 1) for i in range(index - MONTHS_BACK, index + MONTHS_AHEAD + 1)]


def upgrade() -> None:
    # ---- helper type and functions -------------------------------------------------------------------
    # ``latest`` aggregation: the value of the event with the greatest (time, source, id), comparing text
    # bytewise so the answer does not depend on the server's collation.
    op.execute("CREATE TYPE af_latest AS (t timestamptz, s text, i text, v numeric)")
    op.execute(
        """
        CREATE FUNCTION af_latest_max(a af_latest, b af_latest) RETURNS af_latest
        LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
          SELECT CASE
            WHEN b IS NULL OR (b).t IS NULL THEN a
            WHEN a IS NULL OR (a).t IS NULL THEN b
            WHEN ((b).t, (b).s COLLATE "C", (b).i COLLATE "C") > ((a).t, (a).s COLLATE "C", (a).i COLLATE "C")
              THEN b
            ELSE a END
        $$
        """
    )
    op.execute(
        """
        CREATE AGGREGATE af_latest_agg(af_latest) (
          SFUNC = af_latest_max, STYPE = af_latest, COMBINEFUNC = af_latest_max, PARALLEL = SAFE
        )
        """
    )

    # ---- meters -------------------------------------------------------------------------------------
    op.create_table(
        "meters",
        _id(),
        _org(),
        sa.Column("key", sa.String(64), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("description", sa.Text),
        sa.Column("event_type", sa.String(200), nullable=False),
        sa.Column("aggregation", sa.String(16), nullable=False),
        sa.Column("value_path", ARRAY(sa.Text)),
        sa.Column("provider_cost_path", ARRAY(sa.Text)),
        sa.Column("site_path", ARRAY(sa.Text)),
        sa.Column("dim_names", ARRAY(sa.Text), nullable=False, server_default="{}"),
        sa.Column("dim1_path", ARRAY(sa.Text)),
        sa.Column("dim2_path", ARRAY(sa.Text)),
        sa.Column("dim3_path", ARRAY(sa.Text)),
        sa.Column("dim4_path", ARRAY(sa.Text)),
        sa.Column("unit", sa.String(32)),
        sa.Column("status", sa.String(16), nullable=False, server_default="active"),
        *_timestamps(),
        sa.UniqueConstraint("org_id", "id", name="uq_meters_org_id_id"),
        sa.UniqueConstraint("org_id", "key", name="uq_meters_org_id_key"),
        sa.CheckConstraint(
            "aggregation IN ('sum', 'count', 'max', 'unique_count', 'latest')", name="ck_meters_aggregation"
        ),
        sa.CheckConstraint("(aggregation = 'count') = (value_path IS NULL)", name="ck_meters_value_path"),
        sa.CheckConstraint("status IN ('active', 'archived')", name="ck_meters_status"),
        sa.CheckConstraint("cardinality(dim_names) <= 4", name="ck_meters_dims"),
    )
    op.create_index("ix_meters_org_type", "meters", ["org_id", "event_type"])

    op.create_table(
        "metering_config_versions",
        sa.Column("org_id", UUID(as_uuid=True), sa.ForeignKey("orgs.id"), primary_key=True),
        sa.Column("version", sa.BigInteger, nullable=False, server_default="1"),
    )

    # ---- ingest ledger, dedupe keys, raw events ---------------------------------------------------------
    op.execute("CREATE SEQUENCE ingest_batches_id_seq AS bigint CACHE 32")
    op.execute(
        """
        CREATE TABLE ingest_batches (
            id bigint PRIMARY KEY DEFAULT nextval('ingest_batches_id_seq'),
            org_id uuid NOT NULL REFERENCES orgs (id),
            xid xid8 NOT NULL DEFAULT pg_current_xact_id(),
            received_at timestamptz NOT NULL DEFAULT now(),
            event_count integer NOT NULL,
            api_key_id uuid,
            kind varchar(16) NOT NULL DEFAULT 'ingest',
            rolled_at timestamptz
        )
        """
    )
    op.execute("ALTER SEQUENCE ingest_batches_id_seq OWNED BY ingest_batches.id")
    op.execute("CREATE INDEX ix_ingest_batches_unrolled ON ingest_batches (org_id, id) WHERE rolled_at IS NULL")
    op.execute("CREATE INDEX ix_ingest_batches_queue ON ingest_batches (id) WHERE rolled_at IS NULL")

    # No FK to orgs on the two hot tables: every insert would take KEY SHARE on the one org row and
    # concurrent batches would serialise on its multixact. org_id comes from the authenticated key and RLS
    # WITH CHECK pins it to the transaction's tenant.
    op.execute(
        """
        CREATE TABLE usage_event_keys (
            org_id uuid NOT NULL,
            source text COLLATE "C" NOT NULL,
            event_id text COLLATE "C" NOT NULL,
            CONSTRAINT pk_usage_event_keys PRIMARY KEY (org_id, source, event_id)
        )
        """
    )
    op.execute(
        """
        CREATE TABLE usage_events (
            org_id uuid NOT NULL,
            time timestamptz NOT NULL,
            batch_id bigint NOT NULL,
            pos integer NOT NULL,
            client_id uuid,
            type text NOT NULL,
            source text COLLATE "C" NOT NULL,
            event_id text COLLATE "C" NOT NULL,
            subject text,
            meter_ids uuid[] NOT NULL,
            late boolean NOT NULL,
            unmatched varchar(32),
            data jsonb
        ) PARTITION BY RANGE (time)
        """
    )
    # client ids are globally unique, so (client_id, time) serves per-client reads; RLS adds the org filter.
    op.execute("CREATE INDEX ix_usage_events_client_time ON usage_events (client_id, time)")
    op.execute("CREATE INDEX ix_usage_events_batch ON usage_events USING brin (batch_id)")
    op.execute("CREATE INDEX ix_usage_events_time ON usage_events USING brin (time)")
    op.execute(
        "CREATE INDEX ix_usage_events_unmatched ON usage_events (org_id, batch_id, pos) WHERE unmatched IS NOT NULL"
    )
    op.execute(
        """
        CREATE FUNCTION af_ensure_usage_partition(p_month date) RETURNS text
        LANGUAGE plpgsql SECURITY DEFINER SET search_path = public AS $$
        DECLARE
          v_start date := date_trunc('month', p_month)::date;
          v_name text := 'usage_events_p' || to_char(date_trunc('month', p_month), 'YYYYMM');
        BEGIN
          IF to_regclass(v_name) IS NULL THEN
            BEGIN
              EXECUTE format(
                'CREATE TABLE %I PARTITION OF usage_events FOR VALUES FROM (%L) TO (%L)',
                v_name,
                (v_start::timestamp AT TIME ZONE 'UTC'),
                ((v_start + interval '1 month')::timestamp AT TIME ZONE 'UTC'));
            EXCEPTION WHEN duplicate_table THEN NULL;
            END;
          END IF;
          RETURN v_name;
        END $$
        """
    )
    op.execute("REVOKE ALL ON FUNCTION af_ensure_usage_partition(date) FROM PUBLIC")
    op.execute(f'GRANT EXECUTE ON FUNCTION af_ensure_usage_partition(date) TO "{APP_ROLE}"')
    for month in _month_starts(dt.datetime.now(dt.UTC).date()):
        op.execute(f"SELECT af_ensure_usage_partition('{month.isoformat()}')")

    # ---- rollups ------------------------------------------------------------------------------------------
    for table in ROLLUP_TABLES:
        _rollup(table)

    # ---- budgets, alerts, webhooks -------------------------------------------------------------------
    op.create_table(
        "usage_budgets",
        _id(),
        _org(),
        sa.Column("client_id", UUID(as_uuid=True), nullable=False),
        sa.Column("meter_id", UUID(as_uuid=True), nullable=False),
        sa.Column("period", sa.String(8), nullable=False, server_default="month"),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("limit_value", sa.Numeric, nullable=False),
        sa.Column("thresholds", ARRAY(sa.Integer), nullable=False),
        sa.Column("status", sa.String(16), nullable=False, server_default="active"),
        *_timestamps(),
        sa.UniqueConstraint("org_id", "id", name="uq_usage_budgets_org_id_id"),
        sa.UniqueConstraint("org_id", "client_id", "meter_id", "period", "kind", name="uq_usage_budgets_scope"),
        sa.ForeignKeyConstraint(
            ["org_id", "client_id"],
            ["clients.org_id", "clients.id"],
            name="fk_usage_budgets_client",
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(["org_id", "meter_id"], ["meters.org_id", "meters.id"], name="fk_usage_budgets_meter"),
        sa.CheckConstraint("period IN ('day', 'month')", name="ck_usage_budgets_period"),
        sa.CheckConstraint("kind IN ('quantity', 'provider_cost')", name="ck_usage_budgets_kind"),
        sa.CheckConstraint("limit_value > 0", name="ck_usage_budgets_limit"),
        sa.CheckConstraint("status IN ('active', 'paused')", name="ck_usage_budgets_status"),
        sa.CheckConstraint("cardinality(thresholds) BETWEEN 1 AND 10", name="ck_usage_budgets_thresholds"),
    )
    op.create_index("ix_usage_budgets_scope", "usage_budgets", ["org_id", "client_id", "meter_id"])
    op.create_table(
        "usage_budget_alerts",
        _id(),
        _org(),
        sa.Column("budget_id", UUID(as_uuid=True), nullable=False),
        sa.Column("period_start", sa.DateTime(timezone=True), nullable=False),
        sa.Column("period_end", sa.DateTime(timezone=True), nullable=False),
        sa.Column("threshold", sa.Integer, nullable=False),
        sa.Column("usage", sa.Numeric, nullable=False),
        sa.Column("limit_value", sa.Numeric, nullable=False),
        sa.Column("fired_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        sa.UniqueConstraint("org_id", "id", name="uq_usage_budget_alerts_org_id_id"),
        sa.UniqueConstraint("budget_id", "period_start", "threshold", name="uq_usage_budget_alerts_once"),
        sa.ForeignKeyConstraint(
            ["org_id", "budget_id"],
            ["usage_budgets.org_id", "usage_budgets.id"],
            name="fk_usage_budget_alerts_budget",
            ondelete="CASCADE",
        ),
    )
    op.create_table(
        "webhook_endpoints",
        _id(),
        _org(),
        sa.Column("url", sa.Text, nullable=False),
        sa.Column("description", sa.String(200)),
        sa.Column("secret", sa.String(128), nullable=False),
        sa.Column("event_types", ARRAY(sa.Text), nullable=False, server_default="{}"),
        sa.Column("status", sa.String(16), nullable=False, server_default="active"),
        *_timestamps(),
        sa.UniqueConstraint("org_id", "id", name="uq_webhook_endpoints_org_id_id"),
        sa.CheckConstraint("status IN ('active', 'disabled')", name="ck_webhook_endpoints_status"),
    )
    op.create_table(
        "webhook_deliveries",
        _id(),
        _org(),
        sa.Column("endpoint_id", UUID(as_uuid=True), nullable=False),
        sa.Column("event_id", UUID(as_uuid=True), nullable=False),
        sa.Column("event_type", sa.String(64), nullable=False),
        sa.Column("payload", sa.Text, nullable=False),
        sa.Column("status", sa.String(16), nullable=False, server_default="pending"),
        sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
        sa.Column("last_status_code", sa.Integer),
        sa.Column("last_error", sa.Text),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        sa.Column("delivered_at", sa.DateTime(timezone=True)),
        sa.UniqueConstraint("org_id", "id", name="uq_webhook_deliveries_org_id_id"),
        sa.UniqueConstraint("endpoint_id", "event_id", name="uq_webhook_deliveries_once"),
        sa.ForeignKeyConstraint(
            ["org_id", "endpoint_id"],
            ["webhook_endpoints.org_id", "webhook_endpoints.id"],
            name="fk_webhook_deliveries_endpoint",
            ondelete="CASCADE",
        ),
        sa.CheckConstraint("status IN ('pending', 'delivered', 'failed')", name="ck_webhook_deliveries_status"),
    )
    op.create_index("ix_webhook_deliveries_endpoint", "webhook_deliveries", ["org_id", "endpoint_id", "id"])
    op.execute("CREATE INDEX ix_webhook_deliveries_pending ON webhook_deliveries (created_at) WHERE status = 'pending'")
    op.create_table(
        "webhook_delivery_attempts",
        _id(),
        _org(),
        sa.Column("delivery_id", UUID(as_uuid=True), nullable=False),
        sa.Column("attempt", sa.Integer, nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        sa.Column("status_code", sa.Integer),
        sa.Column("error", sa.Text),
        sa.Column("duration_ms", sa.Integer, nullable=False),
        sa.ForeignKeyConstraint(
            ["org_id", "delivery_id"],
            ["webhook_deliveries.org_id", "webhook_deliveries.id"],
            name="fk_webhook_delivery_attempts_delivery",
            ondelete="CASCADE",
        ),
    )
    op.create_index("ix_webhook_delivery_attempts_delivery", "webhook_delivery_attempts", ["org_id", "delivery_id"])

    # ---- row-level security ----------------------------------------------------------------------------
    for table in TENANT_TABLES:
        enable_tenant_rls(table)
    enable_tenant_rls("ingest_batches", privileges="SELECT, INSERT")
    enable_tenant_rls("usage_events", privileges="SELECT, INSERT, UPDATE")
    enable_tenant_rls("usage_event_keys", privileges="SELECT, INSERT")
    for table in ROLLUP_TABLES:
        enable_tenant_rls(table, privileges="SELECT")
    op.execute(f'GRANT USAGE ON SEQUENCE ingest_batches_id_seq TO "{APP_ROLE}"')
    for table in ("ingest_batches", "usage_events", "meters", "webhook_deliveries", *ROLLUP_TABLES):
        allow_owner_maintenance(table)

    # ---- configuration version counter -----------------------------------------------------------------
    # One bump per transaction and org is enough (readers compare versions, not counts); bumping per row
    # would update the same counter row thousands of times in a bulk import.
    op.execute(
        """
        CREATE FUNCTION af_bump_metering_config() RETURNS trigger
        LANGUAGE plpgsql AS $$
        DECLARE v_org uuid;
        BEGIN
          IF TG_OP = 'DELETE' THEN v_org := OLD.org_id; ELSE v_org := NEW.org_id; END IF;
          IF current_setting('af.metering_bumped', true) IS DISTINCT FROM v_org::text THEN
            INSERT INTO metering_config_versions AS v (org_id, version) VALUES (v_org, 1)
            ON CONFLICT (org_id) DO UPDATE SET version = v.version + 1;
            PERFORM set_config('af.metering_bumped', v_org::text, true);
          END IF;
          RETURN NULL;
        END $$
        """
    )
    for table in ("clients", "sites", "meters", "billing_period_locks"):
        op.execute(
            f"CREATE TRIGGER af_metering_config AFTER INSERT OR UPDATE OR DELETE ON {table} "
            "FOR EACH ROW EXECUTE FUNCTION af_bump_metering_config()"
        )
    # Locking a period waits for every in-flight ingest transaction of the org (they hold the lock shared)
    # and every later ingest sees the lock: an event is either in the invoiced snapshot or flagged late.
    op.execute(
        f"""
        CREATE FUNCTION af_billing_lock_guard() RETURNS trigger
        LANGUAGE plpgsql AS $$
        BEGIN
          PERFORM pg_advisory_xact_lock({LOCK_NAMESPACE},
                                        hashtext(COALESCE(NEW.org_id, OLD.org_id)::text));
          RETURN COALESCE(NEW, OLD);
        END $$
        """
    )
    op.execute(
        "CREATE TRIGGER af_billing_lock_guard BEFORE INSERT OR UPDATE OR DELETE ON billing_period_locks "
        "FOR EACH ROW EXECUTE FUNCTION af_billing_lock_guard()"
    )
    # A client with usage cannot be deleted (the events table has no FK, see above); archive it instead.
    op.execute(
        """
        CREATE FUNCTION af_client_has_usage() RETURNS trigger
        LANGUAGE plpgsql AS $$
        BEGIN
          IF EXISTS (SELECT 1 FROM usage_events WHERE org_id = OLD.org_id AND client_id = OLD.id) THEN
            RAISE EXCEPTION 'client % has usage events', OLD.id
              USING ERRCODE = 'foreign_key_violation', CONSTRAINT = 'usage_events_client';
          END IF;
          RETURN OLD;
        END $$
        """
    )
    op.execute(
        "CREATE TRIGGER af_client_has_usage BEFORE DELETE ON clients "
        "FOR EACH ROW EXECUTE FUNCTION af_client_has_usage()"
    )

    # ---- compaction ---------------------------------------------------------------------------------------
    op.execute(COMPACT_FUNCTION)
    op.execute("REVOKE ALL ON FUNCTION af_compact_usage(integer) FROM PUBLIC")
    op.execute(f'GRANT EXECUTE ON FUNCTION af_compact_usage(integer) TO "{APP_ROLE}"')
    op.execute(
        """
        CREATE FUNCTION af_stale_webhook_deliveries(p_older_than interval, p_limit integer)
        RETURNS TABLE (org_id uuid, delivery_id uuid)
        LANGUAGE sql SECURITY DEFINER SET search_path = public AS $$
          SELECT d.org_id, d.id FROM webhook_deliveries d
          WHERE d.status = 'pending' AND d.created_at < now() - p_older_than
          ORDER BY d.created_at LIMIT p_limit
        $$
        """
    )
    op.execute("REVOKE ALL ON FUNCTION af_stale_webhook_deliveries(interval, integer) FROM PUBLIC")
    op.execute(f'GRANT EXECUTE ON FUNCTION af_stale_webhook_deliveries(interval, integer) TO "{APP_ROLE}"')


# Folds up to p_max_batches committed, un-rolled ingest batches into the hourly, daily and monthly rollups and marks
# them rolled, all in one statement (one snapshot, one transaction). SKIP LOCKED lets several compactors run
# side by side on disjoint batches; rows are upserted in key order so they lock rollup rows in one order.
COMPACT_FUNCTION = """
CREATE FUNCTION af_compact_usage(p_max_batches integer)
RETURNS TABLE (org_id uuid, client_id uuid, meter_id uuid, first_bucket timestamptz, last_bucket timestamptz,
               events bigint, batches integer)
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public AS $$
#variable_conflict use_column
DECLARE
  v_ids bigint[];
  v_lo bigint;
  v_hi bigint;
BEGIN
  SELECT array_agg(q.id ORDER BY q.id) INTO v_ids FROM (
    SELECT b.id FROM ingest_batches b WHERE b.rolled_at IS NULL ORDER BY b.id LIMIT p_max_batches
    FOR UPDATE SKIP LOCKED) q;
  IF v_ids IS NULL THEN
    RETURN;
  END IF;
  v_lo := v_ids[1];
  v_hi := v_ids[array_length(v_ids, 1)];
  RETURN QUERY
  WITH ev AS MATERIALIZED (
    SELECT e.org_id, e.client_id, m.id AS meter_id, m.aggregation AS agg,
           date_trunc('hour', e.time, 'UTC') AS bucket,
           e.data #>> m.site_path AS site,
           e.data #>> m.dim1_path AS d1, e.data #>> m.dim2_path AS d2,
           e.data #>> m.dim3_path AS d3, e.data #>> m.dim4_path AS d4,
           CASE WHEN m.aggregation = 'unique_count' THEN e.data #>> m.value_path END AS uniq,
           CASE WHEN m.aggregation IN ('sum', 'max', 'latest') THEN (e.data #>> m.value_path)::numeric END AS q,
           (e.data #>> m.provider_cost_path)::numeric AS cost,
           e.time, e.source, e.event_id
    FROM usage_events e
    CROSS JOIN LATERAL unnest(e.meter_ids) AS mm(id)
    JOIN meters m ON m.id = mm.id
    WHERE e.batch_id BETWEEN v_lo AND v_hi AND e.batch_id = ANY (v_ids) AND e.client_id IS NOT NULL
  ), hourly AS MATERIALIZED (
    SELECT ev.org_id, ev.client_id, ev.meter_id, ev.bucket, ev.site, ev.d1, ev.d2, ev.d3, ev.d4, ev.uniq,
           sum(ev.q) FILTER (WHERE ev.agg = 'sum') AS qty_sum,
           max(ev.q) FILTER (WHERE ev.agg = 'max') AS qty_max,
           count(*) AS event_count,
           sum(ev.cost) AS cost_sum,
           count(ev.cost) AS cost_count,
           af_latest_agg(ROW(ev.time, ev.source, ev.event_id, ev.q)::af_latest) FILTER (WHERE ev.agg = 'latest')
             AS latest
    FROM ev
    GROUP BY ev.org_id, ev.client_id, ev.meter_id, ev.bucket, ev.site, ev.d1, ev.d2, ev.d3, ev.d4, ev.uniq
  ), h AS (
    INSERT INTO usage_rollup_hourly AS r
      (org_id, client_id, meter_id, bucket, site, d1, d2, d3, d4, uniq,
       qty_sum, qty_max, event_count, cost_sum, cost_count, latest)
    SELECT * FROM hourly
    ORDER BY 1, 2, 3, 4, 5, 6, 7, 8, 9, 10
    ON CONFLICT ON CONSTRAINT uq_usage_rollup_hourly_key DO UPDATE SET
      qty_sum = CASE WHEN r.qty_sum IS NULL THEN EXCLUDED.qty_sum WHEN EXCLUDED.qty_sum IS NULL THEN r.qty_sum
                     ELSE r.qty_sum + EXCLUDED.qty_sum END,
      qty_max = GREATEST(r.qty_max, EXCLUDED.qty_max),
      event_count = r.event_count + EXCLUDED.event_count,
      cost_sum = CASE WHEN r.cost_sum IS NULL THEN EXCLUDED.cost_sum WHEN EXCLUDED.cost_sum IS NULL THEN r.cost_sum
                      ELSE r.cost_sum + EXCLUDED.cost_sum END,
      cost_count = r.cost_count + EXCLUDED.cost_count,
      latest = CASE WHEN EXCLUDED.latest IS NULL THEN r.latest
                    ELSE af_latest_max(r.latest, EXCLUDED.latest) END
  ), daily AS MATERIALIZED (
    SELECT hr.org_id, hr.client_id, hr.meter_id, date_trunc('day', hr.bucket, 'UTC') AS bucket,
           hr.site, hr.d1, hr.d2, hr.d3, hr.d4, hr.uniq,
           sum(hr.qty_sum) AS qty_sum, max(hr.qty_max) AS qty_max, sum(hr.event_count)::bigint AS event_count,
           sum(hr.cost_sum) AS cost_sum, sum(hr.cost_count)::bigint AS cost_count,
           af_latest_agg(hr.latest) FILTER (WHERE hr.latest IS NOT NULL) AS latest
    FROM hourly hr
    GROUP BY 1, 2, 3, 4, 5, 6, 7, 8, 9, 10
  ), d AS (
    INSERT INTO usage_rollup_daily AS r
      (org_id, client_id, meter_id, bucket, site, d1, d2, d3, d4, uniq,
       qty_sum, qty_max, event_count, cost_sum, cost_count, latest)
    SELECT * FROM daily
    ORDER BY 1, 2, 3, 4, 5, 6, 7, 8, 9, 10
    ON CONFLICT ON CONSTRAINT uq_usage_rollup_daily_key DO UPDATE SET
      qty_sum = CASE WHEN r.qty_sum IS NULL THEN EXCLUDED.qty_sum WHEN EXCLUDED.qty_sum IS NULL THEN r.qty_sum
                     ELSE r.qty_sum + EXCLUDED.qty_sum END,
      qty_max = GREATEST(r.qty_max, EXCLUDED.qty_max),
      event_count = r.event_count + EXCLUDED.event_count,
      cost_sum = CASE WHEN r.cost_sum IS NULL THEN EXCLUDED.cost_sum WHEN EXCLUDED.cost_sum IS NULL THEN r.cost_sum
                      ELSE r.cost_sum + EXCLUDED.cost_sum END,
      cost_count = r.cost_count + EXCLUDED.cost_count,
      latest = CASE WHEN EXCLUDED.latest IS NULL THEN r.latest
                    ELSE af_latest_max(r.latest, EXCLUDED.latest) END
  ), monthly AS (
    SELECT dl.org_id, dl.client_id, dl.meter_id, date_trunc('month', dl.bucket, 'UTC') AS bucket,
           dl.site, dl.d1, dl.d2, dl.d3, dl.d4, dl.uniq,
           sum(dl.qty_sum) AS qty_sum, max(dl.qty_max) AS qty_max, sum(dl.event_count)::bigint AS event_count,
           sum(dl.cost_sum) AS cost_sum, sum(dl.cost_count)::bigint AS cost_count,
           af_latest_agg(dl.latest) FILTER (WHERE dl.latest IS NOT NULL) AS latest
    FROM daily dl
    GROUP BY 1, 2, 3, 4, 5, 6, 7, 8, 9, 10
  ), mo AS (
    INSERT INTO usage_rollup_monthly AS r
      (org_id, client_id, meter_id, bucket, site, d1, d2, d3, d4, uniq,
       qty_sum, qty_max, event_count, cost_sum, cost_count, latest)
    SELECT * FROM monthly
    ORDER BY 1, 2, 3, 4, 5, 6, 7, 8, 9, 10
    ON CONFLICT ON CONSTRAINT uq_usage_rollup_monthly_key DO UPDATE SET
      qty_sum = CASE WHEN r.qty_sum IS NULL THEN EXCLUDED.qty_sum WHEN EXCLUDED.qty_sum IS NULL THEN r.qty_sum
                     ELSE r.qty_sum + EXCLUDED.qty_sum END,
      qty_max = GREATEST(r.qty_max, EXCLUDED.qty_max),
      event_count = r.event_count + EXCLUDED.event_count,
      cost_sum = CASE WHEN r.cost_sum IS NULL THEN EXCLUDED.cost_sum WHEN EXCLUDED.cost_sum IS NULL THEN r.cost_sum
                      ELSE r.cost_sum + EXCLUDED.cost_sum END,
      cost_count = r.cost_count + EXCLUDED.cost_count,
      latest = CASE WHEN EXCLUDED.latest IS NULL THEN r.latest
                    ELSE af_latest_max(r.latest, EXCLUDED.latest) END
  ), done AS (
    UPDATE ingest_batches b SET rolled_at = clock_timestamp() WHERE b.id = ANY (v_ids)
  )
  SELECT hr.org_id, hr.client_id, hr.meter_id, min(hr.bucket), max(hr.bucket), sum(hr.event_count)::bigint,
         array_length(v_ids, 1)
  FROM hourly hr
  GROUP BY hr.org_id, hr.client_id, hr.meter_id
  UNION ALL
  -- A fold with no metered events still reports that it consumed batches.
  SELECT NULL, NULL, NULL, NULL, NULL, 0, array_length(v_ids, 1)
  WHERE NOT EXISTS (SELECT 1 FROM hourly);
END $$
"""


def downgrade() -> None:
    op.execute("DROP FUNCTION IF EXISTS af_stale_webhook_deliveries(interval, integer)")
    op.execute("DROP FUNCTION IF EXISTS af_compact_usage(integer)")
    op.execute("DROP TRIGGER IF EXISTS af_client_has_usage ON clients")
    op.execute("DROP FUNCTION IF EXISTS af_client_has_usage()")
    op.execute("DROP TRIGGER IF EXISTS af_billing_lock_guard ON billing_period_locks")
    op.execute("DROP FUNCTION IF EXISTS af_billing_lock_guard()")
    for table in ("clients", "sites", "meters", "billing_period_locks"):
        op.execute(f"DROP TRIGGER IF EXISTS af_metering_config ON {table}")
    op.execute("DROP FUNCTION IF EXISTS af_bump_metering_config()")
    for table in ("ingest_batches", "usage_events", "meters", "webhook_deliveries", *ROLLUP_TABLES):
        op.execute(f"DROP POLICY IF EXISTS owner_maintenance ON {table}")
    for table in (*TENANT_TABLES, *INGEST_TABLES, "usage_event_keys", *ROLLUP_TABLES):
        disable_tenant_rls(table)
    for table in (
        "webhook_delivery_attempts",
        "webhook_deliveries",
        "webhook_endpoints",
        "usage_budget_alerts",
        "usage_budgets",
        *ROLLUP_TABLES,
        "usage_events",
        "usage_event_keys",
        "ingest_batches",
        "metering_config_versions",
        "meters",
    ):
        op.execute(f"DROP TABLE IF EXISTS {table} CASCADE")
    op.execute("DROP SEQUENCE IF EXISTS ingest_batches_id_seq")
    op.execute("DROP FUNCTION IF EXISTS af_ensure_usage_partition(date)")
    op.execute("DROP AGGREGATE IF EXISTS af_latest_agg(af_latest)")
    op.execute("DROP FUNCTION IF EXISTS af_latest_max(af_latest, af_latest)")
    op.execute("DROP TYPE IF EXISTS af_latest")
