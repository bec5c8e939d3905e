"""POST /v1/events: every response code, every per-event reason, dedupe exactness, late and unmatched events."""

from __future__ import annotations

import asyncio
import random
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import msgspec
import pytest
from litestar.testing import AsyncTestClient
from sqlalchemy import text

from core.permissions import Role, Scope
from core.settings import load_settings
from persistence.api_key_store import issue_key
from persistence.billing_locks import lock_period
from persistence.db import tenant_session
from tests.metering.conftest import BATCH, DROP, SINGLE, add_client, add_meter, event, post_batch, tokens_data

NOW = datetime.now(UTC)


async def stored(sessionmaker, org, where: str = "true") -> list:
    async with tenant_session(sessionmaker, org.org.id) as session:
        return (
            await session.execute(
                text(f"SELECT source, event_id, late, unmatched, client_id, data FROM usage_events WHERE {where}")
            )
        ).all()


async def key_with(sessionmaker, org, role: Role, scopes: list[Scope]) -> dict[str, str]:
    async with tenant_session(sessionmaker, org.org.id) as session:
        _, token = await issue_key(
            session, org_id=org.org.id, name="limited", role=role.value, scopes=[s.value for s in scopes]
        )
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture
async def custom_app(app_database_url, temporal_address):
    """An app with chosen ingest settings (rate limit, body size)."""
    clients: list[AsyncTestClient] = []

    async def make(**overrides) -> AsyncTestClient:
        from api.app import create_app

        settings = msgspec.structs.replace(load_settings(), temporal_address=temporal_address, **overrides)
        test_client = AsyncTestClient(app=create_app(settings, database_url=app_database_url))
        await test_client.__aenter__()
        clients.append(test_client)
        return test_client

    yield make
    for c in clients:
        await c.__aexit__(None, None, None)


# ---- response codes ------------------------------------------------------------------------------------------


async def test_single_event_accepted_then_duplicate(mclient, metered, sessionmaker) -> None:
    ev = event(data=tokens_data(site="paris", tokens=3))
    headers = metered.headers(**{"Content-Type": SINGLE})
    first = await mclient.post("/v1/events", content=msgspec.json.encode(ev), headers=headers)
    assert first.status_code == 200
    assert first.json()["results"] == [{"index": 0, "status": "accepted"}]
    assert first.json()["batch_id"] is not None
    again = await mclient.post("/v1/events", content=msgspec.json.encode(ev), headers=headers)
    assert again.status_code == 200
    assert again.json()["results"][0]["status"] == "duplicate"
    assert again.json()["batch_id"] is None
    assert len(await stored(sessionmaker, metered, f"event_id = '{ev['id']}'")) == 1


async def test_rejected_single_event_is_422_naming_field_and_reason(mclient, metered) -> None:
    ev = event(time="2026-01-01T00:00:00")
    response = await mclient.post(
        "/v1/events", content=msgspec.json.encode(ev), headers=metered.headers(**{"Content-Type": SINGLE})
    )
    assert response.status_code == 422
    problem = response.json()
    assert problem["extra"] == {"reason": "bad_time"}
    assert problem["errors"][0]["pointer"] == "/time"


async def test_plain_json_accepts_an_object_or_an_array(mclient, metered) -> None:
    headers = metered.headers(**{"Content-Type": "application/json"})
    one = await mclient.post("/v1/events", content=msgspec.json.encode(event()), headers=headers)
    many = await mclient.post("/v1/events", content=msgspec.json.encode([event(), event()]), headers=headers)
    assert one.status_code == many.status_code == 200
    assert one.json()["accepted"] == 1 and many.json()["accepted"] == 2


@pytest.mark.parametrize(
    ("body", "content_type", "status"),
    [
        (b"[{", BATCH, 400),
        (b"", BATCH, 400),
        (b"{}", BATCH, 422),
        (b"[]", BATCH, 422),
        (b"[1]", SINGLE, 422),
        (b"[]", "text/plain", 415),
        (b"[]", "application/xml", 415),
    ],
)
async def test_body_level_errors(mclient, metered, body, content_type, status) -> None:
    response = await mclient.post("/v1/events", content=body, headers=metered.headers(**{"Content-Type": content_type}))
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"


async def test_more_than_10000_events_is_413(mclient, metered) -> None:
    events = [event() for _ in range(10_001)]
    response = await mclient.post(
        "/v1/events", content=msgspec.json.encode(events), headers=metered.headers(**{"Content-Type": BATCH})
    )
    assert response.status_code == 413
    assert "10000" in response.json()["detail"]


