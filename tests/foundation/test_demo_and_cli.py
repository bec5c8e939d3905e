"""The demo agency and the command line, against the session's real database."""

from __future__ import annotations

import subprocess
import sys
import uuid

from sqlalchemy import text

from cli.demo import ORGS, load_demo
from tests.conftest import asgi_client, create_migrated_database


def test_openapi_command_prints_the_document() -> None:
    result = subprocess.run([sys.executable, "-m", "cli.main", "openapi"], capture_output=True, text=True, check=True)
    import json

    document = json.loads(result.stdout)
    assert document["openapi"].startswith("3.1")
    assert "/v1/clients" in document["paths"]


async def test_demo_builds_the_documented_agency(pg_server_url) -> None:
    from core.settings import app_url_for
    from persistence.bootstrap import drop_database
    from persistence.db import make_engine, make_sessionmaker

    name = f"af_demo_{uuid.uuid4().hex[:8]}"
    admin_url = await create_migrated_database(pg_server_url, name)
    engine = make_engine(app_url_for(admin_url), pool_size=2, max_overflow=0)
    admin = make_engine(admin_url, pool_size=1, max_overflow=0)
    try:
        keys = await load_demo(make_sessionmaker(engine))
        async with admin.connect() as conn:
            counts = {
                table: (await conn.execute(text(f"SELECT count(*) FROM {table}"))).scalar_one()
                for table in ("orgs", "people", "clients", "projects", "sites", "api_keys")
            }
            currencies = {row[0] for row in await conn.execute(text("SELECT currency FROM clients"))}
            zones = {row[0] for row in await conn.execute(text("SELECT timezone FROM clients"))}
            max_sites = (
                await conn.execute(text("SELECT max(n) FROM (SELECT count(*) n FROM sites GROUP BY client_id) s"))
            ).scalar_one()
        assert counts == {"orgs": 2, "people": 12, "clients": 6, "projects": 10, "sites": 4, "api_keys": 2}
        assert currencies == {"USD", "JPY", "KWD", "CAD", "CHF", "GBP"}
        assert len(zones) == 6
        assert max_sites == 4
        assert [k.org_slug for k in keys] == [spec["slug"] for spec in ORGS]
        assert all(k.token.startswith(f"afk_{k.org_id.hex}_") for k in keys)
    finally:
        await engine.dispose()
        await admin.dispose()
        await drop_database(pg_server_url, name)


async def test_demo_key_lists_the_demo_projects(pg_server_url, temporal_address) -> None:
    import msgspec

    from api.app import create_app
    from core.settings import app_url_for, load_settings
    from persistence.bootstrap import drop_database
    from persistence.db import make_engine, make_sessionmaker

    name = f"af_demo_{uuid.uuid4().hex[:8]}"
    admin_url = await create_migrated_database(pg_server_url, name)
    engine = make_engine(app_url_for(admin_url), pool_size=2, max_overflow=0)
    try:
        keys = await load_demo(make_sessionmaker(engine))
        settings = msgspec.structs.replace(load_settings(), temporal_address=temporal_address)
        async with asgi_client(create_app(settings, database_url=app_url_for(admin_url))) as client:
            response = await client.get("/v1/projects", headers={"Authorization": f"Bearer {keys[0].token}"})
        codes = {p["code"] for p in response.json()["items"]}
        assert codes == {code for code, *_ in ORGS[0]["projects"]}
    finally:
        await engine.dispose()
        await drop_database(pg_server_url, name)
