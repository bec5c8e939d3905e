"""A Temporal payload converter backed by msgspec, shared by workers, the API and tests.

Workflow and activity arguments are msgspec Structs (terms, drafts, carried state) full of Decimals; the
default converter knows neither Structs nor exact decimals. Encoding stays ``json/plain``, so histories
remain readable in the Temporal UI.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import msgspec
import temporalio.api.common.v1
from temporalio.converter import (
    BinaryNullPayloadConverter,
    BinaryPlainPayloadConverter,
    CompositePayloadConverter,
    DataConverter,
    EncodingPayloadConverter,
    JSONProtoPayloadConverter,
)

from core import plain_decimal

# Decimals travel as plain fixed-point strings (never "8.5E+5"), like every JSON agencyflow writes.
_encoder = plain_decimal.Encoder()


class MsgspecJSONPayloadConverter(EncodingPayloadConverter):
    @property
    def encoding(self) -> str:
        return "json/plain"

    def to_payload(self, value: Any) -> temporalio.api.common.v1.Payload | None:
        return temporalio.api.common.v1.Payload(
            metadata={"encoding": self.encoding.encode()}, data=_encoder.encode(value)
        )

    def from_payload(self, payload: temporalio.api.common.v1.Payload, type_hint: type | None = None) -> Any:
        if type_hint is None or type_hint is Any:
            return msgspec.json.decode(payload.data)
        return msgspec.json.decode(payload.data, type=type_hint, strict=False)


class AgencyflowPayloadConverter(CompositePayloadConverter):
    def __init__(self) -> None:
        super().__init__(
            BinaryNullPayloadConverter(),
            BinaryPlainPayloadConverter(),
            JSONProtoPayloadConverter(),
            MsgspecJSONPayloadConverter(),
        )


DATA_CONVERTER = dataclasses.replace(DataConverter.default, payload_converter_class=AgencyflowPayloadConverter)