async def test_a_batch_of_exactly_10000_is_accepted(mclient, metered, sessionmaker) -> None:
    events = [event(data=tokens_data(tokens=i)) for i in range(10_000)]
    result = await post_batch(mclient, metered, events)
    assert result["accepted"] == 10_000
    assert len(result["results"]) == 10_000


async def test_body_over_the_events_limit_is_413(custom_app, metered) -> None:
    small = await custom_app(events_max_body_bytes=2_000, events_rate_per_s=1e9, events_burst=10**9)
    events = [event() for _ in range(20)]
    response = await small.post(
        "/v1/events", content=msgspec.json.encode(events), headers=metered.headers(**{"Content-Type": BATCH})
    )
    assert response.status_code == 413
    fits = await small.post(
        "/v1/events", content=msgspec.json.encode(events[:2]), headers=metered.headers(**{"Content-Type": BATCH})
    )
    assert fits.status_code == 200


async def test_events_limit_is_larger_than_the_app_default(mclient, metered) -> None:
    settings = load_settings()
    assert settings.events_max_body_bytes > settings.max_body_bytes
    events = [event(data=tokens_data(model="x" * 150)) for _ in range(6_000)]
    body = msgspec.json.encode(events)
    assert len(body) > settings.max_body_bytes
    response = await mclient.post("/v1/events", content=body, headers=metered.headers(**{"Content-Type": BATCH}))
    assert response.status_code == 200
    assert response.json()["accepted"] == 6_000


async def test_rate_limit_per_key_answers_429_with_retry_after(custom_app, metered, sessionmaker) -> None:
    # One token per 100 s: however slow the first request is, nothing refills before the second.
    limited = await custom_app(events_rate_per_s=0.01, events_burst=10)
    headers = metered.headers(**{"Content-Type": BATCH})
    first = await limited.post("/v1/events", content=msgspec.json.encode([event() for _ in range(10)]), headers=headers)
    assert first.status_code == 200
    second = await limited.post("/v1/events", content=msgspec.json.encode([event()]), headers=headers)
    assert second.status_code == 429
    assert 90 <= int(second.headers["retry-after"]) <= 100
    # Another key of the same org has its own bucket.
    other = await key_with(sessionmaker, metered, Role.ADMIN, [Scope.EVENTS_WRITE])
    third = await limited.post(
        "/v1/events", content=msgspec.json.encode([event()]), headers={**other, "Content-Type": BATCH}
    )
    assert third.status_code == 200


async def test_auth_scope_and_role(mclient, metered, sessionmaker) -> None:
    body = msgspec.json.encode([event()])
    assert (await mclient.post("/v1/events", content=body, headers={"Content-Type": BATCH})).status_code == 401
    no_scope = await key_with(sessionmaker, metered, Role.OWNER, [Scope.READ, Scope.WRITE])
    response = await mclient.post("/v1/events", content=body, headers={**no_scope, "Content-Type": BATCH})
    assert response.status_code == 403
    ingest_only = await key_with(sessionmaker, metered, Role.DELIVERY_LEAD, [Scope.EVENTS_WRITE])
    response = await mclient.post("/v1/events", content=body, headers={**ingest_only, "Content-Type": BATCH})
    assert response.status_code == 200
    # An ingest-only key cannot read usage.
    assert (
        await mclient.get("/v1/usage?from=2026-01-01T00:00:00Z&to=2026-01-02T00:00:00Z", headers=ingest_only)
    ).status_code == 403
    staff = metered.org.headers(Role.STAFF, **{"Content-Type": BATCH})
    assert (await mclient.post("/v1/events", content=body, headers=staff)).status_code == 403


# ---- per-event reasons ------------------------------------------------------------------------------------------


