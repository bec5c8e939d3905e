"""CloudEvents HTTP binding, binary content mode: the attributes travel as ``ce-*`` headers, the body is the
event's ``data`` and ``Content-Type`` is its ``datacontenttype`` (what the official SDKs' ``to_binary`` send).

The event is rebuilt into the same envelope structured mode decodes to, so both modes go through one
validation and one insert path; only the places a problem is reported differ (a header, or a pointer into
the body, which here *is* the data).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Final
from urllib.parse import unquote_to_bytes

import msgspec
from litestar.datastructures import Headers

from api.problems import FieldError
from persistence.ingest import CloudEvent, Rejected

PREFIX: Final = "ce-"
_ATTRIBUTES: Final = ("specversion", "id", "source", "type", "subject", "time")


def is_binary(headers: Headers, media_type: str) -> bool:
    """Binary mode is announced by ``ce-specversion``. A ``application/cloudevents*`` body is structured
    whatever headers come with it (the binding says structured mode wins)."""
    return "ce-specversion" in headers and not media_type.startswith("application/cloudevents")


def _is_json(media_type: str) -> bool:
    """Meters read JSON; a missing Content-Type means JSON, as the binding's JSON event format assumes."""
    return media_type in ("", "application/json") or media_type.endswith("+json")


def _header_text(name: str, raw: str) -> str:
    """Header values are percent-encoded UTF-8 (binding §3.1.3.2); servers hand them over as Latin-1 text, so
    undo that to bytes first, which also accepts senders that put raw UTF-8 on the wire."""
    return unquote_to_bytes(raw.encode("latin-1")).decode("utf-8")


def binary_event(headers: Headers, media_type: str, body: bytes) -> CloudEvent | Rejected:
    """The event the headers and body describe, or why they do not describe one."""
    attributes: dict[str, Any] = {}
    for name in _ATTRIBUTES:
        values = headers.getall(PREFIX + name, [])
        if len(values) > 1:
            return Rejected("invalid_event", f"{PREFIX}{name} is given {len(values)} times", f"/{name}")
        if values:
            try:
                attributes[name] = _header_text(name, values[0])
            except UnicodeDecodeError:
                return Rejected("invalid_event", f"{PREFIX}{name} is not percent-encoded UTF-8", f"/{name}")
    if not _is_json(media_type):
        return Rejected(
            "bad_data", f"data of type {media_type} is not supported; meters read JSON data", "/datacontenttype"
        )
    time = attributes.pop("time", None)
    event = CloudEvent(**attributes, datacontenttype=media_type or None, data=msgspec.Raw(body.strip()))
    if time is not None:
        try:
            event.time = msgspec.convert(time, datetime)
        except msgspec.ValidationError:
            return Rejected("bad_time", f"{PREFIX}time {time!r} is not RFC 3339 with an offset", "/time")
    return event


def has_nul(event: CloudEvent | Rejected) -> bool:
    """Percent-encoding lets a header smuggle U+0000 (``%00``), which PostgreSQL text cannot hold."""
    if type(event) is not CloudEvent:
        return False
    return any("\x00" in (getattr(event, name) or "") for name in ("specversion", "id", "source", "type", "subject"))


def field_error(pointer: str | None, detail: str) -> FieldError:
    """Name what was wrong where the sender put it: an attribute is a ``ce-`` header (the data's type is
    ``Content-Type``), and ``data`` is the whole body, so ``/data/tokens`` becomes ``/tokens``."""
    pointer = pointer or "/"
    if pointer == "/data" or pointer.startswith("/data/"):
        return FieldError(pointer=pointer[len("/data") :] or "/", detail=detail)
    if pointer == "/datacontenttype":
        return FieldError(parameter="Content-Type", detail=detail)
    if pointer == "/":
        return FieldError(pointer="/", detail=detail)
    return FieldError(parameter=PREFIX + pointer[1:].split("/", 1)[0], detail=detail)
