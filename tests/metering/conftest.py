"""Metering fixtures: an API app with generous ingest limits, an org with clients, sites and meters, and
helpers to build CloudEvents and an independent Python oracle for their aggregates."""

from __future__ import annotations

import itertools
import threading
import uuid
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, time, timedelta
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from zoneinfo import ZoneInfo

import msgspec
import pytest
from litestar.testing import AsyncTestClient

from core.settings import load_settings
from tests.conftest import OrgHandle, make_org

BATCH = "application/cloudevents-batch+json"
SINGLE = "application/cloudevents+json"
_ids = itertools.count()
_encoder = msgspec.json.Encoder(decimal_format="number")


@pytest.fixture(scope="session")
async def metering_app(app_database_url: str, temporal_address: str):  # type: ignore[no-untyped-def]
    from api.app import create_app

    # The webhook receivers the tests start listen on 127.0.0.1: allow private targets here (the refusal of
    # private targets is tested with the default settings in test_webhook_targets.py).
    settings = msgspec.structs.replace(
        load_settings(),
        temporal_address=temporal_address,
        events_rate_per_s=1e9,
        events_burst=10**9,
        webhook_allow_private=True,
    )
    return create_app(settings, database_url=app_database_url)


@pytest.fixture(scope="session")
async def mclient(metering_app) -> AsyncIterator[AsyncTestClient]:  # type: ignore[no-untyped-def]
    async with AsyncTestClient(app=metering_app) as test_client:
        yield test_client


@dataclass
class MeteredOrg:
    """An org with clients (external keys), their sites, and meters created through the API."""

    org: OrgHandle
    clients: dict[str, str] = field(default_factory=dict)  # external key -> client id
    sites: dict[str, list[str]] = field(default_factory=dict)  # external key -> site codes
    meters: dict[str, dict[str, Any]] = field(default_factory=dict)  # key -> API representation

    def headers(self, **extra: str) -> dict[str, str]:
        return self.org.headers(**extra)


async def add_client(client, org: MeteredOrg, key: str, *, tz: str = "UTC", sites: Iterable[str] = ()) -> str:
    body = {"name": key.title(), "external_key": key, "currency": "USD", "timezone": tz}
    created = await client.post("/v1/clients", json=body, headers=org.headers())
    assert created.status_code == 201, created.text
    client_id = created.json()["id"]
    org.clients[key] = client_id
    org.sites[key] = []
    for code in sites:
        site = await client.post(
            f"/v1/clients/{client_id}/sites", json={"code": code, "name": code}, headers=org.headers()
        )
        assert site.status_code == 201, site.text
        org.sites[key].append(code)
    return client_id


async def add_meter(client, org: MeteredOrg, **body: Any) -> dict[str, Any]:
    created = await client.post("/v1/meters", json=body, headers=org.headers())
    assert created.status_code == 201, created.text
    org.meters[body["key"]] = created.json()
    return created.json()


STANDARD_METERS = [
    {
        "key": "tokens",
        "name": "LLM tokens",
        "event_type": "ai.tokens",
        "aggregation": "sum",
        "value_path": "tokens",
        "provider_cost_path": "cost",
        "group_by": {"model": "model"},
        "unit": "tokens",
    },
    {
        "key": "requests",
        "name": "Requests",
        "event_type": "ai.tokens",
        "aggregation": "count",
        "group_by": {"model": "model"},
    },
    {"key": "peak", "name": "Peak context", "event_type": "ai.tokens", "aggregation": "max", "value_path": "context"},
    {
        "key": "users",
        "name": "Active users",
        "event_type": "ai.tokens",
        "aggregation": "unique_count",
        "value_path": "user",
    },
    {"key": "seats", "name": "Seats", "event_type": "seats.snapshot", "aggregation": "latest", "value_path": "seats"},
    {
        "key": "documents",
        "name": "Documents",
        "event_type": "docs.processed",
        "aggregation": "sum",
        "value_path": "usage.pages",
        "group_by": {"category": "category"},
    },
]


@pytest.fixture
async def metered(mclient, sessionmaker) -> MeteredOrg:
    """Two clients (UTC and Asia/Kolkata), two sites each, every kind of meter."""
    handle = MeteredOrg(org=await make_org(sessionmaker, "Metered Org"))
    await add_client(mclient, handle, "acme", sites=["berlin", "paris"])
    await add_client(mclient, handle, "globex", tz="Asia/Kolkata", sites=["pune", "delhi"])
    for meter in STANDARD_METERS:
        await add_meter(mclient, handle, **meter)
    return handle


