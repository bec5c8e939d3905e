"""Request-body DTO: Litestar documents the struct in OpenAPI, we decode strictly and list every error.

Litestar's own msgspec DTO builds a transfer model (and loosens typing); we need neither, so this DTO
skips the backend entirely and documents the struct as written.
"""

from __future__ import annotations

from collections.abc import Generator
from enum import Enum
from typing import Any

from litestar import Response
from litestar.dto import AbstractDTO
from litestar.dto.data_structures import DTOFieldDefinition
from litestar.openapi.spec import Reference, Schema
from litestar.serialization import default_serializer
from litestar.typing import FieldDefinition

from api.decoding import decode_json
from api.problems import UnsupportedMediaType
from core import plain_decimal


def is_json_media_type(content_type: str) -> bool:
    media = content_type.split(";", 1)[0].strip().lower()
    return media == "application/json" or (media.startswith("application/") and media.endswith("+json"))


_RESPONSE_JSON = plain_decimal.Encoder(enc_hook=default_serializer)


async def plain_decimal_body(response: Response[Any]) -> Response[Any]:
    """The app's ``after_request`` hook: encode JSON bodies with every Decimal in plain fixed-point form.

    Litestar (through msgspec) writes a Decimal with ``str()``, which gives ``"1.0E+5"`` for a budget of
    100000 or ``"8.5E+5"`` for a yen subtotal. Bodies already encoded (bytes) are left alone; the code that
    encodes them uses the same ``core.plain_decimal`` encoder.
    """
    content = response.content
    media = response.media_type.value if isinstance(response.media_type, Enum) else str(response.media_type)
    if content is None or isinstance(content, bytes | str) or not is_json_media_type(media):
        return response
    response.content = _RESPONSE_JSON.encode(content)
    return response


class Body(AbstractDTO[Any]):
    """Use as ``dto=Body[SomeStruct], return_dto=None`` on handlers taking ``data: SomeStruct``."""

    @classmethod
    def generate_field_definitions(cls, model_type: type[Any]) -> Generator[DTOFieldDefinition, None, None]:
        yield from ()

    @classmethod
    def detect_nested_field(cls, field_definition: FieldDefinition) -> bool:
        return False

    @classmethod
    def create_for_field_definition(
        cls, field_definition: FieldDefinition, handler_id: str, backend_cls: Any = None
    ) -> None:
        return None

    @classmethod
    def create_openapi_schema(
        cls, field_definition: FieldDefinition, handler_id: str, schema_creator: Any
    ) -> Reference | Schema:
        return schema_creator.for_field_definition(FieldDefinition.from_annotation(cls.model_type))  # type: ignore[no-any-return]

    def decode_bytes(self, value: bytes) -> Any:
        content_type = self.asgi_connection.headers.get("content-type", "")
        if not is_json_media_type(content_type):
            raise UnsupportedMediaType(f"send application/json, not {content_type or 'no Content-Type'}")
        return decode_json(value, self.model_type)
