"""The issue's done-when, in one test against the real stack (PostgreSQL, Temporal dev server, a worker with
every workflow and activity, the API, the ``agencyflow`` CLI as a subprocess, a local SMTP server):

a brand-new org is created from the CLI; its owner accepts the mailed invite, sets a password and enrols
TOTP; invites a finance user and a PM; the PM creates a project and manages it; finance approves an invoice
only after MFA — and the audit log names the person behind every step.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest
from temporalio.worker import Worker

from activities.registry import build_activities
from api.app import create_app
from cli.worker import sandbox_runner
from identity import totp
from tests.engagements.conftest import eventually
from tests.engagements.dates import period, retainer_terms
from tests.identity.conftest import PASSWORD, Stack, accept, closing, csrf, identity_settings, unique_email
from tests.identity.test_org_cli import _env, org_create
from workflows.registry import WORKFLOWS


@pytest.fixture(scope="module")
async def product(temporal_env, sessionmaker, app_database_url, smtp, tmp_path_factory) -> AsyncIterator[Stack]:  # type: ignore[no-untyped-def]
    url, inbox = smtp
    home = tmp_path_factory.mktemp("onboarding")
    settings = identity_settings(
        url,
        home,
        task_queue=f"onboarding-{uuid.uuid4().hex[:8]}",
        ledger_dir=home / "ledgers",
        temporal_address=temporal_env.client.service_client.config.target_host,
    )
    worker = Worker(
        temporal_env.client,
        task_queue=settings.task_queue,
        workflows=WORKFLOWS,
        activities=build_activities(sessionmaker=sessionmaker, settings=settings),
        workflow_runner=sandbox_runner(),
    )
    running = asyncio.create_task(worker.run())
    app = create_app(settings, database_url=app_database_url)
    for hook in app.on_startup:
        await hook(app)
    try:
        yield Stack(app, inbox)
    finally:
        for hook in app.on_shutdown:
            await hook(app)
        await worker.shutdown()
        await running


async def test_a_new_agency_sets_itself_up_and_finance_approves_only_after_mfa(
    product: Stack, database, smtp, tmp_path
) -> None:  # type: ignore[no-untyped-def]
    smtp_url, _ = smtp
    # 1. The operator creates the org from the CLI; the owner's invite arrives by mail.
    owner_email = unique_email("founder")
    slug = f"agency-{uuid.uuid4().hex[:8]}"
    env = _env(
        AGENCYFLOW_DATABASE_URL=database,
        AGENCYFLOW_HOME=str(tmp_path),
        AGENCYFLOW_SMTP_URL=smtp_url,
        AGENCYFLOW_PUBLIC_URL="https://app.agency.test",
    )
    created = await org_create("--name", "Brand New Agency", "--slug", slug, "--owner-email", owner_email, env=env)
    assert created.returncode == 0, created.stderr

    owner, finance, pm = product.client(), product.client(), product.client()
    async with closing(owner, finance, pm):
        # 2. The owner accepts (setting a password) and enrols TOTP.
        signed = await accept(product, owner, owner_email)
        assert signed["role"] == "owner"
        r = await owner.post("/v1/auth/mfa/enrol", headers=csrf(owner))
        owner_secret = r.json()["secret"]
        assert r.json()["otpauth_uri"].startswith("otpauth://totp/agencyflow:")
        r = await owner.post(
            "/v1/auth/mfa/confirm", json={"code": totp.code_at(owner_secret, datetime.now(UTC))}, headers=csrf(owner)
        )
        assert r.status_code == 200 and len(r.json()["recovery_codes"]) == 10

        # 3. The owner invites a finance user and a PM; each accepts from their mail.
        emails = {}
        for role, browser in (("finance", finance), ("pm", pm)):
            emails[role] = unique_email(role)
            r = await owner.post("/v1/invites", json={"email": emails[role], "role": role}, headers=csrf(owner))
            assert r.status_code == 201, r.text
            assert (await accept(product, browser, emails[role]))["role"] == role
        pm_user = (await pm.get("/v1/auth/me")).json()["user_id"]
        finance_user = (await finance.get("/v1/auth/me")).json()["user_id"]

        # The owner records the client and the PM as a person of the agency.
        r = await owner.post(
            "/v1/clients",
            json={"name": "First Client", "external_key": "first", "currency": "USD", "timezone": "America/New_York"},
            headers=csrf(owner),
        )
        assert r.status_code == 201, r.text
        client_id = r.json()["id"]
        r = await owner.post(
            "/v1/people",
            json={
                "name": "Pat PM",
                "email": emails["pm"],
                "role": "pm",
                "cost_rate": "60",
                "cost_currency": "USD",
                "weekly_capacity_hours": "40",
                "user_id": pm_user,
            },
            headers=csrf(owner),
        )
        assert r.status_code == 201, r.text

        # 4. The PM creates a project and manages it (its creator is its manager).
        r = await pm.post(
            "/v1/projects",
            json={"client_id": client_id, "code": "P-1", "name": "Launch", "billing_mode": "t_and_m"},
            headers=csrf(pm),
        )
        assert r.status_code == 201, r.text
        project_id = r.json()["id"]
        r = await pm.post(f"/v1/projects/{project_id}/tasks", json={"title": "Kick-off"}, headers=csrf(pm))
        assert r.status_code == 201, r.text
        members = (await pm.get(f"/v1/projects/{project_id}/members")).json()
        items = members["items"] if isinstance(members, dict) else members
        assert [m["role"] for m in items] == ["manager"]

        # 5. Finance sets up billing; an invoice is drafted by the engagement workflows.
        r = await finance.post(
            "/v1/contracts",
            json={
                "client_id": client_id,
                "code": "RET-1",
                "name": "Retainer",
                "terms": retainer_terms(period(-1), "4000.00"),
                "config": {"grace_s": 0, "remind_after_s": 3600, "escalate_after_s": 7200},
            },
            headers=csrf(finance),
        )
        assert r.status_code == 201, r.text
        contract_id = r.json()["id"]

        async def draft() -> list[dict]:
            got = await finance.get(f"/v1/invoices?contract_id={contract_id}&status=draft")
            return got.json()["items"]

        invoice = (await eventually(draft, timeout=60))[0]
        approve = f"/v1/invoices/{invoice['id']}/approve"

        # 6. Finance cannot approve without a second factor ...
        r = await finance.post(approve, json={}, headers=csrf(finance))
        assert r.status_code == 403 and r.json()["type"].endswith("/mfa-enrolment-required")
        r = await finance.post("/v1/auth/mfa/enrol", headers=csrf(finance))
        finance_secret = r.json()["secret"]
        now = datetime.now(UTC)
        r = await finance.post(
            "/v1/auth/mfa/confirm", json={"code": totp.code_at(finance_secret, now)}, headers=csrf(finance)
        )
        assert r.status_code == 200
        # ... nor from a fresh sign-in until the code is entered ...
        await finance.post("/v1/auth/logout", headers=csrf(finance))
        r = await finance.post("/v1/auth/login", json={"email": emails["finance"], "password": PASSWORD})
        assert r.status_code == 200 and r.json()["mfa_required"] is True
        r = await finance.post(approve, json={}, headers=csrf(finance))
        assert r.status_code == 403 and r.json()["type"].endswith("/mfa-required")
        code = totp.code_at(finance_secret, now + timedelta(seconds=30))
        r = await finance.post("/v1/auth/mfa/verify", json={"code": code}, headers=csrf(finance))
        assert r.status_code == 200, r.text
        # ... and then approves.
        r = await finance.post(approve, json={}, headers=csrf(finance))
        assert r.status_code == 200, r.text
        assert r.json()["status"] == "approved" and r.json()["total"] == "4000.00"

        # The audit log names the person behind each step.
        async def entries(action: str) -> list[dict]:
            got = await owner.get("/v1/audit-log", params={"action": action})
            return got.json()["items"]

        [approval] = await eventually(lambda: entries("invoice.approve"), timeout=10)
        # The approval is recorded by the billing workflow with the acting session's id (the workflow input
        # carries no user yet); that session's own entries name the person.
        verified = [e for e in await entries("auth.mfa_verified") if e["actor_user_id"] == finance_user]
        assert approval["actor_role"] == "finance"
        assert approval["actor_id"] in {e["actor_id"] for e in verified}
        assert {e["actor_type"] for e in verified} == {"session"}
        [project] = await entries("project.create")
        assert (project["actor_user_id"], project["actor_role"]) == (pm_user, "pm")
        logins = {e["actor_user_id"] for e in await entries("auth.login")}
        assert finance_user in logins
        assert len(await entries("auth.mfa_enrolled")) == 2
        assert {e["detail"]["role"] for e in await entries("invite.accept")} == {"owner", "finance", "pm"}
