"""Password hashing with Argon2id (RFC 9106), so a stolen users table does not yield passwords cheaply.

``verify_absent`` exists for sign-in with an unknown email: it spends the same work as a real check, so
response time does not reveal which emails have accounts.
"""

from __future__ import annotations

from functools import lru_cache

from argon2 import PasswordHasher, Type
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

# RFC 9106's second recommended profile (64 MiB, 3 passes, 4 lanes): strong enough, and affordable per login.
_HASHER = PasswordHasher(time_cost=3, memory_cost=64 * 1024, parallelism=4, hash_len=32, salt_len=16, type=Type.ID)


def hash_password(password: str) -> str:
    """The encoded ``$argon2id$...`` string (algorithm, parameters, salt and hash in one)."""
    return _HASHER.hash(password)


def verify_password(encoded: str, password: str) -> bool:
    """True only for the right password; a malformed stored hash is a mismatch, never an exception."""
    try:
        return _HASHER.verify(encoded, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def needs_rehash(encoded: str) -> bool:
    """True when the stored hash used weaker parameters than today's, so login can upgrade it."""
    try:
        return _HASHER.check_needs_rehash(encoded)
    except InvalidHashError:
        return True


@lru_cache(maxsize=1)
def _dummy_hash() -> str:
    return _HASHER.hash("not a password anyone has: timing equaliser")


def verify_absent(password: str) -> bool:
    """Spend one full verification for an email with no account; always False."""
    verify_password(_dummy_hash(), password)
    return False


def is_argon2id(encoded: str) -> bool:
    """True for an Argon2id encoded hash (what the security test checks on stored rows)."""
    return encoded.startswith("$argon2id$")