def _reasons() -> list[tuple[dict, str, str]]:
    ok = event()
    return [
        ({**ok, "specversion": "0.3"}, "bad_specversion", "/specversion"),
        ({k: v for k, v in ok.items() if k != "specversion"}, "bad_specversion", "/specversion"),
        ({**ok, "id": ""}, "missing_id", "/id"),
        ({k: v for k, v in ok.items() if k != "source"}, "missing_source", "/source"),
        ({k: v for k, v in ok.items() if k != "type"}, "missing_type", "/type"),
        ({k: v for k, v in ok.items() if k != "subject"}, "missing_subject", "/subject"),
        ({**ok, "id": "x" * 257}, "too_long", "/id"),
        ({k: v for k, v in ok.items() if k != "time"}, "bad_time", "/time"),
        ({**ok, "time": "2026-01-01T10:00:00"}, "bad_time", "/time"),
        ({**ok, "time": "yesterday"}, "bad_time", "/time"),
        ({**ok, "time": (NOW + timedelta(hours=2)).isoformat()}, "bad_time", "/time"),
        ({**ok, "time": (NOW - timedelta(days=400)).isoformat()}, "bad_time", "/time"),
        ({**ok, "id": 17}, "invalid_event", "/id"),
        ({**ok, "data_base64": "AAAA"}, "bad_data", "/data_base64"),
        ({**ok, "data": tokens_data(tokens=DROP)}, "missing_value", "/data/tokens"),
        ({**ok, "data": tokens_data(tokens="12")}, "value_not_a_number", "/data/tokens"),
        ({**ok, "data": tokens_data(tokens=True)}, "value_not_a_number", "/data/tokens"),
        ({**ok, "data": tokens_data(tokens=10**31)}, "value_not_a_number", "/data/tokens"),
        ({**ok, "data": tokens_data(cost="cheap")}, "cost_not_a_number", "/data/cost"),
        ({**ok, "data": tokens_data(site="tokyo")}, "unknown_site", "/data/site"),
        ({**ok, "data": tokens_data(site=7)}, "bad_dimension", "/data/site"),
        ({**ok, "data": tokens_data(model={"x": 1})}, "bad_dimension", "/data/model"),
        ({**ok, "data": tokens_data(user=[1])}, "bad_value", "/data/user"),
        ({**ok, "data": tokens_data(other="@@BIG@@")}, "bad_data", "/data"),
        ({**ok, "data": "plain text"}, "missing_value", "/data/tokens"),
        ({**ok, "data": tokens_data(note="a\u0000b")}, "bad_character", "/data"),
        ({**ok, "source": "a\u0000b"}, "bad_character", "/source"),
    ]


async def test_every_rejection_reason_and_the_good_events_survive(mclient, metered, sessionmaker) -> None:
    cases = _reasons()
    good = [event(data=tokens_data(tokens=i)) for i in range(3)]
    events = [good[0], *[c[0] for c in cases], good[1], 42, good[2]]
    # A unique id per case, so none is a duplicate of another.
    for i, (ev, _, _) in enumerate(cases):
        if isinstance(ev.get("id"), str) and ev["id"] and len(ev["id"]) < 200 and "\u0000" not in ev.get("source", ""):
            ev["id"] = f"{ev['id']}-{i}"
    body = msgspec.json.encode(events).replace(b'"@@BIG@@"', b"1.5e5000")  # not storable in PostgreSQL
    response = await mclient.post("/v1/events", content=body, headers=metered.headers(**{"Content-Type": BATCH}))
    assert response.status_code == 200, response.text
    result = response.json()
    results = result["results"]
    assert [r["index"] for r in results] == list(range(len(events)))
    assert results[0]["status"] == results[-3]["status"] == results[-1]["status"] == "accepted"
    assert results[-2] == {
        "index": len(events) - 2,
        "status": "rejected",
        "reason": "invalid_event",
        "detail": "each batch element must be a JSON object",
    }
    wrong = [
        (offset, reason, pointer, got)
        for offset, (_, reason, pointer) in enumerate(cases, start=1)
        if ((got := results[offset])["status"], got.get("reason"), got.get("pointer")) != ("rejected", reason, pointer)
        or not got.get("detail")
    ]
    assert wrong == []
    assert result["accepted"] == 3
    assert result["rejected"] == len(cases) + 1
    rows = await stored(sessionmaker, metered)
    assert sorted(r.event_id for r in rows) == sorted(g["id"] for g in good)


# ---- dedupe -------------------------------------------------------------------------------------------------------


async def test_duplicates_within_one_batch(mclient, metered, sessionmaker) -> None:
    a, b = event(), event()
    result = await post_batch(mclient, metered, [a, b, a, dict(a), b])
    assert [r["status"] for r in result["results"]] == ["accepted", "accepted", "duplicate", "duplicate", "duplicate"]
    assert result["results"][2]["detail"] == "same source and id as index 0"
    assert (result["accepted"], result["duplicates"]) == (2, 3)
    assert len(await stored(sessionmaker, metered)) == 2


