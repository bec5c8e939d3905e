"""Token buckets for the API's rate limits, kept in the API process (no shared store to depend on).

Three limits use them: events per second per API key (``/v1/events``), requests per second per API key
(every other route), and failed authentications per client address and claimed organisation. Each is per
API process, so with *k* processes behind a balancer the effective limit is *k* times the setting. The
buckets are keyed by something that belongs to one tenant (its key id, or the org id its token claims), so
one tenant using up its limit never costs another tenant anything.
"""

from __future__ import annotations

import math
import time
from collections.abc import Hashable
from dataclasses import dataclass, field
from typing import Any, Final

from litestar import Request

_MAX_KEYS: Final = 100_000


@dataclass(slots=True)
class TokenBuckets:
    """``rate`` tokens per second per key, up to ``burst``.

    A request costing ``n`` passes when the bucket holds ``min(n, burst)`` tokens and then takes all ``n``
    (the balance may go negative, so a batch larger than the burst is paid for by waiting afterwards).
    At most ``max_keys`` buckets are kept, least recently used dropped first: a dropped bucket starts full
    again, which only ever errs towards letting a request through, and an attacker cycling through
    addresses cannot grow the process without bound.
    """

    rate: float
    burst: int
    max_keys: int = _MAX_KEYS
    buckets: dict[Hashable, tuple[float, float]] = field(default_factory=dict)

    def _level(self, key: Hashable, now: float) -> float:
        tokens, last = self.buckets.pop(key, (float(self.burst), now))
        return min(float(self.burst), tokens + (now - last) * self.rate)

    def _store(self, key: Hashable, tokens: float, now: float) -> None:
        self.buckets[key] = (tokens, now)
        while len(self.buckets) > self.max_keys:
            del self.buckets[next(iter(self.buckets))]

    def take(self, key: Hashable, cost: int = 1, now: float | None = None) -> float | None:
        """None when allowed (and the cost is taken), else the seconds to wait before retrying."""
        now = time.monotonic() if now is None else now
        tokens = self._level(key, now)
        need = min(cost, self.burst)
        if tokens < need:
            self._store(key, tokens, now)
            return (need - tokens) / self.rate
        self._store(key, tokens - cost, now)
        return None

    def wait(self, key: Hashable, now: float | None = None) -> float | None:
        """Like ``take(key, 1)`` but takes nothing: None when a token is there, else the seconds to wait."""
        now = time.monotonic() if now is None else now
        found = self.buckets.get(key)
        if found is None:
            return None
        tokens = min(float(self.burst), found[0] + (now - found[1]) * self.rate)
        return None if tokens >= 1 else (1 - tokens) / self.rate


def retry_after(wait_s: float) -> int:
    """``Retry-After`` takes whole seconds; never 0, which would invite an immediate retry."""
    return max(1, math.ceil(wait_s))


def limiter(request: Request[Any, Any, Any], name: str, rate: float, burst: int) -> TokenBuckets:
    """The app's limiter called ``name``, created on first use from the settings the app was built with."""
    state = request.app.state
    found: TokenBuckets | None = getattr(state, name, None)
    if found is None:
        found = TokenBuckets(rate=rate, burst=burst)
        setattr(state, name, found)
    return found
