"""Schemathesis hooks for tests/api/test_fuzz.py (loaded through ``SCHEMATHESIS_HOOKS``).

The fuzzer authenticates with one owner key; if it revoked that key, every later case would answer 401 and
test nothing. A revocation aimed at that key's id is redirected to a random id (which answers 404): every
other generated id, and the operation itself, is still fuzzed.
"""

from __future__ import annotations

import os
import uuid
from typing import Any

import schemathesis


@schemathesis.hook
def before_call(context: Any, case: Any, kwargs: dict[str, Any]) -> None:
    own = os.environ.get("AGENCYFLOW_FUZZ_OWN_KEY_ID")
    if case.method.upper() == "DELETE" and case.path_parameters and str(case.path_parameters.get("key_id")) == own:
        case.path_parameters["key_id"] = str(uuid.uuid4())
    if case.path == "/v1/events":
        _fresh_event_ids(case.body)


def _fresh_event_ids(body: Any) -> None:
    """A CloudEvent whose ``source`` and ``id`` were stored before is acknowledged as a duplicate whatever
    else it carries (a retry must not be re-judged), and the fuzzer reuses the documented example's id. Give
    each generated event a fresh id of the same validity, so its content is what gets judged."""
    events = body if isinstance(body, list) else [body]
    for event in events:
        if isinstance(event, dict) and isinstance(event.get("id"), str) and 0 < len(event["id"]) <= 256:
            event["id"] = str(uuid.uuid4())


# Field errors that only say the request's *shape* was wrong (msgspec's decoding messages in a 422, and
# api.query_contract's in a 400): a schema-valid request must never get one, so such a rejection stays a
# failure — except the two below, where JSON Schema and msgspec read the same words differently.
BODY_SHAPE_ERRORS = (
    "Expected `",
    "Invalid ",
    "Object missing required field",
    "Object contains unknown field",
    "unknown field",
)
QUERY_SHAPE_ERRORS = ("must be ", "given more than once", "not a valid")
# Bodies documented as open objects because another document defines them: contract terms are checked
# against docs/contracts.md by the billing engine's own decoder, an explicit capacity-planning instance by
# the scheduling model's (docs/capacity.md).
OPEN_OBJECTS = ("/terms/", "/amendment/terms/", "/instance/")
DIALECT_DIFFERENCES = (
    # JSON Schema counts 3.0 as an integer; msgspec does not take a float for an int field.
    "Expected `int`, got `float`",
    # The same pattern text: Python's \s also matches U+001C..U+001F and U+0085, ECMA 262's does not.
    "Expected `str` matching regex",
)


def is_business_rule(status: int, problem: Any) -> bool:
    """A rejection of schema-valid input for a reason no JSON Schema of the request can state: state
    (412 stale If-Match, 409 conflicts), references to records that do not exist, cross-field rules
    ("give hours, amount or both", "end before start"), or table lookups (ISO 4217 codes, IANA zones,
    number bounds per kind of amount). Every such answer names its fields in ``errors[]``."""
    if status in (409, 412):
        return True
    if status not in (400, 422) or not isinstance(problem, dict):
        return False
    errors = problem.get("errors") or []
    if not errors:
        return False
    shape = BODY_SHAPE_ERRORS if status == 422 else QUERY_SHAPE_ERRORS + BODY_SHAPE_ERRORS
    for error in errors:
        detail = str(error.get("detail", ""))
        pointer = str(error.get("pointer", ""))
        if pointer.startswith(OPEN_OBJECTS) or f"{pointer}/" in OPEN_OBJECTS:
            continue
        if detail.startswith(shape) and not detail.startswith(DIALECT_DIFFERENCES):
            return False
    return True


@schemathesis.hook
def filter_failure(context: Any, failure: Any, case: Any, response: Any) -> bool:
    """Keep every failure but a schema-valid request refused by a business rule (``is_business_rule``)."""
    if getattr(failure, "code", None) != "ST202":
        return True
    try:
        problem = response.json()
    except Exception:
        return True
    return not is_business_rule(response.status_code, problem)