async def test_same_id_from_another_source_is_not_a_duplicate(mclient, metered) -> None:
    a = event(id="shared-id", source="app-1")
    b = event(id="shared-id", source="app-2")
    result = await post_batch(mclient, metered, [a, b])
    assert result["accepted"] == 2


async def test_duplicates_across_batches_even_with_other_time_or_data(mclient, metered, sessionmaker) -> None:
    a = event(data=tokens_data(tokens=5))
    await post_batch(mclient, metered, [a])
    changed = {**a, "time": (NOW - timedelta(days=40)).isoformat(), "data": tokens_data(site="paris", tokens=9)}
    result = await post_batch(mclient, metered, [changed, event()])
    assert [r["status"] for r in result["results"]] == ["duplicate", "accepted"]
    rows = await stored(sessionmaker, metered, f"event_id = '{a['id']}'")
    assert len(rows) == 1 and rows[0].data["tokens"] == 5


async def test_eight_concurrent_senders_with_overlapping_batches_count_exactly(mclient, metered, sessionmaker) -> None:
    uniques = [event(data=tokens_data(site=random.choice(["berlin", "paris"]), tokens=i)) for i in range(1200)]
    rnd = random.Random(7)

    def batch() -> list[dict]:
        picked = rnd.sample(uniques, 400)
        return picked + rnd.sample(picked, 40)  # in-batch duplicates too

    plans = [[batch() for _ in range(4)] for _ in range(8)]
    sent = [ev["id"] for plan in plans for b in plan for ev in b]
    everyone = {ev["id"] for plan in plans for b in plan for ev in b}

    async def sender(plan: list[list[dict]]) -> list[dict]:
        return [await post_batch(mclient, metered, b) for b in plan]

    outcomes = [r for rs in await asyncio.gather(*(sender(p) for p in plans)) for r in rs]
    accepted = sum(o["accepted"] for o in outcomes)
    duplicates = sum(o["duplicates"] for o in outcomes)
    assert accepted == len(everyone)
    assert duplicates == len(sent) - len(everyone)
    rows = await stored(sessionmaker, metered)
    assert len(rows) == len(everyone)
    assert {r.event_id for r in rows} == everyone
    usage = await mclient.get(
        "/v1/usage",
        params={
            "from": (NOW - timedelta(days=1)).isoformat(),
            "to": (NOW + timedelta(days=1)).isoformat(),
            "meter": "tokens",
            "group_by": "",
        },
        headers=metered.headers(),
    )
    [item] = usage.json()["items"]
    expected = sum(Decimal(ev["data"]["tokens"]) for ev in uniques if ev["id"] in everyone)
    assert Decimal(item["quantity"]) == expected
    assert item["event_count"] == len(everyone)


# ---- late, unmatched, configuration changes ----------------------------------------------------------------------


async def test_events_in_a_locked_period_are_accepted_and_flagged_late(mclient, metered, sessionmaker) -> None:
    client_id = metered.clients["acme"]
    start = (NOW - timedelta(days=70)).replace(hour=0, minute=0, second=0, microsecond=0)
    end = start + timedelta(days=30)
    import uuid

    async with tenant_session(sessionmaker, metered.org.id) as session:
        await lock_period(
            session,
            org_id=metered.org.id,
            client_id=uuid.UUID(client_id),
            period="2026-P1",
            period_start=start,
            period_end=end,
            invoice_id=None,
        )
    inside = event(time=start + timedelta(days=3))
    boundary = event(time=end)  # the lock is [start, end)
    other_client = event(subject="globex", time=start + timedelta(days=3))
    result = await post_batch(mclient, metered, [inside, boundary, other_client])
    assert result["results"][0] == {"index": 0, "status": "accepted", "late": True}
    assert result["results"][1] == {"index": 1, "status": "accepted"}
    assert result["results"][2] == {"index": 2, "status": "accepted"}
    assert result["late"] == 1
    rows = {r.event_id: r.late for r in await stored(sessionmaker, metered)}
    assert rows == {inside["id"]: True, boundary["id"]: False, other_client["id"]: False}


