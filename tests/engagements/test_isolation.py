"""Contracts and invoices of another org answer 404 on every route that takes their id; roles are enforced
before any workflow is touched."""

from __future__ import annotations

import pytest

from core.permissions import Role
from tests.engagements.conftest import eventually
from tests.engagements.test_engagement_api import FAST, RETAINER_TERMS, drafts, make_client

CONTRACT_ROUTES = [
    ("GET", "/v1/contracts/{contract_id}", None),
    ("GET", "/v1/contracts/{contract_id}/versions", None),
    ("GET", "/v1/contracts/{contract_id}/engagement", None),
    ("GET", "/v1/contracts/{contract_id}/running", None),
    ("POST", "/v1/contracts/{contract_id}/amendments", {"version": {}}),
    ("POST", "/v1/contracts/{contract_id}/pause", None),
    ("POST", "/v1/contracts/{contract_id}/resume", None),
    ("POST", "/v1/contracts/{contract_id}/terminate", {"effective_on": "2099-12-01", "reason": "x"}),
    ("POST", "/v1/contracts/{contract_id}/milestone-acceptances", {"id": "m", "accepted_on": "2099-12-01"}),
    ("POST", "/v1/contracts/{contract_id}/simulations", {"version": {}}),
    ("GET", "/v1/contracts/{contract_id}/credits", None),
    ("POST", "/v1/contracts/{contract_id}/credits", {"id": "c", "amount": "1.00", "currency": "USD"}),
    ("GET", "/v1/contracts/{contract_id}/credits/{grant_id}", None),
]
INVOICE_ROUTES = [
    ("GET", "/v1/invoices/{invoice_id}", None),
    ("POST", "/v1/invoices/{invoice_id}/approve", {}),
    ("POST", "/v1/invoices/{invoice_id}/reject", {"reason": "x"}),
    ("POST", "/v1/invoices/{invoice_id}/adjust", {"reason": "x", "adjustments": [{"description": "x", "amount": "1"}]}),
    ("POST", "/v1/invoices/{invoice_id}/resolve", {"reason": "x"}),
    ("POST", "/v1/invoices/{invoice_id}/redraft", None),
    ("GET", "/v1/invoices/{invoice_id}/ledger", None),
    ("POST", "/v1/invoices/{invoice_id}/ledger/retry", None),
]


@pytest.fixture(scope="module")
async def theirs(stack, sessionmaker):
    """Another org's contract and draft invoice."""
    from tests.conftest import make_org

    other = await make_org(sessionmaker, "Other agency")
    client_id = await make_client(stack.client, other)
    created = await stack.client.post(
        "/v1/contracts",
        json={"client_id": client_id, "code": "THEIRS", "name": "x", "terms": RETAINER_TERMS, "config": FAST},
        headers=other.headers(Role.FINANCE),
    )
    contract_id = created.json()["id"]
    invoice = (await eventually(lambda: drafts(stack.client, other, contract_id), timeout=60))[0]
    grant = await stack.client.post(
        f"/v1/contracts/{contract_id}/credits",
        json={"id": "theirs", "amount": "10.00", "currency": "USD"},
        headers=other.headers(Role.FINANCE),
    )
    assert grant.status_code == 201, grant.text
    return {"contract_id": contract_id, "invoice_id": invoice["id"], "grant_id": grant.json()["id"]}


@pytest.mark.parametrize(("method", "path", "body"), CONTRACT_ROUTES + INVOICE_ROUTES)
async def test_another_orgs_contract_and_invoice_ids_answer_404(stack, org, theirs, method, path, body) -> None:
    url = path.format(**theirs)
    response = await stack.client.request(method, url, json=body, headers=org.headers(Role.OWNER))
    assert response.status_code == 404, (method, url, response.text)
    assert response.headers["content-type"] == "application/problem+json"


async def test_another_orgs_credit_grant_is_not_found_under_ones_own_contract(stack, org, theirs) -> None:
    client_id = await make_client(stack.client, org)
    mine = await stack.client.post(
        "/v1/contracts",
        json={"client_id": client_id, "code": "MINE-GRANT", "name": "x", "terms": RETAINER_TERMS, "config": FAST},
        headers=org.headers(Role.FINANCE),
    )
    url = f"/v1/contracts/{mine.json()['id']}/credits/{theirs['grant_id']}"
    response = await stack.client.get(url, headers=org.headers(Role.OWNER))
    assert response.status_code == 404, response.text


async def test_lists_do_not_show_another_orgs_contracts_or_invoices(stack, org, theirs) -> None:
    for url in ("/v1/contracts", "/v1/invoices", "/v1/notifications"):
        response = await stack.client.get(url, headers=org.headers(Role.OWNER))
        assert response.status_code == 200
        assert theirs["contract_id"] not in response.text and theirs["invoice_id"] not in response.text


@pytest.mark.parametrize("role", [Role.PM, Role.STAFF, Role.DELIVERY_LEAD, Role.ADMIN, Role.CLIENT_VIEWER])
async def test_only_finance_and_owner_may_approve(stack, org, role) -> None:
    response = await stack.client.post(f"/v1/invoices/{org.id}/approve", json={}, headers=org.headers(role))
    assert response.status_code == 403


async def test_client_viewer_sees_only_its_clients_approved_invoices(stack, org) -> None:
    api = stack.client
    created = await api.post(
        "/v1/contracts",
        json={"client_id": str(org.client_id), "code": "VIEW", "name": "x", "terms": RETAINER_TERMS, "config": FAST},
        headers=org.headers(Role.FINANCE),
    )
    contract_id = created.json()["id"]
    draft = (await eventually(lambda: drafts(api, org, contract_id), timeout=60))[0]
    viewer = org.headers(Role.CLIENT_VIEWER)
    assert (await api.get(f"/v1/invoices/{draft['id']}", headers=viewer)).status_code == 404
    await api.post(f"/v1/invoices/{draft['id']}/approve", json={}, headers=org.headers(Role.FINANCE))
    visible = await api.get(f"/v1/invoices/{draft['id']}", headers=viewer)
    assert visible.status_code == 200 and visible.json()["status"] == "approved"


async def test_invalid_terms_are_422_with_every_problem(stack, org) -> None:
    client_id = await make_client(stack.client, org)
    terms = {
        "start_date": "2026-01-01",
        "versions": [
            {
                "effective_from": "2026-01",
                "retainers": [{"id": "a", "description": "x", "amount": "-1", "billing": "sometimes"}],
            }
        ],
        "currency": "XYZ",
    }
    response = await stack.client.post(
        "/v1/contracts",
        json={"client_id": client_id, "code": "BAD", "name": "x", "terms": terms},
        headers=org.headers(Role.FINANCE),
    )
    assert response.status_code == 422
    pointers = {e["pointer"] for e in response.json()["errors"]}
    assert any(p.startswith("/terms/versions/0/retainers/0") for p in pointers), pointers
