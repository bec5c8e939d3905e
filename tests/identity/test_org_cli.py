"""``agencyflow org create`` and ``org delete`` run as an operator runs it: a subprocess against the real database."""

from __future__ import annotations

import asyncio
import hashlib
import os
import subprocess
import sys
import uuid
import zipfile
from pathlib import Path

from sqlalchemy import text

from tests.identity.conftest import PASSWORD, Stack, closing, token_from_mail, unique_email

ROOT = Path(__file__).resolve().parents[2]


def _env(**variables: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AGENCYFLOW_")}
    return env | {"COLUMNS": "200", "AGENCYFLOW_LOG_LEVEL": "WARNING"} | variables


async def agencyflow(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-m", "cli.main", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )


async def org_create(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return await agencyflow("org", "create", *args, env=env)


async def org_delete(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return await agencyflow("org", "delete", *args, env=env)


async def test_org_create_prints_and_mails_a_one_time_owner_invite(
    database, smtp, identity_stack: Stack, admin_engine, tmp_path
) -> None:  # type: ignore[no-untyped-def]
    smtp_url, inbox = smtp
    email = unique_email("founder")
    slug = f"cli-{uuid.uuid4().hex[:8]}"
    env = _env(
        AGENCYFLOW_DATABASE_URL=database,
        AGENCYFLOW_HOME=str(tmp_path),
        AGENCYFLOW_SMTP_URL=smtp_url,
        AGENCYFLOW_PUBLIC_URL="https://app.agency.test",
    )
    result = await org_create("--name", "Northwind Labs", "--slug", slug, "--owner-email", email, env=env)
    assert result.returncode == 0, result.stdout + result.stderr
    link = result.stdout.strip()
    assert link.startswith("https://app.agency.test/invite#")
    assert f"organisation {slug}" in result.stderr and "via smtp" in result.stderr
    mail = inbox.wait_for(email)[-1]
    assert mail["Subject"] == "You are invited to Northwind Labs on agencyflow"
    assert link in mail.get_content()
    token = token_from_mail(inbox, email)
    browser = identity_stack.client()
    async with closing(browser):
        r = await browser.post(
            "/v1/auth/invites/accept", json={"token": token, "display_name": "Founder", "password": PASSWORD}
        )
        assert r.status_code == 200 and r.json()["role"] == "owner"
        org = (await browser.get("/v1/org")).json()
        assert (org["slug"], org["name"]) == (slug, "Northwind Labs")
    async with admin_engine.connect() as conn:
        actor = (
            await conn.execute(
                text("SELECT actor_type, actor_id FROM audit_log WHERE action = 'org.create' AND entity_id = :o"),
                {"o": org["id"]},
            )
        ).one()
    assert tuple(actor) == ("cli", "agencyflow org")

    again = await org_create("--name", "Copy", "--slug", slug, "--owner-email", email, env=env)
    assert again.returncode == 1 and f"slug '{slug}' is taken" in again.stderr
    assert "Traceback" not in again.stderr


async def test_org_create_without_smtp_writes_the_outbox_and_refuses_bad_input(database, tmp_path) -> None:  # type: ignore[no-untyped-def]
    env = _env(AGENCYFLOW_DATABASE_URL=database, AGENCYFLOW_HOME=str(tmp_path))
    email = unique_email("solo")
    slug = f"solo-{uuid.uuid4().hex[:6]}"
    result = await org_create("--name", "Solo", "--slug", slug, "--owner-email", email, env=env)
    assert result.returncode == 0, result.stderr
    [eml] = list((tmp_path / "outbox").glob("*.eml"))
    assert result.stdout.strip() in eml.read_text()  # whole, not wrapped: readable straight from the file
    assert str(eml) in result.stderr
    bad = await org_create("--name", "Bad", "--slug", "Not A Slug", "--owner-email", email, env=env)
    assert bad.returncode == 1 and "--slug must be" in bad.stderr and "Traceback" not in bad.stderr
    bad = await org_create("--name", "Bad", "--slug", "fine-slug", "--owner-email", "nobody", env=env)
    assert bad.returncode == 1 and "is not an email address" in bad.stderr


async def test_org_delete_asks_for_yes_writes_the_export_then_locks_the_owner_out(
    database, smtp, identity_stack: Stack, admin_engine, tmp_path, temporal_address
) -> None:  # type: ignore[no-untyped-def]
    smtp_url, inbox = smtp
    email = unique_email("leaver")
    slug = f"del-{uuid.uuid4().hex[:8]}"
    env = _env(
        AGENCYFLOW_DATABASE_URL=database,
        AGENCYFLOW_HOME=str(tmp_path),
        AGENCYFLOW_SMTP_URL=smtp_url,
        AGENCYFLOW_PUBLIC_URL="https://app.agency.test",
        AGENCYFLOW_TEMPORAL_ADDRESS=temporal_address,
    )
    assert (await org_create("--name", "Leaving Co", "--slug", slug, "--owner-email", email, env=env)).returncode == 0
    browser = identity_stack.client()
    async with closing(browser):
        token = token_from_mail(inbox, email)
        r = await browser.post(
            "/v1/auth/invites/accept", json={"token": token, "display_name": "Leaver", "password": PASSWORD}
        )
        assert r.status_code == 200

        unconfirmed = await org_delete(slug, env=env)
        assert unconfirmed.returncode == 1 and "--yes" in unconfirmed.stderr
        assert (await browser.get("/v1/org")).status_code == 200

        result = await org_delete(slug, "--yes", env=env)
        assert result.returncode == 0, result.stdout + result.stderr
        export = Path(result.stdout.strip())
        assert export.parent == tmp_path / "exports" and export.name.startswith(f"{slug}-")
        assert zipfile.ZipFile(export).read("orgs.jsonl").count(b"Leaving Co") == 1
        assert hashlib.sha256(export.read_bytes()).hexdigest() in result.stderr
        assert "stopped 0 running engagement and billing workflows" in result.stderr
        assert (await browser.get("/v1/org")).status_code == 401

    async with admin_engine.connect() as conn:
        row = (
            await conn.execute(
                text("SELECT deleted_at IS NOT NULL, deleted_by, export_name FROM orgs WHERE slug = :s"), {"s": slug}
            )
        ).one()
    assert tuple(row) == (True, "cli:agencyflow org delete", export.name)

    again = await org_delete(slug, "--yes", env=env)
    assert again.returncode == 0 and "was already deleted" in again.stderr
    assert again.stdout.strip() == str(export)
    unreachable = await org_delete(slug, "--yes", env=env | {"AGENCYFLOW_TEMPORAL_ADDRESS": "127.0.0.1:1"})
    assert unreachable.returncode == 0 and "did not answer" in unreachable.stderr
    unknown = await org_delete("no-such-org", "--yes", env=env)
    assert unknown.returncode == 1 and "no organisation 'no-such-org'" in unknown.stderr
    assert "Traceback" not in unknown.stderr
