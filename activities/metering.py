"""Metering activities: fold ingest batches into rollups, fire usage budgets, deliver signed webhooks."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import httpx
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio import activity
from temporalio.common import WorkflowIDConflictPolicy, WorkflowIDReusePolicy
from temporalio.exceptions import ApplicationError, WorkflowAlreadyStartedError
from temporalio.service import RPCError

from activities.liveness import heartbeating
from core import webhook_signature, webhook_targets
from core.secret_box import secret_box
from core.settings import Settings
from persistence import metering_jobs
from workflows.names import (
    COMPACT_USAGE,
    DELIVER_WEBHOOK,
    DISPATCH_WEBHOOKS,
    FAIL_WEBHOOK_DELIVERY,
    FOLD_USAGE,
    WEBHOOK_DELIVERY_WORKFLOW,
    webhook_delivery_id,
)

IDLE_SLEEP_S = 0.5
CLAIM_HOLD = timedelta(minutes=2)
"""A claimed delivery whose start was not confirmed (the dispatcher died, Temporal refused) is due again then."""
DELIVERY_LEASE = timedelta(hours=6)
"""A started delivery is not dispatched again for this long: more than its whole retry schedule
(``workflows.metering``: 12 attempts, 5 s doubling up to 1 h, about 2.5 h), so only a delivery whose workflow
vanished (terminated by an operator) is ever started again."""
USER_AGENT = "agencyflow-webhooks/1"


class MeteringActivities:
    def __init__(self, sessionmaker: async_sessionmaker[AsyncSession], settings: Settings) -> None:
        self.sessionmaker = sessionmaker
        self.settings = settings
        self.secrets = secret_box(settings)
        self._http: httpx.AsyncClient | None = None

    def all(self) -> list[Callable[..., Any]]:
        return [
            self.fold_usage,
            self.dispatch_webhooks,
            self.compact_usage,
            self.deliver_webhook,
            self.fail_webhook_delivery,
        ]

    async def _fold(self, max_seconds: float, max_batches: int) -> list[tuple[uuid.UUID, uuid.UUID]]:
        """Fold batches and evaluate budgets until idle for ``max_seconds``, or until a fold fired alerts (so
        they are dispatched now, not a minute later). Deliveries never stop or delay folding: returning early
        needs new alerts, and each threshold fires once per budget period."""
        await metering_jobs.ensure_partitions_ahead(self.sessionmaker)
        deliveries: list[tuple[uuid.UUID, uuid.UUID]] = []
        deadline = time.monotonic() + max_seconds
        folded = 0
        while time.monotonic() < deadline and not deliveries:
            step = await metering_jobs.compact(self.sessionmaker, max_batches)
            folded += step.events
            activity.heartbeat(folded)
            if step.touched:
                deliveries += await metering_jobs.evaluate_budgets(self.sessionmaker, step.touched)
            if step.batches == 0:
                await asyncio.sleep(IDLE_SLEEP_S)
        if folded:
            activity.logger.info("usage folded", extra={"events": folded, "deliveries": len(deliveries)})
        return deliveries

    @activity.defn(name=FOLD_USAGE)
    async def fold_usage(self, max_seconds: float, max_batches: int) -> int:
        """Returns how many deliveries the fired alerts created; ``dispatch_webhooks`` starts them."""
        return len(await self._fold(max_seconds, max_batches))

    @activity.defn(name=COMPACT_USAGE)
    async def compact_usage(self, max_seconds: float, max_batches: int) -> list[list[str]]:
        """For metering runs started before ``fold_usage`` existed (they replay this call): folds like it
        and returns only the deliveries it created, never old pending ones, so it cannot stall either."""
        return [[str(org), str(delivery)] for org, delivery in await self._fold(max_seconds, max_batches)]

    @activity.defn(name=DISPATCH_WEBHOOKS)
    @heartbeating
    async def dispatch_webhooks(self, max_seconds: float) -> int:
        """Start the delivery workflow of every due delivery (new ones, and any whose start was lost), one
        workflow per delivery, in fair rounds across endpoints (``metering_jobs.DispatchLimits``).

        A workflow that is already running is attached to and one that already closed is left alone: either
        way the delivery is held for ``DELIVERY_LEASE``, so neither case comes back every round. Returns how
        many were (or already were) started."""
        client = activity.client()
        task_queue = activity.info().task_queue
        deadline = time.monotonic() + max_seconds
        total = 0
        while time.monotonic() < deadline:
            claimed = await metering_jobs.claim_deliveries(self.sessionmaker, CLAIM_HOLD)
            if not claimed:
                break
            started: list[tuple[uuid.UUID, uuid.UUID]] = []
            for org_id, delivery_id in claimed:
                try:
                    await client.start_workflow(
                        WEBHOOK_DELIVERY_WORKFLOW,
                        args=[str(org_id), str(delivery_id)],
                        id=webhook_delivery_id(str(delivery_id)),
                        task_queue=task_queue,
                        id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
                        id_reuse_policy=WorkflowIDReusePolicy.ALLOW_DUPLICATE_FAILED_ONLY,
                    )
                except WorkflowAlreadyStartedError:
                    pass  # closed as delivered or failed: it recorded its outcome itself
                except RPCError as exc:
                    # Left on the short claim: due again in CLAIM_HOLD, the others go ahead.
                    activity.logger.warning(
                        "delivery not started", extra={"delivery_id": str(delivery_id), "error": str(exc)}
                    )
                    continue
                started.append((org_id, delivery_id))
            await metering_jobs.hold_deliveries(self.sessionmaker, started, DELIVERY_LEASE)
            total += len(started)
        return total

    def _client(self) -> httpx.AsyncClient:
        if self._http is None:
            self._http = httpx.AsyncClient(
                timeout=self.settings.webhook_timeout_s, follow_redirects=False, headers={"User-Agent": USER_AGENT}
            )
        return self._http

    @activity.defn(name=DELIVER_WEBHOOK)
    @heartbeating
    async def deliver_webhook(self, org_id: str, delivery_id: str) -> str:
        """One signed POST; every attempt is logged. Non-2xx answers and network errors are retried by the
        workflow's retry policy; a deleted or disabled endpoint is not."""
        org, delivery = uuid.UUID(org_id), uuid.UUID(delivery_id)
        job = await metering_jobs.load_delivery(self.sessionmaker, org, delivery)
        if job is None:
            # The API may start the workflow a moment before its transaction commits: retry.
            raise ApplicationError(f"delivery {delivery_id} not found (yet)")
        if job.status == "delivered":
            return "delivered"
        if job.endpoint_status != "active":
            raise ApplicationError("the webhook endpoint is disabled", type="WebhookGone", non_retryable=True)
        vetted = await webhook_targets.vet_delivery(job.url, allow_private=self.settings.webhook_allow_private)
        blocked = vetted.problem
        if blocked is not None:
            await metering_jobs.record_attempt(
                self.sessionmaker,
                org,
                delivery,
                status_code=None,
                error=f"refused: {blocked}",
                duration_ms=0,
                delivered=False,
            )
            raise ApplicationError(f"refused: {blocked}", type="WebhookTargetBlocked", non_retryable=True)
        body = job.payload.encode()
        headers = {
            "Content-Type": "application/json",
            webhook_signature.HEADER: webhook_signature.sign(self.secrets.open(job.secret), body),
            webhook_signature.EVENT_ID_HEADER: str(job.event_id),
            webhook_signature.DELIVERY_ID_HEADER: str(job.delivery_id),
            webhook_signature.EVENT_TYPE_HEADER: job.event_type,
        }
        started = time.perf_counter()
        status: int | None = None
        error: str | None = None
        url, extensions = job.url, {}
        if vetted.address is not None:  # connect to the address just checked, not to a fresh lookup
            target = webhook_targets.pinned(job.url, vetted.address)
            url, headers["Host"] = target.url, target.host_header
            if target.tls_server_name is not None:
                extensions["sni_hostname"] = target.tls_server_name
        if vetted.unresolved is not None:  # no request: the client's own lookup might answer differently
            error = f"ConnectError: {vetted.unresolved}"[:500]
        else:
            try:
                response = await self._client().post(url, content=body, headers=headers, extensions=extensions)
                status = response.status_code
                if not 200 <= status < 300:
                    error = f"HTTP {status}: {response.text[:200]}"
            except httpx.HTTPError as exc:
                error = f"{type(exc).__name__}: {exc}"[:500]
        duration_ms = int((time.perf_counter() - started) * 1000)
        attempt = await metering_jobs.record_attempt(
            self.sessionmaker,
            org,
            delivery,
            status_code=status,
            error=error,
            duration_ms=duration_ms,
            delivered=error is None,
        )
        if error is not None:
            raise ApplicationError(f"attempt {attempt} failed: {error}")
        return "delivered"

    @activity.defn(name=FAIL_WEBHOOK_DELIVERY)
    @heartbeating
    async def fail_webhook_delivery(self, org_id: str, delivery_id: str, reason: str) -> None:
        await metering_jobs.mark_failed(self.sessionmaker, uuid.UUID(org_id), uuid.UUID(delivery_id), reason[:500])
