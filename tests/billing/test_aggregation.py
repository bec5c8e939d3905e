"""CloudEvents and CSV usage aggregation: the same sums the metering service computes, per client-local period."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest

from billing.aggregation import aggregate_events, parse_usage_csv
from billing.terms import Meter

METERS = [
    Meter(
        id="tokens",
        event_type="llm.done",
        aggregation="sum",
        value="usage.tokens",
        provider_cost="usage.cost",
        dimensions={"site": "site", "model": "model"},
    ),
    Meter(id="calls", event_type="llm.done", aggregation="count", dimensions={"site": "site"}),
    Meter(id="peak", event_type="gauge", aggregation="max", value="v"),
    Meter(id="users", event_type="login", aggregation="unique_count", value="user"),
    Meter(id="seats", event_type="seats", aggregation="latest", value="n"),
]


def ev(id: str, time: str, type: str = "llm.done", subject: str = "acme", source: str = "app", **data: object) -> str:
    return json.dumps(
        {"specversion": "1.0", "id": id, "source": source, "type": type, "subject": subject, "time": time, "data": data}
    )


def lines(*events: str) -> bytes:
    return ("\n".join(events) + "\n").encode()


def test_sum_count_and_cost_per_dimension_in_the_clients_month() -> None:
    data = lines(
        ev("1", "2025-04-01T04:00:00Z", site="x", model="m1", usage={"tokens": 1000, "cost": 0.000125}),
        ev("2", "2025-04-15T10:00:00+02:00", site="x", model="m1", usage={"tokens": 500, "cost": 0.0000625}),
        ev("3", "2025-04-01T03:59:59Z", site="x", model="m1", usage={"tokens": 7, "cost": 0.001}),
    )
    r = aggregate_events(data, METERS, "America/New_York", "acme")
    april = {(a.meter, tuple(sorted(a.dimensions.items()))): a for a in r.by_period["2025-04"]}
    tok = april[("tokens", (("model", "m1"), ("site", "x")))]
    assert tok.quantity == Decimal(1500)
    assert tok.provider_cost == Decimal("0.0001875")  # exact: no binary floating point on the way
    assert april[("calls", (("site", "x"),))].quantity == 2
    assert [a.quantity for a in r.by_period["2025-03"] if a.meter == "tokens"] == [Decimal(7)]


def test_duplicates_other_clients_and_unmatched_types_are_counted_not_summed() -> None:
    data = lines(
        ev("1", "2025-04-02T00:00:00Z", site="x", model="m", usage={"tokens": 10}),
        ev("1", "2025-04-02T00:00:00Z", site="x", model="m", usage={"tokens": 10}),
        ev("1", "2025-04-02T00:00:00Z", source="other", site="x", model="m", usage={"tokens": 10}),
        ev("2", "2025-04-02T00:00:00Z", subject="someone-else", site="x", model="m", usage={"tokens": 10}),
        ev("3", "2025-04-02T00:00:00Z", type="unknown.type"),
    )
    r = aggregate_events(data, METERS, "UTC", "acme")
    assert (r.events, r.counted, r.duplicates, r.other_subject, r.unmatched) == (5, 2, 1, 1, 1)
    assert [a.quantity for a in r.by_period["2025-04"] if a.meter == "tokens"] == [Decimal(20)]


@pytest.mark.parametrize(
    ("event", "reason"),
    [
        (ev("1", "2025-04-02T00:00:00", usage={"tokens": 1}), "time without offset"),
        (ev("1", "yesterday", usage={"tokens": 1}), "bad time"),
        (ev("1", "2025-04-02T00:00:00Z", usage={"tokens": "many"}), "value not a number"),
        (ev("1", "2025-04-02T00:00:00Z", usage={}), "value missing"),
        (
            json.dumps(
                {
                    "specversion": "1.0",
                    "id": "1",
                    "source": "s",
                    "type": "llm.done",
                    "time": "2025-04-02T00:00:00Z",
                    "data": {"usage": {"tokens": 1}},
                }
            ),
            "missing subject",
        ),
        ("{not json", "not a CloudEvent"),
    ],
)
def test_bad_events_are_rejected_with_a_reason_and_never_reject_good_ones(event: str, reason: str) -> None:
    good = ev("ok", "2025-04-02T00:00:00Z", site="x", model="m", usage={"tokens": 5})
    r = aggregate_events(lines(event, good), METERS, "UTC", "acme")
    assert len(r.rejected) == 1 and reason in r.rejected[0].reason
    assert [a.quantity for a in r.by_period["2025-04"] if a.meter == "tokens"] == [Decimal(5)]


def test_max_unique_count_and_latest_aggregations() -> None:
    data = lines(
        ev("1", "2025-04-02T00:00:00Z", type="gauge", v=5),
        ev("2", "2025-04-03T00:00:00Z", type="gauge", v=9),
        ev("3", "2025-04-04T00:00:00Z", type="gauge", v=7),
        ev("4", "2025-04-02T00:00:00Z", type="login", user="u1"),
        ev("5", "2025-04-03T00:00:00Z", type="login", user="u2"),
        ev("6", "2025-04-04T00:00:00Z", type="login", user="u1"),
        ev("7", "2025-04-20T00:00:00Z", type="seats", n=12),
        ev("8", "2025-04-10T00:00:00Z", type="seats", n=30),
    )
    r = aggregate_events(data, METERS, "UTC", "acme")
    got = {a.meter: a.quantity for a in r.by_period["2025-04"]}
    assert got == {"peak": 9, "users": 2, "seats": 12}


def test_json_array_batches_are_accepted() -> None:
    batch = "[" + ",".join([ev("1", "2025-04-02T00:00:00Z", type="gauge", v=3)]) + "]"
    r = aggregate_events(batch.encode(), METERS, "UTC", "acme")
    assert r.by_period["2025-04"][0].quantity == 3


def test_aggregated_csv_columns_become_dimensions() -> None:
    text = "period,meter,site,category,quantity,provider_cost\n2025-04,m,a,std,1.5,0.25\n2025-04,m,b,,2,\n"
    out = parse_usage_csv(text)
    a, b = out["2025-04"]
    assert a.dimensions == {"site": "a", "category": "std"} and a.quantity == Decimal("1.5")
    assert a.provider_cost == Decimal("0.25")
    assert b.dimensions == {"site": "b"} and b.provider_cost is None
    with pytest.raises(ValueError, match="quantity"):
        parse_usage_csv("meter,site\nm,a\n")
    with pytest.raises(ValueError, match="decimal"):
        parse_usage_csv("meter,quantity\nm,lots\n")
