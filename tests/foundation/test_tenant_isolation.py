"""Zero cross-tenant reads, as a property: every id-taking endpoint answers 404 for another org's ids,
no list shows another org's rows, and the database itself hides them from the app role."""

from __future__ import annotations

import uuid

import pytest
from sqlalchemy import text

from api.app import create_app
from persistence.models import Base
from tests.conftest import OrgHandle

TENANT_TABLES = sorted(t.name for t in Base.metadata.sorted_tables if "org_id" in t.c)


async def seed(client, org: OrgHandle) -> dict[str, str]:
    """One of everything, returning the ids by path parameter name."""
    h = org.headers()
    c = (
        await client.post(
            "/v1/clients",
            json={"name": "C", "external_key": f"c-{uuid.uuid4().hex[:6]}", "currency": "USD", "timezone": "UTC"},
            headers=h,
        )
    ).json()
    s = (await client.post(f"/v1/clients/{c['id']}/sites", json={"code": "s1", "name": "S"}, headers=h)).json()
    p = (
        await client.post(
            "/v1/projects",
            json={"client_id": c["id"], "code": f"P-{uuid.uuid4().hex[:6]}", "name": "P", "billing_mode": "t_and_m"},
            headers=h,
        )
    ).json()
    person = (
        await client.post(
            "/v1/people",
            json={
                "name": "N",
                "email": f"{uuid.uuid4().hex[:6]}@x.example",
                "role": "dev",
                "cost_rate": "50",
                "cost_currency": "USD",
                "weekly_capacity_hours": "40",
            },
            headers=h,
        )
    ).json()
    m = (
        await client.post(
            "/v1/memberships",
            json={"email": f"{uuid.uuid4().hex[:6]}@x.example", "display_name": "M", "role": "staff"},
            headers=h,
        )
    ).json()
    k = (await client.post("/v1/api-keys", json={"name": "k", "role": "staff"}, headers=h)).json()["key"]
    return {
        "client_id": c["id"],
        "site_id": s["id"],
        "project_id": p["id"],
        "person_id": person["id"],
        "membership_id": m["id"],
        "key_id": k["id"],
    }


def id_routes() -> list[tuple[str, str]]:
    app = create_app(database_url="postgresql://unused@127.0.0.1/unused")
    routes = []
    for route in app.routes:
        for method, _handler in getattr(route, "route_handler_map", {}).items():
            if "{" in route.path and method != "OPTIONS" and route.path.startswith("/v1"):
                routes.append((method, route.path))
    return sorted(set(routes))


ID_ROUTES = id_routes()


FOUNDATION_PARAMS = {"client_id", "site_id", "project_id", "person_id", "membership_id", "key_id"}
# Id parameters of other areas, each proven 404-for-other-orgs by that area's own isolation test.
COVERED_ELSEWHERE = {
    "phase_id": "tests/projects/test_isolation.py",
    "task_id": "tests/projects/test_isolation.py",
    "milestone_id": "tests/projects/test_isolation.py",
    "entry_id": "tests/projects/test_isolation.py",
    "timesheet_id": "tests/projects/test_isolation.py",
    "expense_id": "tests/projects/test_isolation.py",
    "meter_id": "tests/metering/test_isolation.py",
    "budget_id": "tests/metering/test_isolation.py",
    "endpoint_id": "tests/metering/test_isolation.py",
    "contract_id": "tests/engagements/test_isolation.py",
    "invoice_id": "tests/engagements/test_isolation.py",
    "grant_id": "tests/engagements/test_isolation.py",
    "plan_id": "tests/capacity/test_isolation.py",
    "invite_id": "tests/identity/test_isolation.py",
    "org_id": "tests/identity/test_isolation.py",
    "credit_note_id": "tests/engagements/test_credit_notes_api.py",
}


def _params(path: str) -> set[str]:
    return {segment.split(":")[0].strip("{}") for segment in path.split("/") if segment.startswith("{")}


def test_every_id_route_has_an_isolation_test() -> None:
    import pathlib

    for method, path in ID_ROUTES:
        for param in _params(path) - FOUNDATION_PARAMS:
            assert param in COVERED_ELSEWHERE, f"{method} {path}: no isolation test covers {{{param}}}"
            module = pathlib.Path(COVERED_ELSEWHERE[param])
            assert module.exists(), f"{method} {path}: {module} is missing"
            assert param in module.read_text(), f"{module} never exercises {{{param}}} ({method} {path})"


