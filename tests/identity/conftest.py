"""An API with sign-in turned on: mail to a real local SMTP server, a platform token, short lockouts."""

from __future__ import annotations

import re
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import httpx
import msgspec
import pytest
from litestar import Litestar

from core.settings import Settings, load_settings
from identity import totp
from tests.identity.smtp_sink import Inbox, smtp_sink

PLATFORM_TOKEN = "platform-token-for-tests-0123456789"
PASSWORD = "violet tractor sings quietly"


@pytest.fixture(scope="session")
def smtp() -> Iterator[tuple[str, Inbox]]:
    with smtp_sink() as pair:
        yield pair


def identity_settings(smtp_url: str, home: Any, **overrides: Any) -> Settings:
    base = msgspec.structs.replace(
        load_settings(),
        home=home,
        temporal_address="127.0.0.1:1",
        smtp_url=smtp_url,
        mail_from="agencyflow@agency.test",
        public_url="https://app.agency.test",
        platform_token=PLATFORM_TOKEN,
        login_fail_limit=3,
        login_source_fail_limit=1000,
        login_lockout_s=2,
    )
    return msgspec.structs.replace(base, **overrides)


@dataclass
class Stack:
    app: Litestar
    inbox: Inbox

    def client(self, address: str = "127.0.0.1") -> httpx.AsyncClient:
        """A browser: its own cookie jar, its own address."""
        transport = httpx.ASGITransport(app=self.app, client=(address, 40000))
        return httpx.AsyncClient(transport=transport, base_url="http://testserver")


@pytest.fixture(scope="session")
async def identity_stack(app_database_url: str, smtp: tuple[str, Inbox], tmp_path_factory) -> AsyncIterator[Stack]:  # type: ignore[no-untyped-def]
    from api.app import create_app

    url, inbox = smtp
    settings = identity_settings(url, tmp_path_factory.mktemp("identity-home"))
    app = create_app(settings, database_url=app_database_url)
    for hook in app.on_startup:
        await hook(app)
    try:
        yield Stack(app, inbox)
    finally:
        for hook in app.on_shutdown:
            await hook(app)


@asynccontextmanager
async def closing(*clients: httpx.AsyncClient) -> AsyncIterator[None]:
    """Close browsers that were already used (``async with client`` only opens fresh ones)."""
    try:
        yield
    finally:
        for client in clients:
            await client.aclose()


def unique_email(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}@agency.test"


def token_from_mail(inbox: Inbox, address: str, kind: str = "invite") -> str:
    body = inbox.wait_for(address)[-1].get_content()
    match = re.search(rf"https://app\.agency\.test/{kind}#(\S+)", body)
    assert match, body
    return match.group(1)


def csrf(http: httpx.AsyncClient) -> dict[str, str]:
    return {"X-CSRF-Token": http.cookies["af_csrf"]}


async def create_org(stack: Stack, owner_email: str) -> dict[str, Any]:
    slug = f"org-{uuid.uuid4().hex[:10]}"
    async with stack.client() as http:
        r = await http.post(
            "/v1/platform/orgs",
            json={"name": f"Agency {slug}", "slug": slug, "owner_email": owner_email},
            headers={"Authorization": f"Bearer {PLATFORM_TOKEN}"},
        )
    assert r.status_code == 201, r.text
    body: dict[str, Any] = r.json()
    return body


async def accept(stack: Stack, http: httpx.AsyncClient, email: str, password: str = PASSWORD) -> dict[str, Any]:
    """Accept the latest invite mailed to ``email`` in browser ``http``; the browser is then signed in."""
    token = token_from_mail(stack.inbox, email)
    r = await http.post(
        "/v1/auth/invites/accept", json={"token": token, "display_name": email.split("@")[0], "password": password}
    )
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    return body


async def signed_in_owner(stack: Stack) -> tuple[httpx.AsyncClient, dict[str, Any], str]:
    email = unique_email("owner")
    org = await create_org(stack, email)
    http = stack.client()
    await accept(stack, http, email)
    return http, org, email


async def invite_and_accept(
    stack: Stack, owner: httpx.AsyncClient, role: str, address: str = "127.0.0.1"
) -> tuple[httpx.AsyncClient, str]:
    email = unique_email(role)
    r = await owner.post("/v1/invites", json={"email": email, "role": role}, headers=csrf(owner))
    assert r.status_code == 201, r.text
    http = stack.client(address)
    await accept(stack, http, email)
    return http, email


async def enrol_totp(http: httpx.AsyncClient) -> str:
    """Enrol and confirm TOTP for the browser's person; returns the secret (the 'phone')."""
    from datetime import UTC, datetime

    r = await http.post("/v1/auth/mfa/enrol", headers=csrf(http))
    assert r.status_code == 200, r.text
    secret: str = r.json()["secret"]
    code = totp.code_at(secret, datetime.now(UTC))
    r = await http.post("/v1/auth/mfa/confirm", json={"code": code}, headers=csrf(http))
    assert r.status_code == 200, r.text
    return secret
