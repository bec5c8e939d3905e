"""Webhook signatures: HMAC-SHA256 over the timestamp and the exact body, Stripe-style, replay-resistant.

Header sent with every delivery attempt::

    Agencyflow-Signature: t=1767225600,v1=5f0c…(64 hex digits)

``v1`` is ``hex(HMAC_SHA256(key=secret.encode("utf-8"), msg=f"{t}.".encode() + raw_body))`` where ``t`` is the
Unix time (seconds) of the attempt and ``raw_body`` the request body bytes exactly as received. A receiver
recomputes it, compares in constant time, and rejects a ``t`` more than ``tolerance`` seconds from its clock
(so a captured request cannot be replayed later). Several ``v1=`` entries may appear while a secret is being
rotated; any match is valid. Deliveries are at least once: dedupe on ``Agencyflow-Event-Id``.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from typing import Final

HEADER: Final = "Agencyflow-Signature"
EVENT_ID_HEADER: Final = "Agencyflow-Event-Id"
DELIVERY_ID_HEADER: Final = "Agencyflow-Delivery-Id"
EVENT_TYPE_HEADER: Final = "Agencyflow-Event-Type"
DEFAULT_TOLERANCE_S: Final = 300
SECRET_PREFIX: Final = "whsec_"


def new_secret() -> str:
    return SECRET_PREFIX + secrets.token_hex(32)


def compute(secret: str, timestamp: int, body: bytes) -> str:
    return hmac.new(secret.encode("utf-8"), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()


def sign(secret: str, body: bytes, timestamp: int | None = None) -> str:
    """The header value for ``body`` sent now (or at ``timestamp``)."""
    ts = int(time.time()) if timestamp is None else timestamp
    return f"t={ts},v1={compute(secret, ts, body)}"


def verify(
    secret: str, body: bytes, header: str, *, tolerance_s: int = DEFAULT_TOLERANCE_S, now: float | None = None
) -> bool:
    """True when ``header`` carries a valid ``v1`` signature of ``body`` with a fresh timestamp."""
    timestamp: int | None = None
    candidates: list[str] = []
    for part in header.split(","):
        name, _, value = part.strip().partition("=")
        if name == "t" and value.isdigit():
            timestamp = int(value)
        elif name == "v1" and value:
            candidates.append(value)
    if timestamp is None or not candidates:
        return False
    current = time.time() if now is None else now
    if abs(current - timestamp) > tolerance_s:
        return False
    expected = compute(secret, timestamp, body)
    return any(hmac.compare_digest(expected, candidate) for candidate in candidates)