async def test_unmatched_events_are_stored_listed_and_not_counted(mclient, metered) -> None:
    unknown_client = event(subject="nobody")
    unknown_type = event(type="ai.images", data={"n": 1})
    counted = event()
    result = await post_batch(mclient, metered, [unknown_client, unknown_type, counted])
    assert [r.get("unmatched") for r in result["results"]] == ["unknown_subject", "no_meter", None]
    assert result["unmatched"] == 2 and result["accepted"] == 3
    listed = await mclient.get("/v1/usage/unmatched", headers=metered.headers())
    assert listed.status_code == 200
    items = listed.json()["items"]
    assert [(i["id"], i["reason"]) for i in items] == [
        (unknown_client["id"], "unknown_subject"),
        (unknown_type["id"], "no_meter"),
    ]
    assert items[1]["data"] == {"n": 1}
    assert items[0]["client_id"] is None and items[1]["client_id"] == metered.clients["acme"]
    only = await mclient.get("/v1/usage/unmatched?reason=no_meter", headers=metered.headers())
    assert [i["id"] for i in only.json()["items"]] == [unknown_type["id"]]
    page1 = await mclient.get("/v1/usage/unmatched?limit=1", headers=metered.headers())
    page2 = await mclient.get(
        f"/v1/usage/unmatched?limit=1&cursor={page1.json()['next_cursor']}", headers=metered.headers()
    )
    assert [i["id"] for i in page1.json()["items"] + page2.json()["items"]] == [
        unknown_client["id"],
        unknown_type["id"],
    ]
    assert page2.json()["next_cursor"] is None
    usage = await mclient.get(
        "/v1/usage",
        params={
            "from": (NOW - timedelta(days=1)).isoformat(),
            "to": (NOW + timedelta(days=1)).isoformat(),
            "meter": "requests",
            "group_by": "",
        },
        headers=metered.headers(),
    )
    assert [i["quantity"] for i in usage.json()["items"]] == ["1"]


async def test_new_client_site_and_meter_are_seen_by_the_next_batch(mclient, metered) -> None:
    first = await post_batch(mclient, metered, [event(subject="initech", data=tokens_data(site="x1"))])
    assert first["results"][0]["unmatched"] == "unknown_subject"
    await add_client(mclient, metered, "initech", sites=["x1"])
    second = await post_batch(mclient, metered, [event(subject="initech", data=tokens_data(site="x1"))])
    assert second["results"][0] == {"index": 0, "status": "accepted"}
    third = await post_batch(mclient, metered, [event(subject="initech", data=tokens_data(site="x2"))])
    assert third["results"][0]["reason"] == "unknown_site"
    site = await mclient.post(
        f"/v1/clients/{metered.clients['initech']}/sites", json={"code": "x2", "name": "x2"}, headers=metered.headers()
    )
    assert site.status_code == 201
    fourth = await post_batch(mclient, metered, [event(subject="initech", data=tokens_data(site="x2"))])
    assert fourth["results"][0] == {"index": 0, "status": "accepted"}
    fifth = await post_batch(mclient, metered, [event(type="ai.audio", data={"seconds": 3})])
    assert fifth["results"][0]["unmatched"] == "no_meter"
    await add_meter(
        mclient, metered, key="audio", name="Audio", event_type="ai.audio", aggregation="sum", value_path="seconds"
    )
    sixth = await post_batch(mclient, metered, [event(type="ai.audio", data={"seconds": 3})])
    assert sixth["results"][0] == {"index": 0, "status": "accepted"}


async def test_events_are_isolated_per_org(mclient, metered, other_org, sessionmaker) -> None:
    ev = event()
    await post_batch(mclient, metered, [ev])
    # The same source and id in another org is not a duplicate, and lands there as unmatched.
    other = await mclient.post(
        "/v1/events", content=msgspec.json.encode([ev]), headers=other_org.headers(**{"Content-Type": BATCH})
    )
    assert other.json()["results"][0] == {"index": 0, "status": "accepted", "unmatched": "unknown_subject"}
    async with tenant_session(sessionmaker, other_org.id) as session:
        mine = (
            await session.execute(text("SELECT count(*) FROM usage_events WHERE org_id = :o"), {"o": metered.org.id})
        ).scalar_one()
        keys = (await session.execute(text("SELECT count(*) FROM usage_event_keys"))).scalar_one()
    assert mine == 0 and keys == 1
    listed = await mclient.get("/v1/usage/unmatched", headers=metered.headers())
    assert listed.json()["items"] == []