DROP = object()


def tokens_data(**overrides: Any) -> dict[str, Any]:
    """Valid ``data`` for an ``ai.tokens`` event (every meter on that type finds its value); ``DROP`` removes."""
    data: dict[str, Any] = {"site": "berlin", "model": "m", "tokens": 10, "context": 100, "user": "u1"}
    data.update(overrides)
    return {k: v for k, v in data.items() if v is not DROP}


def event(
    subject: str = "acme",
    *,
    type: str = "ai.tokens",
    time: datetime | str | None = None,
    data: Any = None,
    id: str | None = None,
    source: str = "tests",
    **extra: Any,
) -> dict[str, Any]:
    when = time if time is not None else datetime.now(UTC) - timedelta(minutes=1)
    body: dict[str, Any] = {
        "specversion": "1.0",
        "id": id or f"ev-{uuid.uuid4().hex}-{next(_ids)}",
        "source": source,
        "type": type,
        "subject": subject,
        "time": when.isoformat() if isinstance(when, datetime) else when,
        "data": data if data is not None else tokens_data(site="berlin" if subject != "globex" else "pune"),
    }
    body.update(extra)
    return body


async def post_batch(client, org: MeteredOrg, events: list[dict[str, Any]], *, expect: int = 200) -> dict[str, Any]:
    response = await client.post(
        "/v1/events", content=_encoder.encode(events), headers=org.headers(**{"Content-Type": BATCH})
    )
    assert response.status_code == expect, response.text
    return response.json()


# ---- an independent oracle: aggregate the sent events in Python --------------------------------------------


def _get(data: Any, path: str) -> Any:
    value = data
    for key in path.split("."):
        if not isinstance(value, dict) or key not in value:
            return None
        value = value[key]
    return value


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def window_of(at: datetime, start: datetime, window: str | None, zone: ZoneInfo) -> datetime:
    """The window an instant falls in, computed per event by flooring its local time (independent of the
    boundary enumeration the implementation uses)."""
    if window is None:
        return start
    local = at.astimezone(zone)
    if window == "hour":
        floor = local.replace(minute=0, second=0, microsecond=0)
    elif window == "day":
        floor = datetime.combine(local.date(), time(0), tzinfo=zone)
    else:
        floor = datetime.combine(local.date().replace(day=1), time(0), tzinfo=zone)
    return max(start, floor.astimezone(UTC))


def oracle(
    events: list[dict[str, Any]],
    meters: dict[str, dict[str, Any]],
    *,
    start: datetime,
    end: datetime,
    window: str | None = None,
    zone: ZoneInfo = ZoneInfo("UTC"),
    group_by: list[str] | None = None,
    subject: str | None = None,
) -> dict[tuple[Any, ...], tuple[Decimal, Decimal | None, int]]:
    """(window start, subject, meter, sorted dims) -> (quantity, provider cost, event count).

    ``events`` must be the accepted events only (duplicates removed). Decimal arithmetic from the JSON text.
    """
    groups: dict[tuple[Any, ...], list[tuple[dict[str, Any], datetime]]] = {}
    for ev in events:
        at = datetime.fromisoformat(ev["time"]).astimezone(UTC)
        if not (start <= at < end) or (subject is not None and ev["subject"] != subject):
            continue
        win = window_of(at, start, window, zone)
        for key, meter in meters.items():
            if meter["event_type"] != ev["type"] or meter.get("_since", at) > at:
                continue
            data = ev["data"]
            dims: dict[str, str] = {}
            site = _get(data, meter["site_path"]) if meter["site_path"] else None
            if site is not None:
                dims["site"] = _text(site)
            for name, path in meter["group_by"].items():
                value = _get(data, path)
                if value is not None:
                    dims[name] = _text(value)
            if group_by is not None:
                dims = {k: v for k, v in dims.items() if k in group_by}
            groups.setdefault((win, ev["subject"], key, tuple(sorted(dims.items()))), []).append((ev, at))
    out: dict[tuple[Any, ...], tuple[Decimal, Decimal | None, int]] = {}
    for gkey, members in groups.items():
        meter = meters[gkey[2]]
        agg = meter["aggregation"]
        if agg in ("sum", "max", "latest"):
            values = [Decimal(str(_get(ev["data"], meter["value_path"]))) for ev, _ in members]
        if agg == "sum":
            quantity = sum(values, Decimal(0))
        elif agg == "count":
            quantity = Decimal(len(members))
        elif agg == "max":
            quantity = max(values)
        elif agg == "latest":
            best = max(members, key=lambda m: (m[1], m[0]["source"].encode(), m[0]["id"].encode()))
            quantity = Decimal(str(_get(best[0]["data"], meter["value_path"])))
        else:
            quantity = Decimal(len({_text(_get(ev["data"], meter["value_path"])) for ev, _ in members}))
        costs = [
            Decimal(str(c))
            for ev, _ in members
            if meter["provider_cost_path"] and (c := _get(ev["data"], meter["provider_cost_path"])) is not None
        ]
        out[gkey] = (quantity, sum(costs, Decimal(0)) if costs else None, len(members))
    return out


