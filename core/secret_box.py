"""Secrets the product must use again later (webhook signing secrets) are stored sealed, never readable.

An API key can be stored as a hash because it is only ever checked; a signing secret cannot, since every
delivery signs with it. Sealing it means a database dump, a backup or a read replica yields tokens, not
secrets: opening one needs a key held outside the database, ``AGENCYFLOW_SECRET_KEYS`` or, when that is
unset, ``<home>/secret.key`` (made on first use, mode 0600). Fernet (from ``cryptography``) authenticates as
well as encrypts, so a tampered row fails loudly instead of signing with garbage. Several keys may be set,
comma-separated, to rotate: the first seals, every one opens, and ``agencyflow secrets reseal`` moves every
row to the first key so the old one can be dropped.
"""

from __future__ import annotations

import contextlib
import os
import secrets
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Final

from cryptography.fernet import Fernet, InvalidToken, MultiFernet

from core.settings import Settings

SEALED_PREFIX: Final = "sealed:v1:"
KEY_FILE: Final = "secret.key"
_UNOPENABLE: Final = "the sealed secret was altered, or sealed with a key that is not configured"


class SecretBoxError(ValueError):
    """A stored secret cannot be opened: not sealed, tampered with, or sealed with a key not configured."""


class SecretBox:
    def __init__(self, keys: Sequence[str]) -> None:
        if not keys:
            raise SecretBoxError("at least one secret key is needed")
        try:
            self._fernet = MultiFernet([Fernet(key.strip().encode()) for key in keys])
        except ValueError as exc:
            raise SecretBoxError(
                "a secret key must be 32 url-safe base64-encoded bytes (agencyflow secrets new-key)"
            ) from exc

    def seal(self, secret: str) -> str:
        return SEALED_PREFIX + self._fernet.encrypt(secret.encode()).decode()

    def open(self, sealed: str) -> str:
        return self._unseal(self._fernet.decrypt, sealed).decode()

    def reseal(self, sealed: str) -> str:
        """The same secret under the first key, so that the other keys can be retired."""
        return SEALED_PREFIX + self._unseal(self._fernet.rotate, sealed).decode()

    @staticmethod
    def _unseal(operation: Callable[[bytes], bytes], sealed: str) -> bytes:
        if not sealed.startswith(SEALED_PREFIX):
            raise SecretBoxError("the stored value is not a sealed secret")
        try:
            return operation(sealed[len(SEALED_PREFIX) :].encode())
        except InvalidToken as exc:
            raise SecretBoxError(_UNOPENABLE) from exc


def new_key() -> str:
    return Fernet.generate_key().decode()


def secret_keys(settings: Settings) -> list[str]:
    """The configured keys, or the one in ``<home>/secret.key``, created by whichever process needs it first."""
    if settings.secret_keys:
        return list(settings.secret_keys)
    path = settings.home / KEY_FILE
    if not path.exists():
        _create_key_file(path)
    return [path.read_text().strip()]


def secret_box(settings: Settings) -> SecretBox:
    return SecretBox(secret_keys(settings))


def _create_key_file(path: Path) -> None:
    """Write the whole key to a private file, then link it into place: the API and the worker start together,
    and a plain write could let one read half a key, or two processes each keep a different one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    scratch = path.with_name(f".{KEY_FILE}.{os.getpid()}.{secrets.token_hex(4)}")
    fd = os.open(scratch, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "w") as handle:
            handle.write(new_key() + "\n")
            handle.flush()
            os.fsync(handle.fileno())
        with contextlib.suppress(FileExistsError):
            os.link(scratch, path)
    finally:
        scratch.unlink(missing_ok=True)
