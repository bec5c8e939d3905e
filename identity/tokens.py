"""One-time secrets (session, invite, reset): random, shown once, stored only as a SHA-256 digest.

A token has 256 bits of entropy, so a fast digest is enough to make a leaked table useless; slow hashing is
reserved for low-entropy secrets (passwords).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import uuid


def new_token() -> tuple[str, str]:
    """A fresh ``(token, digest)`` pair: give out the token, store the digest."""
    token = secrets.token_urlsafe(32)
    return token, token_digest(token)


def token_digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def same_digest(a: str, b: str) -> bool:
    """Constant-time comparison of two digests (CSRF tokens, recovery codes)."""
    return hmac.compare_digest(a.encode("ascii"), b.encode("ascii"))


def new_org_token(org_id: uuid.UUID) -> tuple[str, str]:
    """A token that names its org (``<org hex>.<secret>``), like API keys: the lookup can then run under that
    org's row-level security instead of across every tenant. Returns ``(token, digest of the whole token)``."""
    token = f"{org_id.hex}.{secrets.token_urlsafe(32)}"
    return token, token_digest(token)


def parse_org_token(token: str) -> tuple[uuid.UUID, str] | None:
    """``(org_id, digest)`` of a well-formed org token, None for anything else (never raises)."""
    head, dot, secret = token.partition(".")
    if not dot or len(head) != 32 or not 32 <= len(secret) <= 64:
        return None
    try:
        org_id = uuid.UUID(hex=head)
    except ValueError:
        return None
    return org_id, token_digest(token)
