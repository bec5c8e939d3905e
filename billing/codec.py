"""JSON encoding shared by every consumer of billing types (activities, API jsonb, CLI).

One encoder with deterministic ordering guarantees that identical values encode to identical bytes,
which the engine's determinism promise and invoice idempotency keys depend on. Decimals are encoded as
strings so no consumer ever parses money into an inexact IEEE 754 double.
"""

from __future__ import annotations

from typing import Any, TypeVar

import msgspec

T = TypeVar("T")

_ENCODER = msgspec.json.Encoder(decimal_format="string", order="deterministic")
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
    """Plain dict/list/str form (Decimals as strings), e.g. for storing in a jsonb column."""
    return msgspec.to_builtins(obj, order="deterministic")