@pytest.mark.parametrize(("method", "path"), [(m, p) for m, p in ID_ROUTES if _params(p) <= FOUNDATION_PARAMS])
async def test_other_orgs_ids_answer_404(client, org, other_org, method, path) -> None:
    theirs = await seed(client, other_org)
    url = path
    for name, value in theirs.items():
        url = url.replace("{" + name + "}", value).replace("{" + name + ":uuid}", value)
    bodies = {"POST": {"code": "s2", "name": "S"}, "PATCH": {}}
    response = await client.request(method, url, json=bodies.get(method), headers=org.headers())
    assert response.status_code == 404, (method, url, response.text)
    assert response.headers["content-type"] == "application/problem+json"
    # The 404 may echo the id the caller sent, but nothing else of the other org.
    assert not any(value in response.text for value in theirs.values() if value not in url)


async def test_lists_never_show_other_orgs_rows(client, org, other_org) -> None:
    theirs = await seed(client, other_org)
    mine = await seed(client, org)
    for url in (
        "/v1/clients",
        "/v1/projects",
        "/v1/people",
        "/v1/memberships",
        "/v1/api-keys",
        "/v1/audit-log",
        f"/v1/clients/{mine['client_id']}/sites",
    ):
        response = await client.get(url + "?limit=200", headers=org.headers())
        assert response.status_code == 200, url
        assert not any(value in response.text for value in theirs.values()), url
        assert str(other_org.id) not in response.text


@pytest.mark.parametrize("table", TENANT_TABLES)
async def test_app_role_sees_no_rows_of_another_org(client, org, other_org, app_engine, table) -> None:
    await seed(client, other_org)
    async with app_engine.connect() as conn:
        await conn.execute(text("SELECT set_config('app.org_id', :o, false)"), {"o": str(org.id)})
        leaked = (
            await conn.execute(text(f"SELECT count(*) FROM {table} WHERE org_id = :o"), {"o": str(other_org.id)})
        ).scalar_one()
        await conn.execute(text("SELECT set_config('app.org_id', '', false)"))
        unscoped = (await conn.execute(text(f"SELECT count(*) FROM {table}"))).scalar_one()
        await conn.rollback()
    assert leaked == 0
    assert unscoped == 0


async def test_app_role_cannot_write_rows_for_another_org(app_engine, org, other_org) -> None:
    async with app_engine.connect() as conn:
        await conn.execute(text("SELECT set_config('app.org_id', :o, false)"), {"o": str(org.id)})
        with pytest.raises(Exception, match="row-level security"):
            await conn.execute(
                text(
                    "INSERT INTO clients (id, org_id, name, external_key, currency, timezone) "
                    "VALUES (gen_random_uuid(), :o, 'x', 'x', 'USD', 'UTC')"
                ),
                {"o": str(other_org.id)},
            )
        await conn.rollback()


async def test_app_role_cannot_bypass_or_disable_rls(app_engine) -> None:
    async with app_engine.connect() as conn:
        flags = (
            await conn.execute(text("SELECT rolsuper, rolbypassrls FROM pg_roles WHERE rolname = current_user"))
        ).one()
        assert tuple(flags) == (False, False)
        forced = (
            await conn.execute(
                text(
                    "SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
                    "WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p') "
                    "AND c.relrowsecurity AND c.relforcerowsecurity"
                )
            )
        ).scalar_one()
        assert forced >= len(TENANT_TABLES)
        with pytest.raises(Exception, match="must be owner"):
            await conn.execute(text("ALTER TABLE clients DISABLE ROW LEVEL SECURITY"))
        await conn.rollback()


def test_every_tenant_table_has_rls_in_migrations() -> None:
    """A model with org_id but no policy would be a silent leak; the migration helper is the only path."""
    import pathlib

    sources = "".join(p.read_text() for p in pathlib.Path("persistence/migrations/versions").glob("*.py"))
    for table in TENANT_TABLES:
        assert f'"{table}"' in sources, table
