"""Finish the generated OpenAPI document so it says what the server does, and real generated clients work.

Litestar documents each handler's body and success shape. What it cannot see, this module adds, from the
handlers' own code (``api.handler_traits``) rather than from declarations that could drift:

* the conventions docs/api.md promises: ``If-Match`` (412), ``If-None-Match`` (304), ``Idempotency-Key``
  parameters; ``ETag``, ``Location``, ``Idempotent-Replayed`` and ``Retry-After`` response headers;
* every problem+json answer an operation can give (with the ``Problem`` schema published once), and 503
  when a dependency is down;
* 204 and 304 answers with no body (a JSON body on them crashes clients that try to decode it);
* one unique, readable name per schema, equal to its ``title``: generators name models by title, so two
  structs both called ``Health`` became one model and every operation using the other was dropped;
* query and path parameters without the ``null`` branch (a query string cannot carry JSON null; leaving
  the parameter out is how a client says "none"), and held to their schema by ``api.query_contract``;
* the request rules the decoder applies and Litestar leaves out: ``additionalProperties: false`` on structs
  that refuse unknown fields, the bounds of list items, dict values and dict keys, which strings are
  decimals (``DecimalSchema``);
* ``security: []`` on public operations, and operation ids that are the handlers' names.

The finished document is what ``/schema/openapi.json`` serves and ``agencyflow openapi`` prints.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterator
from decimal import Decimal
from typing import Any, NamedTuple

import msgspec
from litestar import Litestar
from litestar._openapi.plugin import OpenAPIPlugin
from litestar.openapi.spec import Schema
from litestar.openapi.spec.enums import OpenAPIType
from litestar.plugins import OpenAPISchemaPlugin
from litestar.routes import HTTPRoute
from litestar.typing import FieldDefinition

from api.handler_traits import HandlerTraits, traits_of
from api.problems import PROBLEM_MEDIA_TYPE, Problem

_COMMON = {
    "400": "Malformed request: broken JSON or invalid query/path/header parameters (`errors[]` names each).",
    "401": "Missing, malformed or revoked API key.",
    "403": "The key's role or scopes do not allow this action.",
    "404": "No such resource in your organisation (another organisation's ids answer 404 too).",
    "409": "Conflicts with the current state (duplicate, stale action, still referenced); a database "
    "deadlock also answers 409 with `Retry-After`.",
    "422": "Body failed validation; `errors[]` names each bad field by JSON pointer.",
    "429": "Rate limited; retry after `Retry-After` seconds.",
    "503": "A dependency (PostgreSQL or Temporal) is unavailable; retry after `Retry-After` seconds.",
}
_WITH_BODY = {
    "413": "Request body too large.",
    "415": "Body is not JSON.",
}
_PRECONDITION = {"412": "`If-Match` did not match the current `ETag` (strong comparison); nothing changed."}
_RETRY_AFTER_ON = ("409", "429", "503")

_EXAMPLE = {
    "type": "https://agencyflow.dev/problems/validation",
    "title": "Request body failed validation",
    "status": 422,
    "detail": "2 invalid field(s)",
    "instance": "/v1/clients",
    "request_id": "5b0e1b9c2f6a4d7e9c1f0a3b4c5d6e7f",
    "errors": [
        {"pointer": "/currency", "detail": "'EURO' is not an ISO 4217 currency code"},
        {"pointer": "/timezone", "detail": "'Mars/Olympus' is not an IANA time zone"},
    ],
}

_ETAG_SCHEMA = {"type": "string", "pattern": '^"[0-9]+"$', "examples": ['"3"']}
_HEADERS: dict[str, dict[str, Any]] = {
    "ETag": {"description": "The resource's version, a strong entity tag.", "schema": _ETAG_SCHEMA},
    "Location": {"description": "Where the created resource lives.", "schema": {"type": "string"}},
    "Idempotent-Replayed": {
        "description": "`true` when this is the stored answer to an earlier request with the same Idempotency-Key.",
        "schema": {"type": "string", "enum": ["true"]},
    },
    "Retry-After": {"description": "Seconds to wait before retrying.", "schema": {"type": "string"}},
}
_PARAMETERS: dict[str, dict[str, Any]] = {
    "If-Match": {
        "name": "If-Match",
        "in": "header",
        "required": False,
        "description": 'Only change the resource if its ETag is one of these (strong comparison: `W/"3"` never '
        "matches); `*` matches any. A stale tag answers 412 and changes nothing.",
        "schema": {"type": "string", "examples": ['"3"']},
    },
    "If-None-Match": {
        "name": "If-None-Match",
        "in": "header",
        "required": False,
        "description": "Answer 304 with no body if the resource's ETag is one of these (weak comparison).",
        "schema": {"type": "string", "examples": ['"3"']},
    },
    "Idempotency-Key": {
        "name": "Idempotency-Key",
        "in": "header",
        "required": False,
        "description": "Retry-safe creation: the same key and body within 24 h replay the first answer (status, "
        "body, ETag, Location) with `Idempotent-Replayed: true`; the same key with another body is 422.",
        "schema": {"type": "string", "minLength": 1, "maxLength": 255},
    },
}

# Schemas whose short names collide; Litestar disambiguates the keys with module paths, but generators
# name models by title, so each gets a distinct name here.
_RENAMES = {
    "api_routes_health_Health": "Health",
    "insights_health_Health": "ProjectHealth",
    "budgets_BudgetOut": "ProjectBudgetOut",
    "usage_budgets_BudgetOut": "UsageBudgetOut",
    "expenses_Rejection": "ExpenseRejection",
    "milestones_Rejection": "MilestoneRejection",
    "timesheets_Rejection": "TimesheetRejection",
}
_PAGE = re.compile(r"^Page_(?:[A-Za-z0-9_]+\.)*([A-Za-z0-9_]+)_$")
_OUR_PACKAGES = ("api.", "workflows.", "billing.", "core.", "insights.", "scheduling.", "persistence.", "identity.")
_METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")


DECIMAL_PATTERN = r"^-?([0-9]+(\.[0-9]*)?|\.[0-9]+)([eE][+-]?[0-9]{1,4})?$"


class DecimalSchema(OpenAPISchemaPlugin):
    """Decimals (money, quantities, rates) travel as JSON strings, or numbers; say which strings.

    Litestar documents a Decimal as any string, so clients (and the fuzzer) were told "AAA" is a fine
    amount. The bounds per kind of number (``core.decimal_bounds``) stay in the 422 they answer with."""

    @staticmethod
    def is_plugin_supported_type(value: Any) -> bool:
        return value is Decimal

    def to_openapi_schema(self, field_definition: FieldDefinition, schema_creator: Any) -> Schema:
        return Schema(
            one_of=[
                Schema(type=OpenAPIType.STRING, pattern=DECIMAL_PATTERN, examples=["12.50"]),
                Schema(type=OpenAPIType.NUMBER),
            ],
        )


def problem_schema() -> dict[str, Any]:
    _schema, components = msgspec.json.schema_components([Problem], ref_template="#/components/schemas/{name}")
    return {"Problem": components["Problem"], "FieldError": components["FieldError"]}


class Handled(NamedTuple):
    """What the document needs to know of the handler behind one operation."""

    traits: HandlerTraits
    name: str
    public: bool = False


def handlers_of(app: Litestar) -> dict[tuple[str, str], Handled]:
    """``(path, method) → Handled`` for every HTTP handler of the app."""
    found: dict[tuple[str, str], Handled] = {}
    for route in app.routes:
        if not isinstance(route, HTTPRoute):
            continue
        for handler in route.route_handlers:
            for method in handler.http_methods:
                found[(route.path_format, method.lower())] = Handled(
                    traits_of(handler.fn), handler.fn.__name__, bool(handler.opt.get("public"))
                )
    return found


def finish_openapi(app: Litestar) -> None:
    plugin = app.plugins.get(OpenAPIPlugin)
    document: dict[str, Any] = msgspec.json.decode(msgspec.json.encode(plugin.provide_openapi().to_schema()))
    finish_document(document, handlers_of(app))
    # The plugin serves this dict from then on (it caches the first rendering of the spec objects).
    plugin._openapi_schema = document


def finish_document(document: dict[str, Any], handlers: dict[tuple[str, str], Handled]) -> None:
    components = document.setdefault("components", {})
    schemas = components.setdefault("schemas", {})
    schemas.update(problem_schema())
    _publish_event_schemas(document)
    _forbid_unknown_fields(schemas)
    _rename_schemas(document)
    names = Counter(handled.name for handled in handlers.values())
    for path, item in (document.get("paths") or {}).items():
        for method in _METHODS:
            operation = item.get(method)
            if operation is None:
                continue
            handled = handlers.get((path, method), Handled(HandlerTraits(), ""))
            if names[handled.name] == 1:
                # ``create_client`` rather than ``V1ClientsCreateClient``: client functions are named after it.
                operation["operationId"] = handled.name
            if handled.public:
                operation["security"] = []  # no API key: public, or its own credential (platform token)
            _finish_operation(path, operation, handled.traits)


def _finish_operation(path: str, operation: dict[str, Any], traits: HandlerTraits) -> None:
    parameters: list[dict[str, Any]] = operation.setdefault("parameters", [])
    for parameter in parameters:
        if parameter.get("in") in ("query", "path"):
            parameter["schema"] = _without_null(parameter.get("schema", {}))
    wanted = [
        name
        for name, on in (
            ("If-Match", traits.if_match),
            ("If-None-Match", traits.if_none_match),
            ("Idempotency-Key", traits.idempotent),
        )
        if on
    ]
    present = {(parameter["in"], parameter["name"].lower()) for parameter in parameters}
    parameters.extend(_PARAMETERS[name] for name in wanted if ("header", name.lower()) not in present)
    if not parameters:
        del operation["parameters"]

    responses: dict[str, Any] = operation.setdefault("responses", {})
    for code, response in responses.items():
        if code in ("204", "304"):
            response.pop("content", None)
        if code.startswith("2"):
            headers = response.setdefault("headers", {})
            if traits.etag and code != "204":
                headers["ETag"] = _HEADERS["ETag"]
            if traits.location and code in ("201", "202"):
                headers["Location"] = _HEADERS["Location"]
            if traits.idempotent:
                headers["Idempotent-Replayed"] = _HEADERS["Idempotent-Replayed"]
            if not headers:
                del response["headers"]
    if traits.if_none_match:
        responses["304"] = {
            "description": "Not modified: the resource's ETag matches `If-None-Match`; no body.",
            "headers": {"ETag": _HEADERS["ETag"]},
        }

    if not path.startswith("/v1/"):
        if path == "/readyz":
            responses["503"] = _problem_response("503", _COMMON["503"])
        return
    errors = dict(_COMMON)
    if "requestBody" in operation:
        errors.update(_WITH_BODY)
    if traits.if_match:
        errors.update(_PRECONDITION)
    for code, description in errors.items():
        responses[code] = _problem_response(code, description)


def _problem_response(code: str, description: str) -> dict[str, Any]:
    media: dict[str, Any] = {"schema": {"$ref": "#/components/schemas/Problem"}}
    if code == "422":
        media["example"] = _EXAMPLE
    response: dict[str, Any] = {"description": description, "content": {PROBLEM_MEDIA_TYPE: media}}
    if code in _RETRY_AFTER_ON:
        response["headers"] = {"Retry-After": {**_HEADERS["Retry-After"], "required": code != "409"}}
    return response


def _without_null(schema: dict[str, Any]) -> dict[str, Any]:
    branches = schema.get("oneOf")
    if not isinstance(branches, list):
        return schema
    kept = [branch for branch in branches if branch != {"type": "null"}]
    if len(kept) == len(branches):
        return schema
    rest = {key: value for key, value in schema.items() if key != "oneOf"}
    if len(kept) == 1:
        return {**kept[0], **rest}
    return {**rest, "oneOf": kept}


def _publish_event_schemas(document: dict[str, Any]) -> None:
    """The events body repeats one inline event schema under three media types; name it once, as
    ``CloudEvent`` and ``CloudEventBatch``, so generators make one model of it.

    The body is documented under ``application/json`` alone (one event or a batch), and the CloudEvents
    media types, which take the same JSON, in the description: generators handle several media types for
    one body badly (openapi-python-client emits a module that cannot even be imported)."""
    operation = (document.get("paths") or {}).get("/v1/events", {}).get("post")
    if operation is None:
        return
    content: dict[str, Any] = operation.get("requestBody", {}).get("content", {})
    single = content.get("application/cloudevents+json", {}).get("schema")
    batch = content.get("application/cloudevents-batch+json", {}).get("schema")
    if single is None or batch is None:
        return
    schemas = document["components"]["schemas"]
    schemas["CloudEvent"] = {"title": "CloudEvent", **single}
    if "data" in single.get("properties", {}):
        # CloudEvents allow any JSON as data, and so does ingest; meters read their paths in an object.
        description = single["properties"]["data"].get("description", "")
        schemas["CloudEvent"]["properties"] = {**single["properties"], "data": {"description": description}}
    schemas["CloudEventBatch"] = {
        **batch,
        "title": "CloudEventBatch",
        # Each item of a batch is checked on its own: a bad one gets its own `rejected` result and never
        # fails the batch, so the batch schema cannot refuse any item (a single event is refused with 422).
        "items": {"description": "a CloudEvent (see CloudEvent); checked on its own, with its own result"},
    }
    event = {"$ref": "#/components/schemas/CloudEvent"}
    events = {"$ref": "#/components/schemas/CloudEventBatch"}
    body = operation["requestBody"]
    body["content"] = {"application/json": {"schema": {"oneOf": [event, events]}}}
    body["description"] = (
        f"{body.get('description', '').rstrip()} The same JSON is accepted as `application/cloudevents+json` "
        "(one event) and `application/cloudevents-batch+json` (an array)."
    ).strip()


def _structs(base: type[msgspec.Struct] = msgspec.Struct) -> Iterator[type[msgspec.Struct]]:
    sub: type[msgspec.Struct]
    for sub in base.__subclasses__():
        yield sub
        yield from _structs(sub)


def _forbid_unknown_fields(schemas: dict[str, Any]) -> None:
    """Request structs refuse unknown fields (422 naming each); the schema says so with
    ``additionalProperties: false``, so a client (or fuzzer) sending one is not told it is fine."""
    found: dict[str, list[type[msgspec.Struct]]] = {}
    for struct in _structs():
        if struct.__module__.startswith(_OUR_PACKAGES):
            found.setdefault(struct.__name__, []).append(struct)
    for key, schema in schemas.items():
        name = schema.get("title", key)
        if name not in found or schema.get("type") != "object":
            continue
        structs = found[name]
        if key != name:  # Litestar qualified a short name shared by several structs with their modules
            prefix = key[: -len(name) - 1]
            structs = [struct for struct in structs if struct.__module__.replace(".", "_").endswith(prefix)]
        if structs and all(struct.__struct_config__.forbid_unknown_fields for struct in structs):
            schema["additionalProperties"] = False
        if len(structs) == 1:
            _restore_item_constraints(schema, structs[0])


def _restore_item_constraints(schema: dict[str, Any], struct: type[msgspec.Struct]) -> None:
    """Litestar drops the constraints of dict keys, dict values and list items (``dict[str,
    Annotated[int, Meta(ge=1)]]`` became an object of any integers); msgspec's own schema of the struct
    has them (and its type info says which dict keys must be integers), so copy them back."""
    try:
        own = msgspec.json.schema(struct)
        fields = {field.encode_name: field.type for field in msgspec.inspect.type_info(struct).fields}  # type: ignore[attr-defined]
    except (TypeError, ValueError):
        return
    definition = own.get("$defs", {}).get(struct.__name__, own)
    for name, mine in (schema.get("properties") or {}).items():
        theirs = (definition.get("properties") or {}).get(name)
        if isinstance(theirs, dict):
            _restore(mine, theirs, fields.get(name))


def _branches(schema: dict[str, Any]) -> list[dict[str, Any]]:
    nested = schema.get("oneOf") or schema.get("anyOf")
    return [branch for branch in nested if isinstance(branch, dict)] if isinstance(nested, list) else [schema]


def _int_keyed(info: Any) -> bool:
    if isinstance(info, msgspec.inspect.UnionType):
        return any(_int_keyed(member) for member in info.types)
    return isinstance(info, msgspec.inspect.DictType) and isinstance(info.key_type, msgspec.inspect.IntType)


def _restore(mine: dict[str, Any], theirs: dict[str, Any], info: Any) -> None:
    for branch in _branches(mine):
        kind = branch.get("type")
        match = next((b for b in _branches(theirs) if b.get("type") == kind), None)
        if match is None:
            continue
        if kind == "object":
            if "propertyNames" in match and "propertyNames" not in branch:
                branch["propertyNames"] = match["propertyNames"]
            if _int_keyed(info):
                branch["propertyNames"] = {"pattern": "^-?(0|[1-9][0-9]{0,17})$"}  # a 64-bit integer, no leading 0
        _copy_bounds(branch, match)
        for part in ("items", "additionalProperties"):
            inner, exact = branch.get(part), match.get(part)
            if isinstance(inner, dict) and isinstance(exact, dict):
                _copy_bounds(inner, exact)


_BOUNDS = {
    "integer": ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum"),
    "number": ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum"),
    "string": ("minLength", "maxLength", "pattern"),
    "array": ("minItems", "maxItems"),
}


def _copy_bounds(mine: dict[str, Any], exact: dict[str, Any]) -> None:
    for keyword in _BOUNDS.get(mine.get("type", ""), ()):
        if keyword in exact and keyword not in mine:
            mine[keyword] = exact[keyword]


def _camel(words: str) -> str:
    return "".join(part[:1].upper() + part[1:] for part in re.split(r"[^A-Za-z0-9]+", words) if part)


def _rename_schemas(document: dict[str, Any]) -> None:
    schemas: dict[str, Any] = document["components"]["schemas"]
    names: dict[str, str] = {}
    for key, schema in schemas.items():
        if key in _RENAMES:
            names[key] = _RENAMES[key]
        elif (page := _PAGE.match(key)) is None and schema.get("title", key) != key:
            names[key] = _camel(key)  # an unforeseen collision: unique and readable enough
    for key, schema in schemas.items():
        if (page := _PAGE.match(key)) is not None:
            item = schema.get("properties", {}).get("items", {}).get("items", {}).get("$ref", "")
            item_key = item.rsplit("/", 1)[-1] or page.group(1)
            names[key] = f"{names.get(item_key, item_key)}Page"
    renamed: dict[str, Any] = {}
    for key, schema in schemas.items():
        name = names.get(key, key)
        if name in renamed:
            raise ValueError(f"two schemas would be called {name!r}; add a name for {key!r} to _RENAMES")
        renamed[name] = {**schema, "title": name}
    references = {f"#/components/schemas/{old}": f"#/components/schemas/{new}" for old, new in names.items()}
    document["components"]["schemas"] = renamed
    _rewrite_refs(document, references)


def _rewrite_refs(node: Any, references: dict[str, str]) -> None:
    if isinstance(node, dict):
        ref = node.get("$ref")
        if isinstance(ref, str) and ref in references:
            node["$ref"] = references[ref]
        for value in node.values():
            _rewrite_refs(value, references)
    elif isinstance(node, list):
        for value in node:
            _rewrite_refs(value, references)


def served_openapi_document(app: Litestar) -> dict[str, Any]:
    """The finished document, as ``/schema/openapi.json`` serves it."""
    return app.plugins.get(OpenAPIPlugin).provide_openapi_schema()
