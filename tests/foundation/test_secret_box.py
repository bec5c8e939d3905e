"""Sealed secrets: they open only with a configured key, tampering is caught, keys rotate, and the key file
is made once even when the API and the worker start together."""

from __future__ import annotations

import multiprocessing
import stat
from pathlib import Path

import msgspec
import pytest

from core.secret_box import SEALED_PREFIX, SecretBox, SecretBoxError, new_key, secret_keys
from core.settings import load_settings

SECRET = "whsec_" + "ab" * 32


def test_a_sealed_secret_opens_to_itself_and_reads_as_nothing_like_it() -> None:
    box = SecretBox([new_key()])
    sealed = box.seal(SECRET)
    assert sealed.startswith(SEALED_PREFIX)
    assert SECRET not in sealed and "ab" * 8 not in sealed
    assert box.open(sealed) == SECRET
    assert box.seal(SECRET) != sealed, "each seal is freshly randomised"


def test_a_tampered_token_or_a_foreign_key_is_refused() -> None:
    box = SecretBox([new_key()])
    sealed = box.seal(SECRET)
    flipped = sealed[:-5] + ("A" if sealed[-5] != "A" else "B") + sealed[-4:]
    with pytest.raises(SecretBoxError, match="altered"):
        box.open(flipped)
    with pytest.raises(SecretBoxError, match="not configured"):
        SecretBox([new_key()]).open(sealed)
    with pytest.raises(SecretBoxError, match="not a sealed secret"):
        box.open(SECRET)


def test_keys_rotate_new_first_then_reseal_then_the_old_key_can_go() -> None:
    old, new = new_key(), new_key()
    sealed_with_old = SecretBox([old]).seal(SECRET)
    both = SecretBox([new, old])
    assert both.open(sealed_with_old) == SECRET
    resealed = both.reseal(sealed_with_old)
    assert SecretBox([new]).open(resealed) == SECRET
    with pytest.raises(SecretBoxError):
        SecretBox([old]).open(resealed)


def test_a_malformed_key_or_no_key_is_a_clear_error() -> None:
    with pytest.raises(SecretBoxError, match="32 url-safe base64"):
        SecretBox(["not-a-key"])
    with pytest.raises(SecretBoxError, match="at least one"):
        SecretBox([])


def test_configured_keys_win_and_the_key_file_is_made_once_private(tmp_path: Path) -> None:
    configured = msgspec.structs.replace(load_settings(), home=tmp_path, secret_keys=("k1", "k2"))
    assert secret_keys(configured) == ["k1", "k2"]
    assert not (tmp_path / "secret.key").exists()
    settings = msgspec.structs.replace(configured, secret_keys=())
    first = secret_keys(settings)
    assert secret_keys(settings) == first
    mode = stat.S_IMODE((tmp_path / "secret.key").stat().st_mode)
    assert mode == 0o600
    assert SecretBox(first).open(SecretBox(first).seal(SECRET)) == SECRET
    assert [p.name for p in tmp_path.iterdir()] == ["secret.key"], "no scratch file may be left behind"


def _key_in(home: str, barrier: multiprocessing.synchronize.Barrier, out: multiprocessing.Queue[str]) -> None:
    settings = msgspec.structs.replace(load_settings(), home=Path(home), secret_keys=())
    barrier.wait()
    out.put(secret_keys(settings)[0])


def test_processes_starting_together_all_get_the_same_key(tmp_path: Path) -> None:
    context = multiprocessing.get_context("spawn")
    barrier = context.Barrier(6)
    out: multiprocessing.Queue[str] = context.Queue()
    processes = [context.Process(target=_key_in, args=(str(tmp_path), barrier, out)) for _ in range(6)]
    for process in processes:
        process.start()
    keys = {out.get(timeout=30) for _ in processes}
    for process in processes:
        process.join(30)
    assert len(keys) == 1
    assert (tmp_path / "secret.key").read_text().strip() in keys