async def test_an_event_for_a_month_without_partition_creates_it(mclient, metered, admin_engine) -> None:
    old = (NOW - timedelta(days=330)).replace(day=15)
    name = f"usage_events_p{old:%Y%m}"
    async with admin_engine.begin() as conn:
        await conn.execute(text(f"DROP TABLE IF EXISTS {name}"))
    from persistence.ingest import PARTITIONS

    PARTITIONS._known.clear()
    result = await post_batch(mclient, metered, [event(time=old)])
    assert result["accepted"] == 1
    async with admin_engine.connect() as conn:
        exists = (await conn.execute(text("SELECT to_regclass(:n) IS NOT NULL"), {"n": name})).scalar_one()
    assert exists


async def test_client_with_usage_cannot_be_deleted(mclient, metered) -> None:
    await post_batch(mclient, metered, [event()])
    response = await mclient.delete(f"/v1/clients/{metered.clients['acme']}", headers=metered.headers())
    assert response.status_code == 409


async def test_ingest_is_audited_once_per_request(mclient, metered, sessionmaker) -> None:
    result = await post_batch(mclient, metered, [event(), event(time="bad")])
    async with tenant_session(sessionmaker, metered.org.id) as session:
        rows = (
            await session.execute(
                text("SELECT entity_id, detail FROM audit_log WHERE action = 'events.ingest' ORDER BY at")
            )
        ).all()
    assert len(rows) == 1
    assert rows[0].entity_id == str(result["batch_id"])
    assert rows[0].detail["accepted"] == 1 and rows[0].detail["rejected"] == 1


async def test_rematch_makes_unmatched_events_count_once_config_exists(mclient, metered, sessionmaker) -> None:
    import uuid as uuid_module

    from persistence.metering_jobs import compact_all

    start = (NOW - timedelta(days=40)).replace(hour=0, minute=0, second=0, microsecond=0)
    early = [
        event(subject="newco", time=start + timedelta(days=d), data=tokens_data(site="hq", tokens=10 * d))
        for d in (1, 2)
    ]
    recent = event(subject="newco", time=NOW - timedelta(hours=1), data=tokens_data(site="hq", tokens=5))
    video = event(type="ai.video", data={"site": "berlin", "frames": 3})
    result = await post_batch(mclient, metered, [*early, recent, video])
    assert [r["unmatched"] for r in result["results"]] == ["unknown_subject"] * 3 + ["no_meter"]

    client_id = await add_client(mclient, metered, "newco", sites=["hq"])
    async with tenant_session(sessionmaker, metered.org.id) as session:
        await lock_period(
            session,
            org_id=metered.org.id,
            client_id=uuid_module.UUID(client_id),
            period="P-newco",
            period_start=start,
            period_end=start + timedelta(days=30),
            invoice_id=None,
        )
    await add_meter(
        mclient, metered, key="video", name="Video", event_type="ai.video", aggregation="sum", value_path="seconds"
    )
    viewer = await mclient.post("/v1/usage/unmatched/rematch", json={}, headers=metered.org.headers(Role.STAFF))
    assert viewer.status_code == 403
    response = await mclient.post("/v1/usage/unmatched/rematch", json={"limit": 10}, headers=metered.headers())
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["examined"], body["matched"], body["still_unmatched"], body["invalid"]) == (4, 3, 0, 1)
    listed = (await mclient.get("/v1/usage/unmatched", headers=metered.headers())).json()["items"]
    assert [(i["id"], i["reason"]) for i in listed] == [(video["id"], "invalid:missing_value")]
    rows = {r.event_id: r.late for r in await stored(sessionmaker, metered, "subject = 'newco'")}
    assert rows == {early[0]["id"]: True, early[1]["id"]: True, recent["id"]: False}
    params = {
        "from": (start - timedelta(days=1)).isoformat(),
        "to": NOW.isoformat(),
        "client": client_id,
        "meter": "tokens",
        "group_by": "",
    }
    before_fold = (await mclient.get("/v1/usage", params=params, headers=metered.headers())).json()["items"]
    await compact_all(sessionmaker)
    after_fold = (await mclient.get("/v1/usage", params=params, headers=metered.headers())).json()["items"]
    assert [i["quantity"] for i in before_fold] == [i["quantity"] for i in after_fold] == ["35"]
    # Nothing left to do: a second call examines only the invalid one and changes nothing.
    again = (await mclient.post("/v1/usage/unmatched/rematch", json={}, headers=metered.headers())).json()
    assert (again["examined"], again["matched"], again["invalid"]) == (1, 0, 1)
    # The ids stay taken: re-sending is still a duplicate.
    resend = await post_batch(mclient, metered, [recent])
    assert resend["results"][0]["status"] == "duplicate"
