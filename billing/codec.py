"""JSON encoding shared by every consumer of billing types (activities, API jsonb, CLI).

One encoder with deterministic ordering guarantees that identical values encode to identical bytes,
which the engine's determinism promise and invoice idempotency keys depend on. Decimals are encoded as
plain fixed-point strings (``"850000"``, ``"0.00000025"``; never ``"8.5E+5"``, see core/plain_decimal.py)
so no consumer ever parses money into an inexact IEEE 754 double or misreads exponent notation.
"""

from __future__ import annotations

from typing import Any, TypeVar

import msgspec

from core import plain_decimal

T = TypeVar("T")

_ENCODER = plain_decimal.Encoder(order="deterministic")
_DECODERS: dict[Any, msgspec.json.Decoder[Any]] = {}


def encode(obj: object) -> bytes:
    return _ENCODER.encode(obj)


def decode(data: bytes | str, type_: type[T]) -> T:
    dec = _DECODERS.get(type_)
    if dec is None:
        dec = msgspec.json.Decoder(type_)
        _DECODERS[type_] = dec
    result: T = dec.decode(data)
    return result


def to_builtins(obj: object) -> Any:
    """Plain dict/list/str form (Decimals as fixed-point strings), e.g. for storing in a jsonb column."""
    return plain_decimal.to_builtins(obj, order="deterministic")
