"""API key tokens: ``afk_<org id hex>_<public prefix>_<secret>``.

The org id travels in the token so authentication can run *under* row-level security (we know the tenant
before reading any row); the prefix finds the key; only a SHA-256 of the high-entropy secret is stored.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import string
import uuid
from typing import NamedTuple

TOKEN_PREFIX = "afk"
_ALPHABET = string.ascii_lowercase + string.digits


class ParsedToken(NamedTuple):
    org_id: uuid.UUID
    prefix: str
    secret: str


class NewKey(NamedTuple):
    token: str
    prefix: str
    secret_hash: str


def hash_secret(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def generate(org_id: uuid.UUID) -> NewKey:
    prefix = "".join(secrets.choice(_ALPHABET) for _ in range(12))
    secret = secrets.token_hex(24)
    return NewKey(f"{TOKEN_PREFIX}_{org_id.hex}_{prefix}_{secret}", prefix, hash_secret(secret))


def parse(token: str) -> ParsedToken | None:
    parts = token.strip().split("_")
    if len(parts) != 4 or parts[0] != TOKEN_PREFIX:
        return None
    try:
        org_id = uuid.UUID(hex=parts[1])
    except ValueError:
        return None
    if not (parts[2] and parts[3]) or len(parts[2]) > 16:
        return None
    return ParsedToken(org_id, parts[2], parts[3])


def verify(secret: str, secret_hash: str) -> bool:
    return hmac.compare_digest(hash_secret(secret), secret_hash)
