"""Pure identity parts: Argon2id hashing, the password policy, TOTP with replay refusal, recovery codes."""

from __future__ import annotations

import base64
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs, urlsplit

import pytest
from argon2 import PasswordHasher, extract_parameters
from argon2.low_level import Type

from identity import passwords, totp
from identity.password_policy import MIN_LENGTH, PasswordRejected, check_password
from identity.tokens import new_token, token_digest

NOW = datetime(2026, 12, 5, 14, 0, 7, tzinfo=UTC)


def test_password_hashes_are_argon2id_with_rfc9106_parameters() -> None:
    encoded = passwords.hash_password("correct horse battery staple")
    assert encoded.startswith("$argon2id$v=19$m=65536,t=3,p=4$")
    assert passwords.is_argon2id(encoded)
    extracted = extract_parameters(encoded)
    assert extracted.type is Type.ID
    assert (extracted.memory_cost, extracted.time_cost, extracted.parallelism) == (65536, 3, 4)


def test_same_password_hashes_differently_each_time_and_verifies_only_itself() -> None:
    a = passwords.hash_password("correct horse battery staple")
    b = passwords.hash_password("correct horse battery staple")
    assert a != b
    assert passwords.verify_password(a, "correct horse battery staple")
    assert not passwords.verify_password(a, "correct horse battery stapler")
    assert not passwords.verify_password("not-a-hash", "anything")
    assert not passwords.needs_rehash(a)


def test_weaker_stored_hash_is_flagged_for_rehash() -> None:
    weak = PasswordHasher(time_cost=1, memory_cost=8 * 1024, parallelism=1).hash("correct horse battery staple")
    assert passwords.verify_password(weak, "correct horse battery staple")
    assert passwords.needs_rehash(weak)


def test_verifying_an_absent_user_spends_a_real_hash_and_fails() -> None:
    assert passwords.verify_absent("anything at all here") is False


@pytest.mark.parametrize(
    ("password", "reason"),
    [
        ("short1!", f"at least {MIN_LENGTH}"),
        ("aaaaaaaaaaaaaaaa", "same few"),
        ("password123456", "commonly used"),
        ("Password1234!", "commonly used"),
        ("qwerty123456", "commonly used"),
        ("1qaz2wsx3edc", "commonly used"),
        ("LeaveMeAlone!!", "commonly used"),
        ("!!monkey123456789", "commonly used"),
        ("x" * 257 + "yzw", "at most"),
    ],
)
def test_policy_rejects_short_repetitive_and_common_passwords(password: str, reason: str) -> None:
    with pytest.raises(PasswordRejected) as err:
        check_password(password)
    assert reason in err.value.reason


def test_policy_rejects_a_password_built_from_the_email_or_org_name() -> None:
    with pytest.raises(PasswordRejected, match="email"):
        check_password("maria.gomez2026", email="maria.gomez@acme.test")
    with pytest.raises(PasswordRejected, match="organisation"):
        check_password("northwind-agency!", context=("northwind-agency",))


def test_policy_accepts_long_uncommon_passphrases_without_class_rules() -> None:
    check_password("violet tractor sings quietly")  # no digits, no capitals, no symbols: fine
    check_password("Tr0ub4dor&3-but-longer", email="maria@acme.test")


def test_totp_enrolment_gives_a_scannable_uri_and_svg_qr() -> None:
    secret = totp.new_secret()
    assert len(base64.b32decode(secret)) == 20
    uri = totp.provisioning_uri(secret, account="maria@acme.test", issuer="agencyflow")
    parts = urlsplit(uri)
    assert (parts.scheme, parts.netloc) == ("otpauth", "totp")
    assert parse_qs(parts.query)["secret"] == [secret]
    assert parse_qs(parts.query)["issuer"] == ["agencyflow"]
    svg = totp.qr_svg(uri)
    assert svg.startswith("<svg") and svg.rstrip().endswith("</svg>")
    assert "<path" in svg


def test_totp_accepts_current_and_adjacent_steps_and_rejects_others() -> None:
    secret = totp.new_secret()
    step = totp.step_at(NOW)
    assert totp.verify_code(secret, totp.code_at(secret, NOW), now=NOW, last_step=None) == step
    earlier = totp.code_at(secret, NOW - timedelta(seconds=30))
    assert totp.verify_code(secret, earlier, now=NOW, last_step=None) == step - 1
    too_old = totp.code_at(secret, NOW - timedelta(seconds=90))
    assert totp.verify_code(secret, too_old, now=NOW, last_step=None) is None
    assert totp.verify_code(secret, "12345", now=NOW, last_step=None) is None
    assert totp.verify_code(secret, "abcdef", now=NOW, last_step=None) is None


def test_a_used_totp_code_cannot_be_replayed_in_its_window() -> None:
    secret = totp.new_secret()
    code = totp.code_at(secret, NOW)
    used = totp.verify_code(secret, code, now=NOW, last_step=None)
    assert used is not None
    # Same code, ten seconds later, still inside the skew window: refused because its step was used.
    assert totp.verify_code(secret, code, now=NOW + timedelta(seconds=10), last_step=used) is None
    # An older code from the window is refused too once a later step was used.
    previous = totp.code_at(secret, NOW - timedelta(seconds=30))
    assert totp.verify_code(secret, previous, now=NOW, last_step=used) is None
    # The next step's code works.
    later = NOW + timedelta(seconds=30)
    assert totp.verify_code(secret, totp.code_at(secret, later), now=later, last_step=used) == used + 1


def test_recovery_codes_are_distinct_readable_and_matched_by_digest_in_any_case() -> None:
    codes = totp.new_recovery_codes()
    assert len(codes) == 10 and len(set(codes)) == 10
    for code in codes:
        assert len(code) == 19 and code.count("-") == 3
        assert not set(code.replace("-", "")) & set("01lio")
    code = codes[0]
    assert totp.recovery_code_digest(code.upper().replace("-", " ")) == totp.recovery_code_digest(code)
    assert totp.recovery_code_digest(codes[1]) != totp.recovery_code_digest(code)


def test_tokens_are_random_and_stored_only_as_digest() -> None:
    token, digest = new_token()
    other, _ = new_token()
    assert token != other and len(token) >= 43
    assert digest == token_digest(token) and token not in digest and len(digest) == 64
