"""The published OpenAPI document states the conventions the server keeps (docs/api.md), in a form client
generators read without dropping anything. Pure: the document is built without a database."""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest

from api.app import create_app, openapi_document
from api.handler_traits import traits_of

METHODS = ("get", "put", "post", "patch", "delete")


@pytest.fixture(scope="module")
def document() -> dict[str, Any]:
    return openapi_document()


def operations(document: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (path, method, item[method]) for path, item in document["paths"].items() for method in METHODS if method in item
    ]


def header_parameters(operation: dict[str, Any]) -> set[str]:
    return {p["name"] for p in operation.get("parameters", []) if p["in"] == "header"}


def test_every_schema_name_is_unique_and_equals_its_title(document) -> None:
    schemas = document["components"]["schemas"]
    assert {name: schema["title"] for name, schema in schemas.items() if schema.get("title") != name} == {}
    for name in ("Health", "ProjectHealth", "ProjectBudgetOut", "UsageBudgetOut", "UsageBudgetOutPage"):
        assert name in schemas
    for name in ("MilestoneRejection", "TimesheetRejection", "ExpenseRejection", "ClientOutPage"):
        assert name in schemas
    refs = _refs(document)
    assert {ref for ref in refs if ref.removeprefix("#/components/schemas/") not in schemas} == set()


def test_no_204_or_304_answer_is_documented_with_a_body(document) -> None:
    with_body = [
        (method, path, code)
        for path, method, operation in operations(document)
        for code, response in operation["responses"].items()
        if code in ("204", "304") and response.get("content")
    ]
    assert with_body == []
    deletes = [op for path, method, op in operations(document) if method == "delete"]
    assert len(deletes) >= 14
    # A delete answers 204 with nothing, or 200 with what it did (an org's deletion names its export).
    assert all("content" not in op["responses"]["204"] for op in deletes if "204" in op["responses"])
    assert all(op["responses"]["200"]["content"] for op in deletes if "204" not in op["responses"])


def test_conditional_reads_document_if_none_match_304_and_etag(document) -> None:
    get_client = document["paths"]["/v1/clients/{client_id}"]["get"]
    assert "If-None-Match" in header_parameters(get_client)
    assert set(get_client["responses"]["304"]["headers"]) == {"ETag"}
    assert "ETag" in get_client["responses"]["200"]["headers"]


def test_updates_and_deletes_document_if_match_and_412(document) -> None:
    for path, method in [("/v1/clients/{client_id}", "patch"), ("/v1/clients/{client_id}", "delete")]:
        operation = document["paths"][path][method]
        assert "If-Match" in header_parameters(operation)
        assert operation["responses"]["412"]["content"]["application/problem+json"]["schema"] == {
            "$ref": "#/components/schemas/Problem"
        }


def test_creates_document_idempotency_key_location_and_etag(document) -> None:
    create = document["paths"]["/v1/clients"]["post"]
    assert "Idempotency-Key" in header_parameters(create)
    key = next(p for p in create["parameters"] if p["name"] == "Idempotency-Key")
    assert key["schema"] == {"type": "string", "minLength": 1, "maxLength": 255}
    assert {"ETag", "Location", "Idempotent-Replayed"} <= set(create["responses"]["201"]["headers"])


def test_rate_limits_and_unavailable_dependencies_document_retry_after(document) -> None:
    for path, method, operation in operations(document):
        if not path.startswith("/v1/"):
            continue
        for code in ("429", "503"):
            assert operation["responses"][code]["headers"]["Retry-After"]["required"] is True, (method, path)
    assert "503" in document["paths"]["/readyz"]["get"]["responses"]


def test_every_status_a_handler_answers_is_documented(document) -> None:
    put_member = document["paths"]["/v1/projects/{project_id}/members/{person_id}"]["put"]["responses"]
    assert {"200", "201"} <= set(put_member)
    imports = document["paths"]["/v1/time-entries/imports"]["post"]["responses"]
    assert {"200", "201"} <= set(imports)
    assert (
        imports["200"]["content"]["application/json"]["schema"]
        == imports["201"]["content"]["application/json"]["schema"]
    )


def test_query_parameters_have_no_null_branch(document) -> None:
    nullable = [
        (path, parameter["name"])
        for path, _method, operation in operations(document)
        for parameter in operation.get("parameters", [])
        if parameter["in"] in ("query", "path") and {"type": "null"} in parameter["schema"].get("oneOf", [])
    ]
    assert nullable == []


def test_events_body_is_one_json_media_type_with_named_event_schemas(document) -> None:
    body = document["paths"]["/v1/events"]["post"]["requestBody"]
    assert set(body["content"]) == {"application/json"}
    assert body["content"]["application/json"]["schema"] == {
        "oneOf": [{"$ref": "#/components/schemas/CloudEvent"}, {"$ref": "#/components/schemas/CloudEventBatch"}]
    }
    assert "application/cloudevents+json" in body["description"]


def test_operation_ids_are_the_handler_names_where_unique(document) -> None:
    ids = Counter(operation["operationId"] for _path, _method, operation in operations(document))
    assert [name for name, count in ids.items() if count > 1] == []
    assert document["paths"]["/v1/clients"]["post"]["operationId"] == "create_client"


def test_handler_traits_follow_helpers_and_closures() -> None:
    from api.routes import api_keys, clients, projects

    assert traits_of(clients.create_client.fn).location  # via the nested create() → create_row
    assert traits_of(clients.create_client.fn).idempotent
    assert not traits_of(clients.delete_client.fn).etag  # check_if_match names etag_for only in its 412
    assert traits_of(clients.delete_client.fn).if_match
    assert traits_of(projects.get_project.fn).if_none_match
    assert not traits_of(api_keys.list_keys.fn).if_none_match


def test_the_served_document_is_the_finished_one() -> None:
    app = create_app(database_url="postgresql://unused@127.0.0.1/unused")
    assert openapi_document(app)["components"]["schemas"]["ProjectHealth"]["title"] == "ProjectHealth"


def _refs(node: Any) -> set[str]:
    if isinstance(node, dict):
        found = {node["$ref"]} if isinstance(node.get("$ref"), str) else set()
        for value in node.values():
            found |= _refs(value)
        return found
    if isinstance(node, list):
        return set().union(*(_refs(value) for value in node)) if node else set()
    return set()
