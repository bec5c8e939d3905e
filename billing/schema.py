"""Published JSON Schemas, generated from the msgspec types so they can never drift from the code.

``billing/contract.schema.json`` (and the inputs/invoice/state schemas next to it) are committed; a test
regenerates them and fails on any difference, and ``agencyflow billing schema --write`` refreshes them.
"""

from __future__ import annotations

from typing import Any

import msgspec

from billing.inputs import RatingInputs
from billing.invoice import InvoiceDraft
from billing.state import CarriedState
from billing.terms import ContractTerms

SCHEMAS: dict[str, tuple[Any, str]] = {
    "contract.schema.json": (ContractTerms, "agencyflow contract terms"),
    "inputs.schema.json": (RatingInputs, "agencyflow rating inputs"),
    "invoice.schema.json": (InvoiceDraft, "agencyflow invoice draft"),
    "state.schema.json": (CarriedState, "agencyflow carried billing state"),
}


def schema_for(name: str) -> dict[str, Any]:
    type_, title = SCHEMAS[name]
    body: dict[str, Any] = msgspec.json.schema(type_)
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": f"https://agencyflow.dev/schemas/{name}",
        "title": title,
        **body,
    }


def render(name: str) -> bytes:
    """Schema file content: stable key order, 2-space indent, trailing newline."""
    return msgspec.json.format(msgspec.json.encode(schema_for(name), order="sorted"), indent=2) + b"\n"