def api_rows(
    items: list[dict[str, Any]], clients: dict[str, str]
) -> dict[tuple[Any, ...], tuple[Decimal, Decimal | None, int]]:
    by_id = {v: k for k, v in clients.items()}
    out = {}
    for item in items:
        key = (
            datetime.fromisoformat(item["window_start"]),
            by_id[item["client_id"]],
            item["meter"],
            tuple(sorted(item["dimensions"].items())),
        )
        cost = item["provider_cost"]
        out[key] = (Decimal(item["quantity"]), Decimal(cost) if cost is not None else None, item["event_count"])
    return out


# ---- webhooks: a real receiver -----------------------------------------------------------------------------


@dataclass
class Received:
    headers: dict[str, str]
    body: bytes


@dataclass
class Receiver:
    """A local HTTP server answering with scripted status codes (then 200), recording every request."""

    script: list[int] = field(default_factory=list)
    requests: list[Received] = field(default_factory=list)
    server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        assert self.server is not None
        return f"http://127.0.0.1:{self.server.server_address[1]}/hooks/agencyflow"

    def start(self) -> None:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                receiver.requests.append(Received({k.lower(): v for k, v in self.headers.items()}, body))
                status = receiver.script.pop(0) if receiver.script else 200
                self.send_response(status)
                self.end_headers()
                self.wfile.write(b"ok" if status < 300 else b"nope")

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()


@pytest.fixture
def receiver():
    r = Receiver()
    r.start()
    yield r
    r.stop()


async def create_endpoint(mclient, metered, url: str, **extra: Any) -> dict:
    created = await mclient.post("/v1/webhooks", json={"url": url, **extra}, headers=metered.headers())
    assert created.status_code == 201, created.text
    return created.json()


async def deliveries(mclient, metered, endpoint_id: str) -> list[dict]:
    response = await mclient.get(f"/v1/webhooks/{endpoint_id}/deliveries", headers=metered.headers())
    assert response.status_code == 200
    return response.json()["items"]


async def run_test_delivery(
    temporal_env: Any,
    sessionmaker: Any,
    org_id: uuid.UUID,
    task_queue: str,
    *,
    max_attempts: int = 5,
    event_id: uuid.UUID | None = None,
    data: dict[str, Any] | None = None,
) -> tuple[uuid.UUID, str]:
    """Enqueue one ``webhook.test`` event (one delivery: the org has one endpoint) and run its delivery
    workflow on ``task_queue`` with 0.1 s between attempts; returns (delivery id, workflow result)."""
    from persistence.db import tenant_session
    from persistence.metering_jobs import WebhookEvent, enqueue_event
    from workflows.names import WEBHOOK_DELIVERY_WORKFLOW

    event = WebhookEvent(
        id=event_id or uuid.uuid4(), type="webhook.test", created_at=datetime.now(UTC), data=data or {}
    )
    async with tenant_session(sessionmaker, org_id) as session:
        [(_org, delivery_id)] = await enqueue_event(session, org_id, event)
    handle = await temporal_env.client.start_workflow(
        WEBHOOK_DELIVERY_WORKFLOW,
        args=[str(org_id), str(delivery_id), 0.1, max_attempts],
        id=f"test-delivery-{delivery_id}",
        task_queue=task_queue,
    )
    return delivery_id, await handle.result()
