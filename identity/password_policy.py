"""Password policy after NIST SP 800-63B: long enough, not a known-breached or common password, not the email.

No character-class rules ("one digit, one symbol"): they push people to ``Password1!``, which is in every
breach list. The list of common passwords is the 30,000 most frequent passwords from leaked corpora that
the ``zxcvbn`` package ships; it is loaded once, on first use.
"""

from __future__ import annotations

import re
from functools import lru_cache

MIN_LENGTH = 12
"""Shorter passphrases fall to offline guessing even under Argon2id."""
MAX_LENGTH = 256
"""Long enough for any passphrase or manager; bounded so a huge body cannot make hashing a denial of service."""


class PasswordRejected(ValueError):
    """The password breaks the policy; ``reason`` is safe to show to the person choosing it."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@lru_cache(maxsize=1)
def common_passwords() -> frozenset[str]:
    """Lower-cased common and breached passwords."""
    from zxcvbn.frequency_lists import FREQUENCY_LISTS

    return frozenset(p.lower() for p in FREQUENCY_LISTS["passwords"])


_TRAILING_NOISE = re.compile(r"[\d\W_]+$")
_LEADING_NOISE = re.compile(r"^[\d\W_]+")


def _variants(password: str) -> set[str]:
    """The password and its core without the digits and symbols people pad common words with."""
    lowered = password.lower()
    core = _LEADING_NOISE.sub("", _TRAILING_NOISE.sub("", lowered))
    collapsed = re.sub(r"\s+", "", lowered)
    return {lowered, core, collapsed} - {""}


def check_password(password: str, *, email: str | None = None, context: tuple[str, ...] = ()) -> None:
    """Raise ``PasswordRejected`` if ``password`` must not be used; return quietly otherwise.

    ``context`` holds words specific to this service or account (the org's name, "agencyflow") that a
    guesser would try first.
    """
    if len(password) < MIN_LENGTH:
        raise PasswordRejected(f"must be at least {MIN_LENGTH} characters long")
    if len(password) > MAX_LENGTH:
        raise PasswordRejected(f"must be at most {MAX_LENGTH} characters long")
    if len(set(password)) < 4:
        raise PasswordRejected("must not repeat the same few characters")
    common = common_passwords()
    if any(v in common for v in _variants(password)):
        raise PasswordRejected("is a commonly used or breached password")
    lowered = password.lower()
    personal = [w.lower() for w in context if len(w) >= 4]
    if email:
        local = email.split("@", 1)[0].lower()
        personal += [email.lower(), local] if len(local) >= 4 else [email.lower()]
    for word in personal:
        rest = lowered.replace(word, "")
        if len(rest) < MIN_LENGTH // 2:
            raise PasswordRejected("must not be built from your email address or the organisation's name")
