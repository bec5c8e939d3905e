"""How an organisation's documents look and what they say about it: name, address, tax ids, colours, logo,
locale, and the payment terms and instructions printed on every invoice."""

from __future__ import annotations

import re
from typing import Literal

import msgspec

_HEX_COLOUR = re.compile(r"^#[0-9A-Fa-f]{6}$")

LogoFormat = Literal["svg", "png"]


class Logo(msgspec.Struct, frozen=True, kw_only=True):
    """The logo's bytes and format; a path is read by the caller, so rendering stays free of I/O."""

    data: bytes
    format: LogoFormat

    @classmethod
    def sniff(cls, data: bytes) -> Logo:
        """Tell PNG from SVG by content, not by a file name that may lie."""
        if data.startswith(b"\x89PNG\r\n\x1a\n"):
            return cls(data=data, format="png")
        head = data[:512].lstrip().lower()
        if head.startswith(b"<svg") or (head.startswith(b"<?xml") and b"<svg" in data[:4096].lower()):
            return cls(data=data, format="svg")
        raise ValueError("logo must be a PNG or an SVG image")


class Branding(msgspec.Struct, frozen=True, kw_only=True):
    name: str
    address_lines: list[str] = []
    tax_ids: list[str] = []
    primary_colour: str = "#1F3A5F"
    accent_colour: str = "#E8EEF5"
    logo: Logo | None = None
    locale: str = "en_US"
    payment_terms: str = ""
    payment_instructions: str = ""

    def __post_init__(self) -> None:
        for field in ("primary_colour", "accent_colour"):
            if not _HEX_COLOUR.match(getattr(self, field)):
                raise ValueError(f"{field} must be a #RRGGBB colour")
