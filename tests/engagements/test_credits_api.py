"""Prepaid credits granted and topped up on a live contract through the API: consumed by the next invoice in
priority order, balances read back, refused with the field named when impossible, booked once as a liability."""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal

import pytest

import billing
from core.permissions import Role
from integrations.accounting.beancount_ledger import bean_check
from tests.engagements.conftest import eventually
from tests.engagements.dates import period, retainer_terms, yesterday_in_this_month
from tests.engagements.test_engagement_api import FAST, make_client
from tests.engagements.test_scenarios import approve_next

CENT = Decimal("0.01")


async def _credits(api, org, contract_id: str) -> dict[str, dict]:
    answer = await api.get(f"/v1/contracts/{contract_id}/credits", headers=org.headers(Role.FINANCE))
    assert answer.status_code == 200, answer.text
    return {grant["code"]: grant for grant in answer.json()}


async def test_grants_and_top_ups_are_consumed_in_priority_order_and_booked_as_a_liability(
    stack, org, other_org
) -> None:
    effective = yesterday_in_this_month()
    if effective is None:
        pytest.skip("on the 1st no day of the current month has ended yet; the final cycle would wait for midnight")
    api = stack.client
    client_id = await make_client(api, org)
    created = await api.post(
        "/v1/contracts",
        json={
            "client_id": client_id,
            "code": "CREDITS",
            "name": "Credits",
            "terms": retainer_terms(period(-1), "3000.00"),
            "config": FAST,
        },
        headers=org.headers(Role.FINANCE),
    )
    contract_id = created.json()["id"]
    url = f"/v1/contracts/{contract_id}/credits"
    await approve_next(api, org, contract_id, period(-1))

    grant = await api.post(
        url,
        json={"id": "po-1", "amount": "500.00", "currency": "USD", "description": "PO 1", "priority": 1},
        headers=org.headers(Role.FINANCE, **{"Idempotency-Key": "grant-po-1"}),
    )
    assert grant.status_code == 201, grant.text
    body = grant.json()
    assert (body["granted"], body["remaining"], body["status"]) == (period(0), "500.00", "available")
    assert grant.headers["Location"] == f"/v1/contracts/{contract_id}/credits/{body['id']}"
    replay = await api.post(
        url,
        json={"id": "po-1", "amount": "500.00", "currency": "USD", "description": "PO 1", "priority": 1},
        headers=org.headers(Role.FINANCE, **{"Idempotency-Key": "grant-po-1"}),
    )
    assert replay.status_code == 201 and replay.json()["id"] == body["id"]
    top_up = await api.post(
        url,
        json={"id": "po-2", "amount": "200.00", "currency": "USD", "priority": 2},
        headers=org.headers(Role.FINANCE),
    )
    assert top_up.status_code == 201, top_up.text

    refusals = [
        ({"id": "x1", "amount": "NaN", "currency": "USD"}, "/amount", 422),
        ({"id": "x2", "amount": "-5.00", "currency": "USD"}, "/amount", 422),
        ({"id": "x3", "amount": "1.001", "currency": "USD"}, "/amount", 422),
        ({"id": "x4", "amount": "5.00", "currency": "EUR"}, "/currency", 422),
        ({"id": "x5", "amount": "5.00", "currency": "USD", "granted": period(-1)}, "/granted", 422),
        ({"id": "x6", "amount": "5.00", "currency": "USD", "granted": period(1), "expires_after": period(0)},
         "/expires_after", 422),
    ]
    for body_in, pointer, status in refusals:
        refused = await api.post(url, json=body_in, headers=org.headers(Role.FINANCE))
        assert refused.status_code == status, (body_in, refused.text)
        assert pointer in [e["pointer"] for e in refused.json()["errors"]], refused.text
    duplicate = await api.post(
        url, json={"id": "po-2", "amount": "1.00", "currency": "USD"}, headers=org.headers(Role.FINANCE)
    )
    assert duplicate.status_code == 409
    assert (await api.post(url, json={"id": "p", "amount": "1.00", "currency": "USD"},
                           headers=org.headers(Role.PM))).status_code == 403
    assert (await api.get(url, headers=other_org.headers(Role.FINANCE))).status_code == 404

    # Booked once each as a liability the client's prepayment creates.
    ledger = stack.settings.ledger_dir / f"{org.id}.beancount"
    grants = await eventually(
        lambda: _all_posted(api, org, contract_id), timeout=30
    )
    assert set(grants) == {"po-1", "po-2"}
    text = ledger.read_text()
    assert "Liabilities:Prepaid-Credits  -500.00 USD" in text
    assert "Liabilities:Prepaid-Credits  -200.00 USD" in text
    assert bean_check(ledger) == []

    ended = await api.post(
        f"/v1/contracts/{contract_id}/terminate",
        json={"effective_on": effective.isoformat(), "reason": "credits test"},
        headers=org.headers(Role.FINANCE),
    )
    assert ended.status_code == 200, ended.text
    final = await approve_next(api, org, contract_id, period(0))
    prorated = (Decimal("3000.00") * effective.day / billing.Period.parse(period(0)).days).quantize(
        CENT, rounding=ROUND_HALF_UP
    )
    first = min(Decimal("500.00"), prorated)
    second = min(Decimal("200.00"), prorated - first)
    assert Decimal(final["total"]) == prorated - first - second
    balances = await _credits(api, org, contract_id)
    assert Decimal(balances["po-1"]["remaining"]) == Decimal("500.00") - first
    assert Decimal(balances["po-2"]["remaining"]) == Decimal("200.00") - second


async def _all_posted(api, org, contract_id: str) -> dict[str, dict] | None:
    grants = await _credits(api, org, contract_id)
    return grants if grants and all(g["ledger_status"] == "posted" for g in grants.values()) else None
