"""The same number bounds at the API edge (issue 14, item 3; issue 13, item 11): a NaN, an infinity, 1e400
or 1e-400 is refused with 422 naming the field, and a CloudEvent carrying one is rejected by index with its
reason while the others in the batch are accepted."""

from __future__ import annotations

import uuid

import pytest

from tests.metering.conftest import (  # noqa: F401 - fixtures
    BATCH,
    MeteredOrg,
    event,
    mclient,
    metered,
    metering_app,
    tokens_data,
)

ABSURD = ['"NaN"', '"Infinity"', '"sNaN"', "1e400", "1e-400", '"1e-400"', str(10**66 + 1)]


def _pointers(response) -> list[str]:  # type: ignore[no-untyped-def]
    assert response.status_code == 422, response.text
    body = response.json()
    assert body["type"].endswith("/validation")
    return [e["pointer"] for e in body["errors"]]


@pytest.mark.parametrize("value", ABSURD)
async def test_usage_budget_limits_are_bounded(mclient, metered: MeteredOrg, value: str) -> None:  # noqa: F811
    body = f'{{"client_id": "{metered.clients["acme"]}", "meter": "tokens", "limit": {value}}}'
    response = await mclient.post(
        "/v1/usage/budgets", content=body, headers=metered.headers(**{"Content-Type": "application/json"})
    )
    assert _pointers(response) == ["/limit"]


@pytest.mark.parametrize("value", ['"NaN"', '"sNaN"', '"-Infinity"', "1e400", "1e-400"])
async def test_time_entry_minutes_are_bounded(mclient, metered: MeteredOrg, value: str) -> None:  # noqa: F811
    body = f'{{"project_id": "{uuid.uuid4()}", "work_date": "2026-11-02", "minutes": {value}}}'
    response = await mclient.post(
        "/v1/time-entries", content=body, headers=metered.headers(**{"Content-Type": "application/json"})
    )
    assert _pointers(response) == ["/minutes"]


@pytest.mark.parametrize("value", ["NaN", "Infinity", "1e400", "1e-400"])
async def test_contract_terms_with_absurd_numbers_name_every_field(mclient, metered: MeteredOrg, value: str) -> None:  # noqa: F811
    terms = {
        "start_date": "2026-01-01",
        "versions": [
            {
                "effective_from": "2026-01",
                "retainers": [{"id": "r", "amount": value}],
                "usage_charges": [
                    {"id": "u", "meter": "tokens", "pricing": {"model": "per_unit", "unit_price": value}}
                ],
                "minimums": [{"id": "m", "amount": value}],
            }
        ],
    }
    response = await mclient.post(
        "/v1/contracts",
        json={"client_id": metered.clients["acme"], "code": f"B-{uuid.uuid4().hex[:6]}", "name": "B", "terms": terms},
        headers=metered.headers(),
    )
    assert sorted(_pointers(response)) == [
        "/terms/versions/0/minimums/0/amount",
        "/terms/versions/0/retainers/0/amount",
        "/terms/versions/0/usage_charges/0/pricing/unit_price",
    ]


async def test_ingest_rejects_out_of_bounds_quantities_by_index(mclient, metered: MeteredOrg) -> None:  # noqa: F811
    import msgspec

    good = msgspec.json.encode(event(data=tokens_data(tokens=7)))
    tiny = msgspec.json.encode(event(data=tokens_data(tokens=1))).replace(b'"tokens":1', b'"tokens":1e-400')
    huge = msgspec.json.encode(event(data=tokens_data(tokens=10**20)))
    places = msgspec.json.encode(event(data=tokens_data(tokens=1, cost=1))).replace(
        b'"cost":1', b'"cost":0.0000000001'
    )
    body = b"[" + b",".join([good, tiny, huge, places]) + b"]"
    response = await mclient.post("/v1/events", content=body, headers=metered.headers(**{"Content-Type": BATCH}))
    assert response.status_code == 200, response.text
    result = response.json()
    assert result["accepted"] == 1 and result["rejected"] == 3
    rejected = {r["index"]: r for r in result["results"] if r["status"] == "rejected"}
    assert rejected[1]["pointer"] == "/data/tokens" and "400 decimal places" in rejected[1]["detail"]
    assert rejected[2]["pointer"] == "/data/tokens" and "out of range" in rejected[2]["detail"]
    assert rejected[3]["pointer"] == "/data/cost" and "10 decimal places" in rejected[3]["detail"]
