"""Outgoing mail: SMTP when ``AGENCYFLOW_SMTP_URL`` is set, else ``.eml`` files in ``<home>/outbox/``.

The outbox keeps a fresh ``make run`` usable with no mail server: the invite link is in a file whose path
is logged. ``smtp://host:port`` speaks plain SMTP (upgrading with STARTTLS when the server offers it and
``?starttls=1`` is given), ``smtps://`` speaks TLS from the start; ``user:password@`` logs in. The URL's
password never reaches a log line.
"""

from __future__ import annotations

import asyncio
import logging
import smtplib
import ssl
from dataclasses import dataclass
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlsplit

from core.ids import new_id

log = logging.getLogger("agencyflow.mail")

SMTP_TIMEOUT_S = 10.0


class MailError(RuntimeError):
    """The mail could not be handed to the SMTP server (the caller answers 503)."""


@dataclass(frozen=True)
class SmtpTarget:
    host: str
    port: int
    tls: bool
    starttls: bool
    username: str | None
    password: str | None

    @classmethod
    def parse(cls, url: str) -> SmtpTarget:
        parts = urlsplit(url)
        if parts.scheme not in ("smtp", "smtps") or not parts.hostname:
            raise ValueError("AGENCYFLOW_SMTP_URL must look like smtp://host:port or smtps://user:pass@host:port")
        tls = parts.scheme == "smtps"
        query = parse_qs(parts.query)
        return cls(
            host=parts.hostname,
            port=parts.port or (465 if tls else 25),
            tls=tls,
            starttls=query.get("starttls", ["0"])[0] in ("1", "true", "yes"),
            username=unquote(parts.username) if parts.username else None,
            password=unquote(parts.password) if parts.password else None,
        )


@dataclass(frozen=True, slots=True)
class Attachment:
    filename: str
    media_type: str
    content: bytes


class Mailer:
    """Builds and sends plain-text mail (with attachments, e.g. an invoice PDF); ``send`` is async and never
    blocks the event loop."""

    def __init__(self, *, smtp_url: str | None, sender: str, outbox: Path) -> None:
        self._target = SmtpTarget.parse(smtp_url) if smtp_url else None
        self._sender = sender
        self._outbox = outbox

    @property
    def uses_outbox(self) -> bool:
        return self._target is None

    def compose(self, *, to: str, subject: str, body: str, attachments: tuple[Attachment, ...] = ()) -> EmailMessage:
        message = EmailMessage()
        message["From"] = self._sender
        message["To"] = to
        message["Subject"] = subject
        message["Date"] = format_datetime(datetime.now(UTC))
        message["Message-ID"] = make_msgid(domain=self._sender.rsplit("@", 1)[-1] or "localhost")
        # Plain ASCII goes unencoded, so links stay whole and clickable in the .eml files people open.
        plain = body.isascii() and all(len(line) < 990 for line in body.splitlines())
        message.set_content(body, cte="7bit" if plain else "quoted-printable")
        for item in attachments:
            maintype, _, subtype = item.media_type.partition("/")
            message.add_attachment(item.content, maintype=maintype, subtype=subtype, filename=item.filename)
        return message

    async def send(self, *, to: str, subject: str, body: str, attachments: tuple[Attachment, ...] = ()) -> Path | None:
        """Send one message; returns the outbox file when there is no SMTP server configured."""
        message = self.compose(to=to, subject=subject, body=body, attachments=attachments)
        if self._target is None:
            return await asyncio.to_thread(self._write_outbox, message)
        await asyncio.to_thread(self._send_smtp, self._target, message)
        return None

    def _write_outbox(self, message: EmailMessage) -> Path:
        self._outbox.mkdir(parents=True, exist_ok=True)
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S")
        path = self._outbox / f"{stamp}-{new_id()}.eml"
        path.write_bytes(bytes(message))
        log.info("mail written to outbox", extra={"path": str(path), "subject": message["Subject"]})
        return path

    @staticmethod
    def _send_smtp(target: SmtpTarget, message: EmailMessage) -> None:
        try:
            client: smtplib.SMTP
            if target.tls:
                client = smtplib.SMTP_SSL(
                    target.host, target.port, timeout=SMTP_TIMEOUT_S, context=ssl.create_default_context()
                )
            else:
                client = smtplib.SMTP(target.host, target.port, timeout=SMTP_TIMEOUT_S)
            with client:
                if target.starttls:
                    client.starttls(context=ssl.create_default_context())
                if target.username:
                    client.login(target.username, target.password or "")
                client.send_message(message)
        except (OSError, smtplib.SMTPException) as exc:
            # The exception text may name the server but never the password (it is not in the message).
            log.warning("mail not sent", extra={"host": target.host, "port": target.port, "error": type(exc).__name__})
            raise MailError(f"mail server {target.host}:{target.port} unavailable") from exc
