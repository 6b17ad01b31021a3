"""The OpenAPI document: generated from the route table, complete, valid, and served."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import schemathesis
from starlette.requests import Request
from starlette.responses import Response

from schemas.work import Work
from service.app import create_app, mounts
from service.openapi import ANY_ERRORS, TOKEN_ERRORS, app_endpoints, build_document
from service.routing import Endpoint, Param
from service.settings import Settings

ERROR_REF = {"$ref": "#/components/schemas/ErrorBody"}


@pytest.fixture(scope="module")
def document() -> dict[str, Any]:
    """The document of the whole app, as `create_app` wires it (no server needed)."""
    return build_document(app_endpoints(create_app(Settings()).routes))


def _mounted() -> Iterator[tuple[str, str, Endpoint]]:
    """(OpenAPI path, method, endpoint) for every route mounted; HEAD is never listed."""
    for prefix, endpoints in mounts(Settings()):
        for endpoint in endpoints:
            path = (prefix + endpoint.path).replace(":path}", "}")
            for method in endpoint.methods:
                if method != "HEAD":
                    yield path, method.lower(), endpoint


def _refs(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "$ref" and isinstance(value, str):
                yield value
            else:
                yield from _refs(value)
    elif isinstance(node, list):
        for item in node:
            yield from _refs(item)


def _resolve(document: dict[str, Any], ref: str) -> Any:
    assert ref.startswith("#/"), ref
    node: Any = document
    for part in ref[2:].split("/"):
        node = node[part.replace("~1", "/").replace("~0", "~")]
    return node


def test_the_document_is_valid_openapi_3_1(document: dict[str, Any]) -> None:
    assert document["openapi"] == "3.1.0"
    schemathesis.openapi.from_dict(document).validate()  # the OpenAPI meta-schema


def test_every_route_in_the_route_table_is_described(document: dict[str, Any]) -> None:
    operations = sum(len(methods) for methods in document["paths"].values())
    assert operations == len(list(_mounted()))
    for path, method, endpoint in _mounted():
        operation = document["paths"][path][method]
        assert operation["summary"] == endpoint.summary
        assert operation["x-sluice-scope"] == endpoint.scope
        assert str(endpoint.status) in operation["responses"]
        assert ("requestBody" in operation) == (endpoint.body is not None)
        assert all("head" not in methods for methods in document["paths"].values())


def test_every_ref_resolves(document: dict[str, Any]) -> None:
    refs = set(_refs(document))
    assert "#/components/schemas/Work" in refs and ERROR_REF["$ref"] in refs
    for ref in refs:
        assert isinstance(_resolve(document, ref), dict), ref


def test_operation_ids_are_unique(document: dict[str, Any]) -> None:
    ids = [op["operationId"] for methods in document["paths"].values() for op in methods.values()]
    assert len(ids) == len(set(ids))


def test_security_and_errors_follow_the_scope(document: dict[str, Any]) -> None:
    schemes = document["components"]["securitySchemes"]
    assert schemes["accessToken"] == {**schemes["accessToken"], "in": "header",
                                      "name": "x-access-token", "type": "apiKey"}  # fmt: skip
    assert schemes["bearerToken"]["scheme"] == "bearer"
    for path, method, endpoint in _mounted():
        operation = document["paths"][path][method]
        responses = operation["responses"]
        if endpoint.scope == "public":
            assert operation["security"] == []
        else:
            assert operation["security"] == [{"accessToken": []}, {"bearerToken": []}]
            assert {str(s) for s in TOKEN_ERRORS} <= set(responses)
        # Public routes too: the database down, the deadline, a stopping server.
        assert {str(s) for s in ANY_ERRORS} <= set(responses)
        for status in endpoint.errors:
            assert responses[str(status)]["content"]["application/json"]["schema"] == ERROR_REF


def test_bodies_and_answers_come_from_the_models(document: dict[str, Any]) -> None:
    deposit = document["paths"]["/buckets/work"]["post"]
    body = deposit["requestBody"]["content"]["application/json"]["schema"]
    assert body == {"type": "array", "items": {"$ref": "#/components/schemas/Work"}}
    work = document["components"]["schemas"]["Work"]
    assert work["required"] == ["pipeline", "site", "user"]
    assert work["properties"]["priority"] == Work.model_json_schema()["properties"]["priority"]
    error = document["components"]["schemas"]["ErrorDetail"]
    assert set(error["required"]) == {"code", "message", "details"}


async def _handler(request: Request) -> Response:
    """Say hello."""
    return Response()


def test_the_generator_takes_any_endpoint() -> None:
    endpoints = [
        ("/x/{name:path}/{n}", Endpoint("/{name:path}/{n}", ("PUT", "GET"), _handler, "work",
                                        "Two methods", body=bytes, media_type="text/plain",
                                        params=(Param("n", "path", {"type": "integer"}),))),
        ("/x/free", Endpoint("/free", ("DELETE", "HEAD"), _handler, "admin", "Free keys",
                             params=(Param("<key>", "query", {"type": "string"}, "a value"),
                                     Param("many", "query", {"type": "string"}, repeated=True)),
                             status=201, errors=(409,))),
    ]  # fmt: skip
    document = build_document(endpoints)
    schemathesis.openapi.from_dict(document).validate()
    put, get = document["paths"]["/x/{name}/{n}"]["put"], document["paths"]["/x/{name}/{n}"]["get"]
    assert put["operationId"] != get["operationId"]
    assert put["description"] == "Say hello.\n\nScope: `work`."
    assert put["requestBody"]["content"] == {
        "application/octet-stream": {"schema": {"type": "string", "format": "binary"}}
    }
    assert get["responses"]["200"]["content"]["text/plain"]["schema"]["format"] == "binary"
    assert {p["name"]: p["schema"] for p in put["parameters"]} == {
        "name": {"type": "string"},
        "n": {"type": "integer"},
    }  # an undeclared template parameter is still described
    assert {"400", "404", "413"} <= set(put["responses"])  # body and path statuses
    free = document["paths"]["/x/free"]
    assert list(free) == ["delete"]
    params = {p["name"]: p for p in free["delete"]["parameters"]}
    assert params["key"]["schema"] == {"type": "object", "additionalProperties": {"type": "string"}}
    assert params["many"]["schema"] == {"type": "array", "items": {"type": "string"}}
    assert params["many"]["explode"] is True
    assert set(free["delete"]["responses"]) == {"201", "401", "403", "409", "429", "503"}


def test_served_once_and_equal_to_the_route_table(
    http: httpx.Client, document: dict[str, Any]
) -> None:
    first = http.get("/openapi.json")
    assert first.status_code == 200
    assert first.headers["content-type"] == "application/json"
    assert first.json() == document
    assert http.get("/openapi.json").content == first.content


def test_docs_page_renders_the_document(http: httpx.Client) -> None:
    answer = http.get("/docs")
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("text/html")
    assert 'url: "openapi.json"' in answer.text and "swagger-ui" in answer.text
    # Every asset is Sluice's own: the page works offline.
    assert "http" not in answer.text.replace('url: "openapi.json"', "")
    for path, media_type in (
        ("docs/assets/swagger-ui-bundle.js", "text/javascript"),
        ("docs/assets/swagger-ui.css", "text/css"),
        ("docs/assets/favicon-32x32.png", "image/png"),
    ):
        assert path in answer.text
        asset = http.get(f"/{path}")
        assert asset.status_code == 200 and asset.headers["content-type"].startswith(media_type)
        assert len(asset.content) > 100
    assert http.get("/docs/assets/index.html").status_code == 404
