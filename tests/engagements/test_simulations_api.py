"""POST /v1/contracts/{id}/simulations: the last closed periods re-rated under a proposed version, from what
their invoices billed, with per-site movements largest first."""

from __future__ import annotations

from decimal import Decimal

from api.routes.simulations import _by_movement
from billing.simulate import SiteShock
from core.permissions import Role
from tests.engagements.dates import period, retainer_terms
from tests.engagements.test_engagement_api import FAST, make_client
from tests.engagements.test_scenarios import approve_next


def _version(amount: str) -> dict:
    return {"retainers": [{"id": "platform", "description": "Retainer", "amount": amount, "billing": "arrears"}]}


async def test_simulation_rerates_closed_periods_under_the_proposed_version(stack, org, other_org) -> None:
    api = stack.client
    client_id = await make_client(api, org)
    created = await api.post(
        "/v1/contracts",
        json={
            "client_id": client_id,
            "code": "SIM",
            "name": "Simulated",
            "terms": retainer_terms(period(-2), "3000.00"),
            "config": FAST,
        },
        headers=org.headers(Role.FINANCE),
    )
    assert created.status_code == 201, created.text
    contract_id = created.json()["id"]
    url = f"/v1/contracts/{contract_id}/simulations"

    nothing_closed = await api.post(url, json={"version": _version("3600.00")}, headers=org.headers(Role.FINANCE))
    assert nothing_closed.status_code == 409, nothing_closed.text

    await approve_next(api, org, contract_id, period(-2))
    await approve_next(api, org, contract_id, period(-1))

    answer = await api.post(
        url, json={"version": _version("3600.00"), "periods": 2}, headers=org.headers(Role.FINANCE)
    )
    assert answer.status_code == 200, answer.text
    report = answer.json()
    assert [p["period"] for p in report["periods"]] == [period(-2), period(-1)]
    for row in report["periods"]:
        assert (row["current_total"], row["proposed_total"], row["difference"], row["percent"]) == (
            "3000.00",
            "3600.00",
            "600.00",
            "20.00",
        )
        assert row["flagged"] is True
    assert (report["current_total"], report["proposed_total"], report["difference"]) == (
        "6000.00",
        "7200.00",
        "1200.00",
    )
    assert [s["difference"] for s in report["sites"]] == ["1200.00"]

    one = await api.post(url, json={"version": _version("3000.00"), "periods": 1}, headers=org.headers(Role.FINANCE))
    assert [p["period"] for p in one.json()["periods"]] == [period(-1)]
    assert one.json()["difference"] == "0.00"
    assert one.json()["flagged"] is False

    invalid = await api.post(url, json={"version": _version("-5.00")}, headers=org.headers(Role.FINANCE))
    assert invalid.status_code == 422, invalid.text
    assert any(e["pointer"].startswith("/version") for e in invalid.json()["errors"])

    dated = await api.post(
        url, json={"version": {**_version("1.00"), "effective_from": period(-1)}}, headers=org.headers(Role.FINANCE)
    )
    assert dated.status_code == 422
    assert dated.json()["errors"][0]["pointer"] == "/version/effective_from"

    pm = await api.post(url, json={"version": _version("1.00")}, headers=org.headers(Role.PM))
    assert pm.status_code == 403
    foreign = await api.post(url, json={"version": _version("1.00")}, headers=other_org.headers(Role.FINANCE))
    assert foreign.status_code == 404


def test_sites_are_ordered_by_the_size_of_their_movement_either_way() -> None:
    def shock(site: str, difference: str) -> SiteShock:
        d = Decimal(difference)
        return SiteShock(
            site=site, name=site, current=Decimal(100), proposed=100 + d, difference=d, percent=None, flagged=False
        )

    moved = _by_movement([shock("a", "5"), shock("b", "-40"), shock("c", "12"), shock("d", "12")])
    assert [s.site for s in moved] == ["b", "c", "d", "a"]


async def test_simulation_refuses_a_threshold_that_is_not_a_percentage(stack, org) -> None:
    client_id = await make_client(stack.client, org)
    created = await stack.client.post(
        "/v1/contracts",
        json={"client_id": client_id, "code": "SIMT", "name": "x", "terms": retainer_terms(period(0), "1.00")},
        headers=org.headers(Role.FINANCE),
    )
    for bad in ("NaN", "-1", "1e9"):
        answer = await stack.client.post(
            f"/v1/contracts/{created.json()['id']}/simulations",
            json={"version": _version("2.00"), "threshold_percent": bad},
            headers=org.headers(Role.FINANCE),
        )
        assert answer.status_code == 422, (bad, answer.text)
        assert answer.json()["errors"][0]["pointer"] == "/threshold_percent"


async def test_creating_a_contract_with_a_cap_below_its_minimums_answers_201_with_the_warning(stack, org) -> None:
    client_id = await make_client(stack.client, org)
    start = period(0)
    terms = {
        "start_date": f"{start}-01",
        "meters": [{"id": "calls", "event_type": "com.example.call", "aggregation": "count"}],
        "versions": [
            {
                "effective_from": start,
                "usage_charges": [
                    {"id": "calls", "meter": "calls", "pricing": {"model": "per_unit", "unit_price": "1.00"}}
                ],
                "minimums": [{"id": "floor", "amount": "1000.00"}],
                "annual_caps": [{"id": "ceiling", "amount": "10500.00"}],
            }
        ],
    }
    created = await stack.client.post(
        "/v1/contracts",
        json={"client_id": client_id, "code": "FLOOR", "name": "Floor and ceiling", "terms": terms},
        headers=org.headers(Role.FINANCE),
    )
    assert created.status_code == 201, created.text
    [warning] = created.json()["warnings"]
    assert warning["pointer"] == "/terms/versions/0/annual_caps/0/amount"
    assert "12 x 1000.00 = 12000.00" in warning["detail"]
    assert "cap_prevails" in warning["detail"]
