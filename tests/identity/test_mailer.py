"""The mailer delivers through a real SMTP server, falls back to an outbox, and fails loudly, not silently."""

from __future__ import annotations

import email
import email.policy
import logging
from pathlib import Path

import pytest

from identity.mailer import Mailer, MailError, SmtpTarget
from tests.identity.smtp_sink import free_port, smtp_sink


async def test_mail_is_delivered_through_smtp() -> None:
    with smtp_sink() as (url, inbox):
        mailer = Mailer(smtp_url=url, sender="ops@agency.test", outbox=Path("/nonexistent"))
        assert not mailer.uses_outbox
        result = await mailer.send(to="maria@acme.test", subject="Your invite", body="Open https://x.test/i/abc\n")
        assert result is None
        [message] = inbox.wait_for("maria@acme.test")
    assert message["From"] == "ops@agency.test"
    assert message["Subject"] == "Your invite"
    assert "https://x.test/i/abc" in message.get_content()


async def test_without_smtp_mail_lands_in_the_outbox_and_the_path_is_logged(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    mailer = Mailer(smtp_url=None, sender="ops@agency.test", outbox=tmp_path / "outbox")
    with caplog.at_level(logging.INFO, logger="agencyflow.mail"):
        path = await mailer.send(to="maria@acme.test", subject="Reset", body="token-here\n")
    assert path is not None and path.parent == tmp_path / "outbox" and path.suffix == ".eml"
    parsed = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
    assert parsed["To"] == "maria@acme.test" and "token-here" in parsed.get_content()  # type: ignore[attr-defined]
    assert any(getattr(r, "path", None) == str(path) for r in caplog.records)


async def test_unreachable_smtp_raises_mail_error_without_the_password(caplog: pytest.LogCaptureFixture) -> None:
    port = free_port()  # nothing listens here
    mailer = Mailer(smtp_url=f"smtp://mailer:hunter2-secret@127.0.0.1:{port}", sender="a@b.test", outbox=Path("/x"))
    with caplog.at_level(logging.DEBUG), pytest.raises(MailError) as err:
        await mailer.send(to="x@y.test", subject="s", body="b")
    assert "hunter2" not in str(err.value)
    assert "hunter2" not in caplog.text


def test_smtp_url_forms() -> None:
    plain = SmtpTarget.parse("smtp://mail.local:2525")
    assert (plain.host, plain.port, plain.tls, plain.starttls) == ("mail.local", 2525, False, False)
    assert plain.username is None
    tls = SmtpTarget.parse("smtps://u%40x:p%2Fw@mail.local")
    assert (tls.port, tls.tls, tls.username, tls.password) == (465, True, "u@x", "p/w")
    assert SmtpTarget.parse("smtp://m:587?starttls=1").starttls
    with pytest.raises(ValueError):
        SmtpTarget.parse("http://mail.local")
