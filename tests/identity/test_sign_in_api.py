"""Sign-in through the API, against real PostgreSQL and a real local SMTP server.

The security properties the issue lists: brute force locks out (and unlocks) without revealing whether
the account exists; CSRF is blocked; session fixation is impossible; a removed member's session and keys
fail at once; a TOTP code cannot be replayed; password hashes are Argon2id; money needs a recent MFA.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from datetime import UTC, datetime, timedelta

from sqlalchemy import text

from core.ids import new_id
from identity import totp
from persistence.api_key_store import issue_key
from persistence.db import tenant_session
from tests.engagements.conftest import eventually
from tests.identity.conftest import (
    PASSWORD,
    PLATFORM_TOKEN,
    Stack,
    accept,
    closing,
    create_org,
    csrf,
    enrol_totp,
    invite_and_accept,
    signed_in_owner,
    token_from_mail,
    unique_email,
)


async def test_platform_operator_creates_an_org_whose_owner_accepts_the_mailed_invite(
    identity_stack: Stack, admin_engine
) -> None:  # type: ignore[no-untyped-def]
    email = unique_email("owner")
    org = await create_org(identity_stack, email)
    assert org["owner_email"] == email and org["invite_url"].startswith("https://app.agency.test/invite#")
    mail = identity_stack.inbox.wait_for(email)[-1]
    assert mail["Subject"].startswith("You are invited to Agency ")
    assert org["invite_url"] in mail.get_content()
    async with identity_stack.client() as http:
        signed = await accept(identity_stack, http, email)
        assert signed["role"] == "owner" and signed["org_id"] == org["org_id"] and signed["mfa_required"] is False
        cookie = http.cookies["af_session"]
        assert cookie.startswith(uuid.UUID(org["org_id"]).hex + ".")
        me = await http.get("/v1/auth/me")
        assert me.status_code == 200 and me.json()["email"] == email and me.json()["role"] == "owner"
        assert (await http.get("/v1/org")).json()["id"] == org["org_id"]
        # The invite was single use.
        token = token_from_mail(identity_stack.inbox, email)
        again = await http.post(
            "/v1/auth/invites/accept", json={"token": token, "display_name": "X", "password": PASSWORD}
        )
        assert again.status_code == 404
    async with admin_engine.connect() as conn:
        stored = (await conn.execute(text("SELECT password_hash FROM users WHERE email = :e"), {"e": email})).scalar()
        token_hash = (
            await conn.execute(text("SELECT token_hash FROM invites WHERE email = :e"), {"e": email})
        ).scalar()
    assert stored.startswith("$argon2id$v=19$m=65536,t=3,p=4$")
    assert token not in token_hash and len(token_hash) == 64


async def test_cookie_flags_are_httponly_lax_and_secure_over_https(identity_stack: Stack) -> None:
    email = unique_email("owner")
    await create_org(identity_stack, email)
    token = token_from_mail(identity_stack.inbox, email)
    async with identity_stack.client() as http:
        r = await http.post(
            "https://testserver/v1/auth/invites/accept",
            json={"token": token, "display_name": "Olga", "password": PASSWORD},
        )
    assert r.status_code == 200, r.text
    cookies = {c.split("=", 1)[0]: c.lower() for c in r.headers.get_list("set-cookie")}
    assert "httponly" in cookies["af_session"] and "samesite=lax" in cookies["af_session"]
    assert "secure" in cookies["af_session"] and "path=/" in cookies["af_session"]
    assert "httponly" not in cookies["af_csrf"] and "secure" in cookies["af_csrf"]


async def test_platform_route_needs_its_token_and_a_free_slug(identity_stack: Stack) -> None:
    body = {"name": "X", "slug": f"s-{uuid.uuid4().hex[:8]}", "owner_email": unique_email("o")}
    async with identity_stack.client() as http:
        assert (await http.post("/v1/platform/orgs", json=body)).status_code == 401
        wrong = {"Authorization": "Bearer nope"}
        assert (await http.post("/v1/platform/orgs", json=body, headers=wrong)).status_code == 401
        ok = {"Authorization": f"Bearer {PLATFORM_TOKEN}"}
        assert (await http.post("/v1/platform/orgs", json=body, headers=ok)).status_code == 201
        dup = await http.post("/v1/platform/orgs", json={**body, "owner_email": unique_email("o")}, headers=ok)
        assert dup.status_code == 409 and dup.json()["errors"][0]["pointer"] == "/slug"
        bad = await http.post("/v1/platform/orgs", json={**body, "slug": "Not A Slug"}, headers=ok)
        assert bad.status_code == 422 and bad.json()["errors"][0]["pointer"] == "/slug"


async def test_a_common_password_is_refused_naming_the_field(identity_stack: Stack) -> None:
    email = unique_email("owner")
    await create_org(identity_stack, email)
    token = token_from_mail(identity_stack.inbox, email)
    async with identity_stack.client() as http:
        r = await http.post(
            "/v1/auth/invites/accept", json={"token": token, "display_name": "O", "password": "qwerty123456"}
        )
        assert r.status_code == 422
        assert r.json()["errors"] == [{"pointer": "/password", "detail": "is a commonly used or breached password"}]
        # Nothing was spent: the same invite still works with a good password.
        r = await http.post("/v1/auth/invites/accept", json={"token": token, "display_name": "O", "password": PASSWORD})
        assert r.status_code == 200


async def test_wrong_password_and_unknown_email_are_indistinguishable(identity_stack: Stack) -> None:
    owner, _, email = await signed_in_owner(identity_stack)
    async with closing(owner), identity_stack.client("10.1.0.1") as http:
        t0 = time.perf_counter()
        wrong = await http.post("/v1/auth/login", json={"email": email, "password": "not the password at all"})
        t1 = time.perf_counter()
        nobody = await http.post("/v1/auth/login", json={"email": unique_email("ghost"), "password": "whatever it is"})
        t2 = time.perf_counter()
        assert wrong.status_code == nobody.status_code == 401
        assert wrong.json()["detail"] == nobody.json()["detail"] == "email or password is wrong"

        # The failure is audited in the account's org (after the answer, so it costs the answer no time).
        async def failed() -> list[dict]:
            got = await owner.get("/v1/audit-log", params={"action": "auth.login_failed"})
            return got.json()["items"]

        [entry] = await eventually(failed, timeout=5)
        assert (entry["actor_type"], entry["actor_id"], entry["detail"]) == (
            "anonymous",
            "10.1.0.1",
            {"ip": "10.1.0.1", "reason": "password"},
        )
    # Both paths spend one Argon2id verification; neither is an order of magnitude faster.
    assert (t2 - t1) > (t1 - t0) / 4 and (t1 - t0) > (t2 - t1) / 4


async def test_brute_force_locks_out_then_unlocks_after_the_window_alike_for_unknown_emails(
    identity_stack: Stack,
) -> None:
    owner, _, email = await signed_in_owner(identity_stack)
    await owner.aclose()
    ghost = unique_email("ghost")
    async with identity_stack.client("10.2.0.1") as http:
        for target in (email, ghost):
            statuses = [
                (await http.post("/v1/auth/login", json={"email": target, "password": f"guess number {i}"})).status_code
                for i in range(3)
            ]
            assert statuses == [401, 401, 401]
            locked = await http.post("/v1/auth/login", json={"email": target, "password": PASSWORD})
            assert locked.status_code == 429 and 1 <= int(locked.headers["retry-after"]) <= 2
            assert locked.json()["detail"] == "too many failed sign-ins; try again later"
        await asyncio.sleep(2.1)
        r = await http.post("/v1/auth/login", json={"email": email, "password": PASSWORD})
        assert r.status_code == 200, r.text


async def test_too_many_failures_from_one_address_lock_that_address(identity_stack: Stack, app_database_url) -> None:  # type: ignore[no-untyped-def]
    import msgspec

    from api.app import create_app

    settings = msgspec.structs.replace(identity_stack.app.state.settings, login_source_fail_limit=4)
    app = create_app(settings, database_url=app_database_url)
    for hook in app.on_startup:
        await hook(app)
    try:
        stack = Stack(app, identity_stack.inbox)
        async with stack.client("10.3.0.1") as http:
            for i in range(4):
                r = await http.post("/v1/auth/login", json={"email": unique_email(f"spray{i}"), "password": "p" * 12})
                assert r.status_code == 401
            r = await http.post("/v1/auth/login", json={"email": unique_email("spray"), "password": "p" * 12})
            assert r.status_code == 429 and "retry-after" in r.headers
        async with stack.client("10.3.0.2") as other:
            r = await other.post("/v1/auth/login", json={"email": unique_email("fresh"), "password": "p" * 12})
            assert r.status_code == 401
    finally:
        for hook in app.on_shutdown:
            await hook(app)


async def test_unsafe_cookie_requests_without_the_csrf_token_are_refused(identity_stack: Stack) -> None:
    owner, _, _ = await signed_in_owner(identity_stack)
    async with closing(owner):
        body = {"email": unique_email("pm"), "role": "pm"}
        missing = await owner.post("/v1/invites", json=body)
        assert missing.status_code == 403 and missing.json()["type"].endswith("/csrf")
        forged = await owner.post("/v1/invites", json=body, headers={"X-CSRF-Token": "guessed"})
        assert forged.status_code == 403
        assert (await owner.post("/v1/invites", json=body, headers=csrf(owner))).status_code == 201
        # Reads need no token.
        assert (await owner.get("/v1/invites")).status_code == 200


async def test_login_never_adopts_a_planted_session(identity_stack: Stack) -> None:
    victim, org, email = await signed_in_owner(identity_stack)
    await victim.aclose()
    # The attacker signs in to get a real session of their own, then plants it in the victim's browser.
    async with identity_stack.client() as attacker_browser:
        r = await attacker_browser.post("/v1/auth/login", json={"email": email, "password": PASSWORD})
        assert r.status_code == 200
        planted = attacker_browser.cookies["af_session"]
    async with identity_stack.client() as browser:
        browser.cookies.set("af_session", planted, domain="testserver.local")
        r = await browser.post("/v1/auth/login", json={"email": email, "password": PASSWORD})
        assert r.status_code == 200
        fresh = browser.cookies["af_session"]
        assert fresh != planted
    async with identity_stack.client() as attacker:
        attacker.cookies.set("af_session", planted)
        assert (await attacker.get("/v1/auth/me")).status_code == 401
    async with identity_stack.client() as forger:
        forger.cookies.set("af_session", f"{uuid.UUID(org['org_id']).hex}.{'A' * 43}")
        assert (await forger.get("/v1/auth/me")).status_code == 401


async def test_a_removed_member_loses_session_and_keys_at_once(identity_stack: Stack, sessionmaker) -> None:  # type: ignore[no-untyped-def]
    owner, org, _ = await signed_in_owner(identity_stack)
    pm, pm_email = await invite_and_accept(identity_stack, owner, "pm")
    async with closing(owner, pm):
        me = (await pm.get("/v1/auth/me")).json()
        org_id = uuid.UUID(org["org_id"])
        async with tenant_session(sessionmaker, org_id) as s:
            _, key = await issue_key(
                s, org_id=org_id, name="pm's key", role="pm", scopes=["read", "write"], user_id=uuid.UUID(me["user_id"])
            )
        key_headers = {"Authorization": f"Bearer {key}"}
        assert (await pm.get("/v1/projects")).status_code == 200
        async with identity_stack.client() as api:
            assert (await api.get("/v1/projects", headers=key_headers)).status_code == 200
        members = (await owner.get("/v1/memberships")).json()["items"]
        membership = next(m for m in members if m["email"] == pm_email)
        r = await owner.delete(f"/v1/memberships/{membership['id']}", headers=csrf(owner))
        assert r.status_code == 204, r.text
        assert (await pm.get("/v1/projects")).status_code == 401
        async with identity_stack.client() as api:
            assert (await api.get("/v1/projects", headers=key_headers)).status_code == 401
        [entry] = (await owner.get("/v1/audit-log", params={"action": "membership.delete"})).json()["items"]
        owner_id = (await owner.get("/v1/auth/me")).json()["user_id"]
        assert (entry["actor_type"], entry["actor_user_id"], entry["actor_role"]) == ("session", owner_id, "owner")
        assert entry["detail"] == {"sessions": 1, "keys": 1}


async def test_totp_login_requires_the_code_and_a_used_code_is_refused(identity_stack: Stack) -> None:
    owner, _, email = await signed_in_owner(identity_stack)
    async with closing(owner):
        secret = await enrol_totp(owner)
    async with identity_stack.client() as http:
        r = await http.post("/v1/auth/login", json={"email": email, "password": PASSWORD})
        assert r.status_code == 200 and r.json()["mfa_required"] is True
        pending = await http.get("/v1/projects")
        assert pending.status_code == 403 and pending.json()["type"].endswith("/mfa-required")
        assert (await http.get("/v1/auth/me")).status_code == 200
        # The code used at enrolment (this step) is spent; the next step's code is accepted once.
        now = datetime.now(UTC)
        used = totp.code_at(secret, now)
        replay = await http.post("/v1/auth/mfa/verify", json={"code": used}, headers=csrf(http))
        assert replay.status_code == 422 and replay.json()["errors"][0]["pointer"] == "/code"
        before = http.cookies["af_session"]
        nxt = totp.code_at(secret, now + timedelta(seconds=30))
        ok = await http.post("/v1/auth/mfa/verify", json={"code": nxt}, headers=csrf(http))
        assert ok.status_code == 200, ok.text
        assert http.cookies["af_session"] != before  # rotated at the privilege change
        assert (await http.get("/v1/projects")).status_code == 200
        again = await http.post("/v1/auth/mfa/verify", json={"code": nxt}, headers=csrf(http))
        assert again.status_code == 422
    async with identity_stack.client() as old:
        old.cookies.set("af_session", before)
        assert (await old.get("/v1/auth/me")).status_code == 401


async def test_recovery_code_works_once(identity_stack: Stack) -> None:
    owner, _, email = await signed_in_owner(identity_stack)
    async with closing(owner):
        r = await owner.post("/v1/auth/mfa/enrol", headers=csrf(owner))
        secret = r.json()["secret"]
        assert r.json()["qr_svg"].startswith("<svg")
        r = await owner.post(
            "/v1/auth/mfa/confirm", json={"code": totp.code_at(secret, datetime.now(UTC))}, headers=csrf(owner)
        )
        codes = r.json()["recovery_codes"]
        assert len(codes) == 10
    async with identity_stack.client() as http:
        await http.post("/v1/auth/login", json={"email": email, "password": PASSWORD})
        ok = await http.post("/v1/auth/mfa/verify", json={"recovery_code": codes[0].upper()}, headers=csrf(http))
        assert ok.status_code == 200 and ok.json()["recovery_codes_left"] == 9
        again = await http.post("/v1/auth/mfa/verify", json={"recovery_code": codes[0]}, headers=csrf(http))
        assert again.status_code == 422


async def test_money_actions_need_a_recent_second_factor_for_finance_sessions(
    identity_stack: Stack, admin_engine
) -> None:  # type: ignore[no-untyped-def]
    owner, _, _ = await signed_in_owner(identity_stack)
    finance, _ = await invite_and_accept(identity_stack, owner, "finance")
    invoice = new_id()  # the step-up check comes before the invoice is even looked up
    approve = f"/v1/invoices/{invoice}/approve"
    async with closing(owner, finance):
        r = await finance.post(approve, json={}, headers=csrf(finance))
        assert r.status_code == 403 and r.json()["type"].endswith("/mfa-enrolment-required")
        secret = await enrol_totp(finance)  # confirming counts as a fresh check
        r = await finance.post(approve, json={}, headers=csrf(finance))
        assert r.status_code == 404, r.text
        async with admin_engine.begin() as conn:
            await conn.execute(
                text(
                    "UPDATE user_sessions SET mfa_verified_at = now() - interval '11 minutes' "
                    "WHERE token_hash = encode(sha256(convert_to(:t, 'UTF8')), 'hex')"
                ),
                {"t": finance.cookies["af_session"]},
            )
        r = await finance.post(f"/v1/invoices/{invoice}/reject", json={"reason": "x"}, headers=csrf(finance))
        assert r.status_code == 403 and r.json()["type"].endswith("/mfa-step-up-required")
        code = totp.code_at(secret, datetime.now(UTC) + timedelta(seconds=30))
        verified = await finance.post("/v1/auth/mfa/verify", json={"code": code}, headers=csrf(finance))
        assert verified.status_code == 200
        assert (await finance.post(approve, json={}, headers=csrf(finance))).status_code == 404
        # A PM's session is not held to MFA (and may not approve at all).
        pm, _ = await invite_and_accept(identity_stack, owner, "pm")
        async with closing(pm):
            assert (await pm.post(approve, json={}, headers=csrf(pm))).status_code == 403


async def test_password_reset_by_mailed_single_use_token_signs_out_everywhere(identity_stack: Stack) -> None:
    owner, _, email = await signed_in_owner(identity_stack)
    async with closing(owner), identity_stack.client() as anon:
        nobody = await anon.post("/v1/auth/password-reset", json={"email": unique_email("ghost")})
        r = await anon.post("/v1/auth/password-reset", json={"email": email})
        assert r.status_code == nobody.status_code == 202 and r.json() == nobody.json()
        token = token_from_mail(identity_stack.inbox, email, kind="reset-password")
        weak = await anon.post("/v1/auth/password-reset/confirm", json={"token": token, "password": "password"})
        assert weak.status_code == 422
        new = "a different long passphrase"
        ok = await anon.post("/v1/auth/password-reset/confirm", json={"token": token, "password": new})
        assert ok.status_code == 204
        again = await anon.post("/v1/auth/password-reset/confirm", json={"token": token, "password": new + "!"})
        assert again.status_code == 404
        assert (await owner.get("/v1/auth/me")).status_code == 401  # signed out everywhere
        old = await anon.post("/v1/auth/login", json={"email": email, "password": PASSWORD})
        assert old.status_code == 401
        assert (await anon.post("/v1/auth/login", json={"email": email, "password": new})).status_code == 200


async def test_logout_and_sign_out_everywhere(identity_stack: Stack) -> None:
    owner, _, email = await signed_in_owner(identity_stack)
    async with closing(owner), identity_stack.client() as second:
        await second.post("/v1/auth/login", json={"email": email, "password": PASSWORD})
        assert (await second.get("/v1/auth/me")).status_code == 200
        cookie = second.cookies["af_session"]
        assert (await second.post("/v1/auth/logout", headers=csrf(second))).status_code == 204
        second.cookies.set("af_session", cookie)
        assert (await second.get("/v1/auth/me")).status_code == 401
        await second.post("/v1/auth/login", json={"email": email, "password": PASSWORD})
        assert (await owner.post("/v1/auth/logout-everywhere", headers=csrf(owner))).status_code == 204
        assert (await second.get("/v1/auth/me")).status_code == 401


async def test_idle_session_times_out(identity_stack: Stack, admin_engine) -> None:  # type: ignore[no-untyped-def]
    owner, _, _ = await signed_in_owner(identity_stack)
    async with closing(owner):
        async with admin_engine.begin() as conn:
            await conn.execute(
                text(
                    "UPDATE user_sessions SET last_seen_at = now() - interval '31 minutes' "
                    "WHERE token_hash = encode(sha256(convert_to(:t, 'UTF8')), 'hex')"
                ),
                {"t": owner.cookies["af_session"]},
            )
        r = await owner.get("/v1/auth/me")
        assert r.status_code == 401 and "timed out" in r.json()["detail"]


async def test_api_keys_keep_working_without_csrf(identity_stack: Stack, org) -> None:  # type: ignore[no-untyped-def]
    async with identity_stack.client() as http:
        r = await http.post("/v1/invites", json={"email": unique_email("k"), "role": "staff"}, headers=org.headers())
        assert r.status_code == 201, r.text
        assert (await http.post("/v1/auth/logout", headers=org.headers())).status_code == 403


async def test_self_service_signup_is_off_by_default_and_mails_the_owner_when_on(
    identity_stack: Stack, app_database_url
) -> None:  # type: ignore[no-untyped-def]
    import msgspec

    from api.app import create_app

    def body() -> dict[str, str]:
        return {"name": "Self Serve", "slug": f"self-{uuid.uuid4().hex[:8]}", "email": unique_email("self")}

    async with identity_stack.client() as http:
        assert (await http.post("/v1/auth/signup", json=body())).status_code == 404
    settings = msgspec.structs.replace(
        identity_stack.app.state.settings, signup_enabled=True, login_source_fail_limit=2
    )
    app = create_app(settings, database_url=app_database_url)
    for hook in app.on_startup:
        await hook(app)
    try:
        stack = Stack(app, identity_stack.inbox)
        first = body()
        async with stack.client("10.4.0.1") as http:
            r = await http.post("/v1/auth/signup", json=first)
            assert r.status_code == 202 and "invite" not in r.text  # the link goes only to the mailbox
            signed = await accept(stack, http, first["email"])
            assert signed["role"] == "owner"
            assert (await http.get("/v1/org")).json()["slug"] == first["slug"]
            assert (await http.post("/v1/auth/signup", json=body())).status_code == 202
            limited = await http.post("/v1/auth/signup", json=body())
            assert limited.status_code == 429 and "retry-after" in limited.headers
    finally:
        for hook in app.on_shutdown:
            await hook(app)


async def test_a_personal_key_acts_as_its_person_with_at_most_their_role(identity_stack: Stack) -> None:
    owner, _, _ = await signed_in_owner(identity_stack)
    await enrol_totp(owner)  # issuing keys is a step-up action for an owner's session
    async with closing(owner), identity_stack.client() as api:
        me = (await owner.get("/v1/auth/me")).json()
        r = await owner.post("/v1/api-keys", json={"name": "mine", "role": "owner"}, headers=csrf(owner))
        assert r.status_code == 201, r.text
        assert r.json()["key"]["user_id"] == me["user_id"]
        personal = {"Authorization": f"Bearer {r.json()['token']}"}
        r = await owner.post(
            "/v1/api-keys", json={"name": "ci", "role": "finance", "service": True}, headers=csrf(owner)
        )
        assert r.status_code == 201 and r.json()["key"]["user_id"] is None
        service = {"Authorization": f"Bearer {r.json()['token']}"}
        assert (await api.get("/v1/memberships", headers=personal)).status_code == 200
        # The owner makes someone else owner and steps down to staff: their key shrinks with them.
        successor, _ = await invite_and_accept(identity_stack, owner, "owner")
        async with closing(successor):
            members = (await successor.get("/v1/memberships")).json()["items"]
            mine = next(m for m in members if m["user_id"] == me["user_id"])
            r = await successor.patch(
                f"/v1/memberships/{mine['id']}",
                json={"role": "staff"},
                headers={**csrf(successor), "If-Match": f'"{mine["version"]}"'},
            )
            assert r.status_code == 200, r.text
        assert (await api.get("/v1/memberships", headers=personal)).status_code == 403  # staff may not
        assert (await api.get("/v1/projects", headers=personal)).status_code == 200
        assert (await owner.get("/v1/auth/me")).status_code == 401  # the role change ended the session
        # A service key acts for nobody and is not tied to anyone's membership.
        assert (await api.get("/v1/invoices", headers=service)).status_code == 200
