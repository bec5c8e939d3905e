"""JSON with every Decimal written as a plain fixed-point string (``"850000"``, never ``"8.5E+5"``).

Why: msgspec writes a Decimal with ``str()``, and ``str()`` switches to exponent notation for a value with
a positive exponent (``Decimal("1.0E+5")``, the sum of yen amounts) or more than six leading zeros
(``0.00000025`` per token). Finance tools, spreadsheets and people read that as a different number, or
not as a number at all. Every JSON we write — API responses, stored drafts, Temporal payloads, the CLI —
goes through ``encode`` here, so the fixed-point form is decided in one place.

The fast path is msgspec's own encoder; only when its output contains a string that looks like exponent
notation is the value re-encoded with each Decimal formatted by ``format(d, "f")`` (a text field that
merely looks like ``"1E+5"`` is left as it is: only Decimals are reformatted).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from decimal import Decimal
from typing import Any, Literal

import msgspec

_EXPONENT = re.compile(rb'"-?\d(?:\.\d+)?E[+-]\d+"')
_PLAIN = msgspec.json.Encoder(decimal_format="string")

Order = Literal["deterministic", "sorted"] | None


def plain(d: Decimal) -> str:
    """``d`` as a fixed-point string, keeping its places (``Decimal("0E-2")`` -> ``"0.00"``)."""
    return format(d, "f")


def _fix(obj: Any) -> Any:
    if isinstance(obj, Decimal):
        return format(obj, "f")
    if isinstance(obj, dict):
        return {k: _fix(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_fix(v) for v in obj]
    return obj


def to_builtins(obj: Any, *, order: Order = None, enc_hook: Callable[[Any], Any] | None = None) -> Any:
    """msgspec.to_builtins with Decimals as fixed-point strings (e.g. for a jsonb column)."""
    return _fix(msgspec.to_builtins(obj, builtin_types=(Decimal,), order=order, enc_hook=enc_hook))


class Encoder:
    """Drop-in for ``msgspec.json.Encoder(decimal_format="string", ...)`` with plain decimals."""

    def __init__(self, *, order: Order = None, enc_hook: Callable[[Any], Any] | None = None) -> None:
        self._fast = msgspec.json.Encoder(decimal_format="string", order=order, enc_hook=enc_hook)
        self._order = order
        self._enc_hook = enc_hook

    def encode(self, obj: Any) -> bytes:
        data = self._fast.encode(obj)
        # str(Decimal) writes an exponent as "E+n" or "E-n": two substring scans rule it out at memchr speed
        if (b"E+" not in data and b"E-" not in data) or _EXPONENT.search(data) is None:
            return data
        # Struct fields keep their declared order and dicts are already ordered by to_builtins, so the
        # plain encoder (no re-sorting) lays the bytes out exactly as the fast path would.
        return _PLAIN.encode(to_builtins(obj, order=self._order, enc_hook=self._enc_hook))


_DEFAULT = Encoder()


def encode(obj: Any) -> bytes:
    return _DEFAULT.encode(obj)
