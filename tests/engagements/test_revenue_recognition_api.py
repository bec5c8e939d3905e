"""Issue 16, the case that started it: December's retainer, billed in advance on November's invoice, is revenue
of December — in the revenue report and in profitability — not of the day it was issued or of November."""

from __future__ import annotations

import uuid
from datetime import date
from decimal import Decimal

from core.permissions import Role
from persistence.db import tenant_session
from persistence.revenue import recognised_by_client
from tests.engagements.conftest import eventually, product_stack
from tests.engagements.dates import period, retainer_terms
from tests.engagements.test_search_attributes import FAST, draft

FINANCE = Role.FINANCE


async def test_a_retainer_billed_in_advance_is_recognised_in_the_month_it_pays_for(  # type: ignore[no-untyped-def]
    temporal_env, sessionmaker, app_database_url, tmp_path, monkeypatch, org
) -> None:
    monkeypatch.setenv("AGENCYFLOW_HOME", str(tmp_path))
    async with product_stack(temporal_env.client, sessionmaker, app_database_url, tmp_path / "l", "revenue") as (
        _,
        api,
    ):
        key = f"adv-{uuid.uuid4().hex[:6]}"
        body = {"name": key, "external_key": key, "currency": "USD", "timezone": "America/New_York"}
        client = (await api.post("/v1/clients", json=body, headers=org.headers())).json()
        terms = retainer_terms(period(-1), "1000.00")
        terms["versions"][0]["retainers"][0]["billing"] = "advance"
        contract = await api.post(
            "/v1/contracts",
            json={"client_id": client["id"], "code": f"C-{key}", "name": "Advance", "terms": terms, "config": FAST},
            headers=org.headers(FINANCE),
        )
        assert contract.status_code == 201, contract.text
        drafted = await eventually(lambda: draft(api, org, contract.json()["id"]), timeout=60)
        approved = await api.post(f"/v1/invoices/{drafted['id']}/approve", json={}, headers=org.headers(FINANCE))
        assert approved.status_code == 200, approved.text
        november, december = period(-1), period(0)
        fees = sorted(line["key"] for line in approved.json()["draft"]["lines"] if line["kind"] == "retainer")
        assert [k.rsplit("|", 1)[1] for k in fees] == [november, december]
        assert Decimal(approved.json()["total"]) == Decimal("2000.00")

        report = await api.get(f"/v1/reports/revenue?from={november}&to={december}", headers=org.headers(FINANCE))
        assert report.status_code == 200, report.text
        rows = {r["month"]: r for r in report.json()["rows"] if r["client_id"] == client["id"]}
        assert rows[november]["recognised"] == rows[december]["recognised"] == "1000.00"
        issued = approved.json()["issue_date"][:7]
        assert rows[issued]["recognised_to_date"] + "|" + rows[issued]["deferred"] == (
            "2000.00|0.00" if issued >= december else "1000.00|1000.00"
        )

        async with tenant_session(sessionmaker, org.id) as session:
            in_november = await recognised_by_client(
                session, date.fromisoformat(f"{november}-01"), date.fromisoformat(f"{november}-28")
            )
        assert in_november[(uuid.UUID(client["id"]), "USD")] == Decimal("1000.00")

        bad = await api.get(f"/v1/reports/revenue?from={december}&to={november}", headers=org.headers(FINANCE))
        assert bad.status_code == 400 and bad.json()["errors"][0]["parameter"] == "to"
        staff = await api.get(f"/v1/reports/revenue?from={november}&to={december}", headers=org.headers(Role.STAFF))
        assert staff.status_code == 403
