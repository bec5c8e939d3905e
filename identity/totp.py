"""TOTP second factor (RFC 6238) with pyotp: enrolment secret, otpauth URI, QR code, replay-safe checks.

``verify_code`` returns the time step a code matched; the caller stores it and passes it back as
``last_step``, so a code already used (or an older one still inside the clock-skew window) is refused.
Recovery codes are single-use fallbacks shown once and stored as digests.
"""

from __future__ import annotations

import hmac
import io
import secrets
from datetime import datetime

import pyotp
import segno

from identity.tokens import token_digest

INTERVAL_S = 30
DIGITS = 6
SKEW_STEPS = 1
"""Accept the previous and next 30-second step too: phones' clocks drift."""
RECOVERY_CODE_COUNT = 10
_RECOVERY_ALPHABET = "abcdefghjkmnpqrstuvwxyz23456789"  # no 0/o, 1/l/i: read off paper without mistakes


def new_secret() -> str:
    """A 160-bit base32 secret (RFC 4226's recommended length)."""
    return pyotp.random_base32(32)


def provisioning_uri(secret: str, *, account: str, issuer: str) -> str:
    """The ``otpauth://totp/...`` URI an authenticator app scans."""
    return pyotp.TOTP(secret, digits=DIGITS, interval=INTERVAL_S).provisioning_uri(name=account, issuer_name=issuer)


def qr_svg(uri: str) -> str:
    """The URI as an SVG QR code (a string ready to inline in a page)."""
    buffer = io.BytesIO()
    segno.make(uri, error="m").save(buffer, kind="svg", scale=4, xmldecl=False)
    return buffer.getvalue().decode("utf-8")


def step_at(now: datetime) -> int:
    return int(now.timestamp()) // INTERVAL_S


def code_at(secret: str, now: datetime) -> str:
    """The code an authenticator shows at ``now`` (tests and enrolment screens use it)."""
    return pyotp.TOTP(secret, digits=DIGITS, interval=INTERVAL_S).generate_otp(step_at(now))


def verify_code(secret: str, code: str, *, now: datetime, last_step: int | None) -> int | None:
    """The matched time step, or None if ``code`` is wrong, stale, or a replay of a step already used."""
    code = code.strip().replace(" ", "")
    if len(code) != DIGITS or not code.isdigit():
        return None
    totp = pyotp.TOTP(secret, digits=DIGITS, interval=INTERVAL_S)
    current = step_at(now)
    matched: int | None = None
    for step in range(current - SKEW_STEPS, current + SKEW_STEPS + 1):
        # Compare every candidate so timing does not reveal which step matched.
        if hmac.compare_digest(totp.generate_otp(step), code) and matched is None:
            matched = step
    if matched is None or (last_step is not None and matched <= last_step):
        return None
    return matched


def new_recovery_codes(count: int = RECOVERY_CODE_COUNT) -> list[str]:
    """Codes like ``k7mq-2xpz-w4ha-9trc`` (80 bits each), shown to the person once."""
    codes = []
    for _ in range(count):
        raw = "".join(secrets.choice(_RECOVERY_ALPHABET) for _ in range(16))
        codes.append("-".join(raw[i : i + 4] for i in range(0, 16, 4)))
    return codes


def normalise_recovery_code(code: str) -> str:
    return "".join(ch for ch in code.lower() if ch.isalnum())


def recovery_code_digest(code: str) -> str:
    """What is stored for a recovery code: typing it with or without dashes or capitals still matches."""
    return token_digest(normalise_recovery_code(code))
