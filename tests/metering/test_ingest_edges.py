"""Ingest edges (issue 13): negative values only for meters that opt in, events that repeat a JSON key are
rejected, and CloudEvents binary content mode, sent with the official ``cloudevents`` SDK."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import msgspec
import pytest
from cloudevents.core.bindings import http as ce_http
from cloudevents.core.formats.json import JSONFormat
from cloudevents.core.v1.event import CloudEvent as SdkEvent

from tests.metering.conftest import BATCH, SINGLE, MeteredOrg, add_meter, event, post_batch, tokens_data

# ---- negative values ----------------------------------------------------------------------------------------


async def _tokens_sum(mclient, metered: MeteredOrg, meter: str = "tokens") -> Decimal:
    now = datetime.now(UTC)
    params = {
        "from": (now - timedelta(hours=2)).isoformat(),
        "to": (now + timedelta(hours=1)).isoformat(),
        "meter": meter,
        "client": metered.clients["acme"],
        "group_by": "",
    }
    response = await mclient.get("/v1/usage", params=params, headers=metered.headers())
    assert response.status_code == 200, response.text
    return sum((Decimal(row["quantity"]) for row in response.json()["items"]), Decimal(0))


async def test_a_negative_value_no_longer_drives_a_sum_meter_below_zero(mclient, metered) -> None:
    result = await post_batch(
        mclient, metered, [event(data=tokens_data(tokens=3)), event(data=tokens_data(tokens=-5))]
    )
    assert result["accepted"] == 1 and result["rejected"] == 1
    assert result["results"][1] == {
        "index": 1,
        "status": "rejected",
        "reason": "negative_value",
        "pointer": "/data/tokens",
        "detail": "data.tokens is negative; meter 'tokens' does not accept corrections (allow_negative)",
    }
    assert await _tokens_sum(mclient, metered) == Decimal(3)


async def test_negative_costs_and_fractions_are_refused_too_but_zero_is_fine(mclient, metered) -> None:
    result = await post_batch(
        mclient,
        metered,
        [
            event(data=tokens_data(tokens=1, cost=-0.5)),
            event(data=tokens_data(tokens=-0.25)),
            event(data=tokens_data(tokens=0, cost=-0.0)),
        ],
    )
    assert [(r["status"], r.get("pointer")) for r in result["results"]] == [
        ("rejected", "/data/cost"),
        ("rejected", "/data/tokens"),
        ("accepted", None),
    ]


async def test_a_meter_that_opts_in_takes_corrections(mclient, metered) -> None:
    meter = await add_meter(
        mclient,
        metered,
        key="credits",
        name="Credits",
        event_type="credits.used",
        aggregation="sum",
        value_path="amount",
        allow_negative=True,
    )
    assert meter["allow_negative"] is True
    amounts = [3, -5, Decimal("1.5")]
    sent = [event(type="credits.used", data={"amount": a, "site": "berlin"}) for a in amounts]
    result = await post_batch(mclient, metered, sent)
    assert result["accepted"] == 3, result
    assert await _tokens_sum(mclient, metered, "credits") == Decimal("-0.5")
    # Opting out again (PATCH) refuses negatives from the next batch on.
    patched = await mclient.patch(
        f"/v1/meters/{meter['id']}", json={"allow_negative": False}, headers=metered.headers()
    )
    assert patched.status_code == 200 and patched.json()["allow_negative"] is False
    again = await post_batch(mclient, metered, [event(type="credits.used", data={"amount": -1, "site": "berlin"})])
    assert again["results"][0]["reason"] == "negative_value"


async def test_meters_refuse_negatives_unless_every_meter_on_the_path_allows_them(mclient, metered) -> None:
    # "tokens" (refuses) and "tokens-net" (allows) both read data.tokens of ai.tokens events.
    await add_meter(
        mclient,
        metered,
        key="tokens-net",
        name="Net tokens",
        event_type="ai.tokens",
        aggregation="sum",
        value_path="tokens",
        allow_negative=True,
    )
    result = await post_batch(mclient, metered, [event(data=tokens_data(tokens=-1))])
    assert result["results"][0]["reason"] == "negative_value"
    assert "meter 'tokens'" in result["results"][0]["detail"]


async def test_new_meters_refuse_negatives_by_default(mclient, metered) -> None:
    assert all(meter["allow_negative"] is False for meter in metered.meters.values())
    bad = await mclient.post(
        "/v1/meters",
        json={"key": "x", "name": "X", "event_type": "x", "aggregation": "sum", "value_path": "v", "allow_negative": 1},
        headers=metered.headers(),
    )
    assert bad.status_code == 422
    assert bad.json()["errors"][0]["pointer"] == "/allow_negative"


# ---- duplicate keys -----------------------------------------------------------------------------------------


def _body_with(*events: str) -> bytes:
    return ("[" + ",".join(events) + "]").encode()


def _raw_event(data: str, *, envelope_extra: str = "", event_id: str | None = None) -> str:
    at = (datetime.now(UTC) - timedelta(minutes=1)).isoformat()
    ident = event_id or f"dup-{datetime.now(UTC).timestamp()}-{id(data)}-{len(envelope_extra)}"
    return (
        f'{{"specversion":"1.0","id":"{ident}","source":"tests","type":"ai.tokens","subject":"acme",'
        f'"time":"{at}"{envelope_extra},"data":{data}}}'
    )


GOOD_DATA = '{"site":"berlin","model":"m","tokens":2,"context":1,"user":"u"}'


async def test_an_event_repeating_a_data_key_is_rejected_with_its_pointer(mclient, metered) -> None:
    # Before: accepted, with the last "tokens" winning, so the sender's 1,000,000 and our 5 both "counted".
    body = _body_with(
        _raw_event(GOOD_DATA, event_id="dup-ok-1"),
        _raw_event('{"site":"berlin","model":"m","tokens":1000000,"context":1,"user":"u","tokens":5}'),
        _raw_event('{"site":"berlin","model":"m","tokens":2,"context":1,"user":"u","usage":{"a":1,"a":2}}'),
        _raw_event(GOOD_DATA, event_id="dup-ok-2"),
    )
    response = await mclient.post("/v1/events", content=body, headers=metered.headers(**{"Content-Type": BATCH}))
    assert response.status_code == 200, response.text
    results = response.json()["results"]
    assert [r["status"] for r in results] == ["accepted", "rejected", "rejected", "accepted"]
    assert results[1]["reason"] == "duplicate_key" and results[1]["pointer"] == "/data/tokens"
    assert results[1]["detail"] == "the key 'tokens' appears more than once in one object"
    assert results[2]["reason"] == "duplicate_key" and results[2]["pointer"] == "/data/usage/a"


async def test_an_event_repeating_an_attribute_is_rejected(mclient, metered) -> None:
    body = _body_with(
        _raw_event(GOOD_DATA, envelope_extra=',"subject":"globex"'),
        _raw_event(GOOD_DATA, envelope_extra=',"myextension":"kept out"', event_id="ext-ok"),
    )
    results = (
        await mclient.post("/v1/events", content=body, headers=metered.headers(**{"Content-Type": BATCH}))
    ).json()["results"]
    assert results[0]["status"] == "rejected"
    assert (results[0]["reason"], results[0]["pointer"]) == ("duplicate_key", "/subject")
    # An extension attribute (unknown to the decoder) is not a repeat.
    assert results[1]["status"] == "accepted"


async def test_a_single_event_repeating_a_key_answers_422_naming_it(mclient, metered) -> None:
    body = _raw_event('{"site":"berlin","model":"m","tokens":1,"context":1,"user":"u"}', envelope_extra=',"id":"x"')
    response = await mclient.post("/v1/events", content=body, headers=metered.headers(**{"Content-Type": SINGLE}))
    assert response.status_code == 422
    problem = response.json()
    assert problem["extra"]["reason"] == "duplicate_key"
    assert problem["errors"] == [{"pointer": "/id", "detail": "the key 'id' appears more than once in one object"}]


async def test_repeats_hidden_by_whitespace_or_by_strings_that_look_like_keys_are_found(mclient, metered) -> None:
    # Whitespace before the colon and a value containing '":' are the cases a naive count would get wrong.
    tricky = [
        '{"site":"berlin","model":"m","tokens":1,"context":1,"user":"u","tokens" :9}',
        '{"site" : "berlin", "model":"x\\":", "tokens" :1, "context":1, "user":"u", "tokens"\n:9}',
        '{"site":"berlin","model":"\\":\\":","tokens":1,"context":1,"user":"u"}',
    ]
    body = _body_with(*(_raw_event(d, event_id=f"tricky-{i}") for i, d in enumerate(tricky)))
    results = (
        await mclient.post("/v1/events", content=body, headers=metered.headers(**{"Content-Type": BATCH}))
    ).json()["results"]
    assert [(r["status"], r.get("reason")) for r in results] == [
        ("rejected", "duplicate_key"),
        ("rejected", "duplicate_key"),
        ("accepted", None),
    ]


def test_the_counting_check_agrees_with_the_exact_one() -> None:
    """Property: for random objects with and without repeats, whitespace and look-alike strings, the
    counting fast path never clears a body the exact parser finds a repeat in."""
    import random

    from persistence.ingest import _key_ends, _object_keys, duplicate_key

    rng = random.Random(13)
    keys = ["a", "b", "c", 'd\\":', " e"]

    def value(depth: int) -> str:
        roll = rng.random()
        if depth < 3 and roll < 0.25:
            return obj(depth + 1)
        if depth < 3 and roll < 0.35:
            return "[" + ",".join(value(depth + 1) for _ in range(rng.randint(0, 3))) + "]"
        return rng.choice(['1', '"x"', '"\\":"', '":"', "true", "null", '" : "'])

    def obj(depth: int) -> str:
        chosen = [rng.choice(keys) for _ in range(rng.randint(0, 4))]
        space = rng.choice(["", " ", "\n", "\t "])
        return "{" + ",".join(f'"{k}"{space}:{space}{value(depth)}' for k in chosen) + "}"

    checked = repeats = 0
    for _ in range(3000):
        raw = obj(0).encode()
        exact = duplicate_key(raw)
        repeats += exact is not None
        if _key_ends(raw) == _object_keys(msgspec.json.decode(raw)):
            assert exact is None, raw
            checked += 1
    assert repeats > 500 and checked > 500


# ---- binary content mode ------------------------------------------------------------------------------------


def _sdk_event(data: Any, **attributes: Any) -> SdkEvent:
    base = {
        "specversion": "1.0",
        "id": f"sdk-{datetime.now(UTC).timestamp()}-{id(data)}",
        "source": "https://app.example/sdk",
        "type": "ai.tokens",
        "subject": "acme",
        "time": datetime.now(UTC) - timedelta(minutes=1),
        "datacontenttype": "application/json",
    }
    base.update(attributes)
    return SdkEvent(base, data)


async def test_binary_mode_from_the_official_sdk_is_accepted(mclient, metered) -> None:
    # Before: the body (the data) was read as the event and rejected with bad_specversion.
    sdk_event = _sdk_event(tokens_data(tokens=7))
    message = ce_http.to_binary(sdk_event, JSONFormat())
    assert "ce-specversion" in message.headers and b"specversion" not in message.body
    response = await mclient.post("/v1/events", content=message.body, headers=metered.headers(**message.headers))
    assert response.status_code == 200, response.text
    assert response.json()["accepted"] == 1
    # The same event again (structured mode this time) is the same event: a duplicate.
    structured = ce_http.to_structured(sdk_event, JSONFormat())
    again = await mclient.post("/v1/events", content=structured.body, headers=metered.headers(**structured.headers))
    assert again.status_code == 200, again.text
    assert again.json()["duplicates"] == 1
    assert await _tokens_sum(mclient, metered) == Decimal(7)


async def test_binary_mode_attributes_are_percent_decoded(mclient, metered) -> None:
    # The SDK percent-encodes non-ASCII, spaces, quotes and '%' in header values (binding §3.1.3.2).
    sdk_event = _sdk_event(tokens_data(tokens=1), source='https://app.example/ünïcode "src" 100%')
    message = ce_http.to_binary(sdk_event, JSONFormat())
    assert "%" in message.headers["ce-source"]
    response = await mclient.post("/v1/events", content=message.body, headers=metered.headers(**message.headers))
    assert response.status_code == 200, response.text
    duplicate = await post_batch(
        mclient,
        metered,
        [event(id=sdk_event.get_id(), source='https://app.example/ünïcode "src" 100%', data=tokens_data(tokens=1))],
    )
    assert duplicate["duplicates"] == 1


async def test_binary_mode_rejections_name_the_header_or_the_body_pointer(mclient, metered) -> None:
    async def send(sdk_event: SdkEvent, **override: str) -> dict[str, Any]:
        message = ce_http.to_binary(sdk_event, JSONFormat())
        response = await mclient.post(
            "/v1/events", content=message.body, headers=metered.headers(**{**message.headers, **override})
        )
        assert response.status_code == 422, response.text
        problem = response.json()
        return {"reason": problem["extra"]["reason"], **problem["errors"][0]}

    assert await send(_sdk_event(tokens_data(tokens=-1))) == {
        "reason": "negative_value",
        "pointer": "/tokens",
        "detail": "data.tokens is negative; meter 'tokens' does not accept corrections (allow_negative)",
    }
    assert (await send(_sdk_event(tokens_data()), **{"ce-specversion": "0.3"}))["parameter"] == "ce-specversion"
    bad_time = await send(_sdk_event(tokens_data()), **{"ce-time": "yesterday"})
    assert (bad_time["reason"], bad_time["parameter"]) == ("bad_time", "ce-time")
    nul = await send(_sdk_event(tokens_data()), **{"ce-subject": "ac%00me"})
    assert (nul["reason"], nul["parameter"]) == ("bad_character", "ce-subject")
    text = await send(_sdk_event(tokens_data()), **{"content-type": "text/plain"})
    assert (text["reason"], text["parameter"]) == ("bad_data", "Content-Type")


async def test_binary_mode_body_repeating_a_key_is_rejected(mclient, metered) -> None:
    message = ce_http.to_binary(_sdk_event(tokens_data(tokens=1)), JSONFormat())
    body = message.body[:-1] + b', "tokens": 9}'
    response = await mclient.post("/v1/events", content=body, headers=metered.headers(**message.headers))
    assert response.status_code == 422
    assert response.json()["errors"][0]["pointer"] == "/tokens"
    assert response.json()["extra"]["reason"] == "duplicate_key"


@pytest.mark.parametrize("content_type", ["application/cloudevents+json", "application/cloudevents-batch+json"])
async def test_structured_mode_wins_over_stray_ce_headers(mclient, metered, content_type: str) -> None:
    ev = event(data=tokens_data(tokens=2))
    body = msgspec.json.encode(ev if content_type.endswith("cloudevents+json") else [ev])
    response = await mclient.post(
        "/v1/events",
        content=body,
        headers=metered.headers(**{"Content-Type": content_type, "ce-specversion": "1.0", "ce-id": "ignored"}),
    )
    assert response.status_code == 200, response.text
    assert response.json()["accepted"] == 1
