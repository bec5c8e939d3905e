"""The per-key events limiter, driven with explicit clock readings so no test depends on machine speed."""

import uuid

import pytest

from api.routes.events import TokenBuckets

KEY = uuid.UUID(int=1)


def test_a_full_burst_passes_and_the_next_event_waits_one_refill() -> None:
    buckets = TokenBuckets(rate=5.0, burst=10)
    assert buckets.take(KEY, 10, now=100.0) is None
    assert buckets.take(KEY, 1, now=100.0) == 0.2


def test_tokens_refill_at_the_rate_and_never_past_the_burst() -> None:
    buckets = TokenBuckets(rate=5.0, burst=10)
    assert buckets.take(KEY, 10, now=0.0) is None
    assert buckets.take(KEY, 1, now=0.2) is None  # one token came back in 0.2 s
    assert buckets.take(KEY, 1, now=0.2) == 0.2
    assert buckets.take(KEY, 10, now=1000.0) is None  # an hour idle still holds only the burst
    assert buckets.take(KEY, 1, now=1000.0) == 0.2


def test_a_batch_larger_than_the_burst_passes_once_and_is_paid_for_afterwards() -> None:
    buckets = TokenBuckets(rate=10.0, burst=10)
    assert buckets.take(KEY, 30, now=0.0) is None  # balance is now -20
    # -20 + 10 refilled = -10; one more event needs 11 tokens at 10/s.
    assert buckets.take(KEY, 1, now=1.0) == pytest.approx(1.1)


def test_each_key_has_its_own_bucket() -> None:
    buckets = TokenBuckets(rate=1.0, burst=2)
    assert buckets.take(KEY, 2, now=0.0) is None
    assert buckets.take(uuid.UUID(int=2), 2, now=0.0) is None
    assert buckets.take(KEY, 1, now=0.0) == 1.0
