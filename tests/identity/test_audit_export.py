"""The audit log as CSV: who (by email), what, when; formula cells defused; finance yes, a PM no."""

from __future__ import annotations

import csv
import io
import uuid

from core.permissions import Role
from tests.identity.conftest import Stack, accept, closing, csrf, invite_and_accept, signed_in_owner


async def test_audit_csv_names_people_defuses_formulas_and_is_for_finance(identity_stack: Stack, org) -> None:  # type: ignore[no-untyped-def]
    owner, _, owner_email = await signed_in_owner(identity_stack)
    finance, _ = await invite_and_accept(identity_stack, owner, "finance")
    pm, _ = await invite_and_accept(identity_stack, owner, "pm")
    async with closing(owner, finance, pm):
        # Someone whose email a spreadsheet would run as a formula joins; their rows name them.
        evil = f"=cmd{uuid.uuid4().hex[:6]}@evil.test"
        r = await owner.post("/v1/invites", json={"email": evil, "role": "staff"}, headers=csrf(owner))
        assert r.status_code == 201, r.text
        staff = identity_stack.client()
        async with closing(staff):
            await accept(identity_stack, staff, evil)
        r = await finance.get("/v1/audit-log/export")
        assert r.status_code == 200, r.text
        assert r.headers["content-type"].startswith("text/csv")
        assert "attachment" in r.headers["content-disposition"]
        rows = list(csv.DictReader(io.StringIO(r.text)))
        actions = [row["action"] for row in rows]
        assert actions[0] == "org.create" and "invite.accept" in actions and "auth.mfa_enrolled" not in actions
        invite = next(row for row in rows if row["action"] == "invite.create" and row["actor_email"] == owner_email)
        assert (invite["actor_type"], invite["actor_role"]) == ("session", "owner")
        assert rows == sorted(rows, key=lambda row: row["at"])
        only = list(csv.DictReader(io.StringIO((await finance.get("/v1/audit-log/export?action=invite.accept")).text)))
        assert {row["action"] for row in only} == {"invite.accept"} and len(only) == 4
        assert "'" + evil in {row["actor_email"] for row in only}
        assert not any(cell.startswith("=") for row in rows for cell in row.values())
        assert (await pm.get("/v1/audit-log/export")).status_code == 403
        reads = (await owner.get("/v1/audit-log", params={"action": "audit.export"})).json()["items"]
        assert len(reads) == 2 and {e["actor_role"] for e in reads} == {"finance"}
    async with identity_stack.client() as http:
        # Finance API keys read it too; another org's export holds none of this org's rows.
        r = await http.get("/v1/audit-log/export", headers=org.headers(Role.FINANCE))
        assert r.status_code == 200 and evil not in r.text and owner_email not in r.text
