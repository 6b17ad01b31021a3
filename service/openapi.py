"""The OpenAPI 3.1 document of the running app, generated from its route table.

Nothing here describes a route by hand: `build_document` reads each `Endpoint` the app
serves (path, methods, summary, scope, params, body, response, errors) and turns its
Python types into JSON Schema with pydantic's `TypeAdapter`, so the contract cannot drift
from the code. Conventions a route author can rely on:

- HEAD is never listed: Starlette answers it for every GET, with no body.
- The success answer is `Endpoint.status` with `Endpoint.response` as
  `Endpoint.media_type` (response None: any JSON, or bytes for another media type).
  A request body is JSON, except `body=bytes`: raw `application/octet-stream`.
- Every status in `Endpoint.errors` answers the shared error body
  (`schemas.errors.ErrorBody`). Statuses the machinery itself produces are added
  without being declared: 400 and 413 for a route with a body (`request_json`), 404
  for a route with path parameters (the router), 401, 403 and 429 for every route that
  needs a token, and 503 for every route (the database unavailable, the request past
  SLUICE_REQUEST_TIMEOUT, or cut off by a stopping server).
- A query `Param` named `<word>` stands for free-form keys (`?<pipeline>=<id>`): it is
  described as an exploded form object whose keys are the names.
- Routes needing a token accept it as `x-access-token` or `Authorization: Bearer`;
  public routes say `security: []`. Each operation carries its scope in
  `x-sluice-scope`.

`GET /openapi.json` serves the document (built once per app, on first request);
`GET /docs` is a small HTML page rendering it with Swagger UI loaded from the jsDelivr
CDN (`swagger-ui-dist` 5), so the browser, not Sluice, needs internet access.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Iterable
from http import HTTPStatus
from typing import Any

from pydantic import TypeAdapter
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute

from schemas.errors import ErrorBody
from service import __version__
from service.jsonio import dumps
from service.routing import Endpoint, EndpointRoute, Param, walk

OPENAPI_VERSION = "3.1.0"
JSON = "application/json"
SCHEMA_REF = "#/components/schemas/{model}"

#: Statuses every route needing a token may answer: no/bad token, missing scope, rate limit.
TOKEN_ERRORS = (401, 403, 429)
#: Statuses every route may answer, public ones too: the database unavailable, the request
#: past its deadline, or cut off by a stopping server.
ANY_ERRORS = (503,)
#: Statuses every route reading a JSON body may answer: not JSON, too large.
BODY_ERRORS = (400, 413)
#: A path parameter the router cannot match (a `/` or newline in it) is an unknown route.
PATH_ERRORS = (404,)

SECURITY_SCHEMES: dict[str, Any] = {
    "accessToken": {
        "type": "apiKey",
        "in": "header",
        "name": "x-access-token",
        "description": "An API token, as the CHIME/FRB workflow client sends it.",
    },
    "bearerToken": {
        "type": "http",
        "scheme": "bearer",
        "description": "The same API token in `Authorization: Bearer <token>`.",
    },
}
_TOKEN_SECURITY: list[dict[str, list[str]]] = [{name: []} for name in SECURITY_SCHEMES]

_PATH_PARAM = re.compile(r"\{([^}:]+)(?::[^}]*)?\}")


def app_endpoints(routes: Iterable[BaseRoute]) -> list[tuple[str, Endpoint]]:
    """Every `Endpoint` an app's route tree serves, with its full path (mounts expanded)."""
    return [
        (path, route.spec) for path, route in walk(list(routes)) if isinstance(route, EndpointRoute)
    ]


def build_document(endpoints: Iterable[tuple[str, Endpoint]]) -> dict[str, Any]:
    """The OpenAPI 3.1 document describing `(full path, Endpoint)` pairs."""
    operations = [
        (path, method, endpoint)
        for path, endpoint in endpoints
        for method in endpoint.methods
        if method.upper() != "HEAD"
    ]
    schemas, components = _schemas(endpoint for _, _, endpoint in operations)
    error_schema = schemas["error"]
    paths: dict[str, dict[str, Any]] = {}
    operation_ids: set[str] = set()
    tags: dict[str, None] = {}
    for path, method, endpoint in operations:
        template = _PATH_PARAM.sub(r"{\1}", path)
        tag = _tag(path)
        tags[tag] = None
        operation: dict[str, Any] = {
            "operationId": _operation_id(tag, method, endpoint, operation_ids),
            "summary": endpoint.summary,
            "tags": [tag],
            "x-sluice-scope": endpoint.scope,
            "security": [] if endpoint.scope == "public" else _TOKEN_SECURITY,
            "description": _description(endpoint),
        }
        parameters = _parameters(template, endpoint.params)
        if parameters:
            operation["parameters"] = parameters
        if endpoint.body is not None:
            operation["requestBody"] = {
                "required": True,
                "content": {_body_media_type(endpoint): {"schema": schemas["body", id(endpoint)]}},
            }
        operation["responses"] = _responses(
            endpoint, schemas["response", id(endpoint)], error_schema, "{" in template
        )
        paths.setdefault(template, {})[method.lower()] = operation
    document = {
        "openapi": OPENAPI_VERSION,
        "info": {
            "title": "Sluice",
            "version": __version__,
            "description": "Results store and work queue for scientific data pipelines.",
        },
        "tags": [{"name": tag} for tag in tags],
        "paths": paths,
        "components": {"schemas": components, "securitySchemes": SECURITY_SCHEMES},
    }
    # Operations share schema and security objects: a caller editing its copy must not
    # change another operation, or the module's constants.
    return copy.deepcopy(document)


def _schemas(endpoints: Iterable[Endpoint]) -> tuple[dict[Any, Any], dict[str, Any]]:
    """JSON Schema of every body and response type, and the shared component schemas.

    One `TypeAdapter.json_schemas` call for all types, so a model used by several routes
    is one component and name clashes between models are resolved once.
    """
    inputs: list[tuple[Any, Any, TypeAdapter[Any]]] = [
        ("error", "serialization", TypeAdapter(ErrorBody))
    ]
    for endpoint in endpoints:
        if endpoint.body is not None:
            inputs.append((("body", id(endpoint)), "validation", TypeAdapter(endpoint.body)))
        response: Any = endpoint.response
        if response is None:  # any JSON, or raw bytes for another media type
            response = Any if endpoint.media_type == JSON else bytes
        inputs.append((("response", id(endpoint)), "serialization", TypeAdapter(response)))
    by_key, definitions = TypeAdapter.json_schemas(inputs, ref_template=SCHEMA_REF)
    schemas = {key: schema for (key, _mode), schema in by_key.items()}
    components: dict[str, Any] = definitions.get("$defs", {})
    return schemas, components


def _tag(path: str) -> str:
    """The first path segment groups operations (`/results/...`); root routes are `service`."""
    segments = path.strip("/").split("/")
    return segments[0] if len(segments) > 1 else "service"


def _operation_id(tag: str, method: str, endpoint: Endpoint, taken: set[str]) -> str:
    name = f"{tag}.{endpoint.handler.__name__}"
    if len([m for m in endpoint.methods if m.upper() != "HEAD"]) > 1 or name in taken:
        name = f"{name}.{method.lower()}"
    unique, n = name, 1
    while unique in taken:
        n += 1
        unique = f"{name}{n}"
    taken.add(unique)
    return unique


def _description(endpoint: Endpoint) -> str:
    doc = (endpoint.handler.__doc__ or "").strip()
    scope = "none (public)" if endpoint.scope == "public" else f"`{endpoint.scope}`"
    return f"{doc}\n\nScope: {scope}." if doc else f"Scope: {scope}."


def _parameters(template: str, params: tuple[Param, ...]) -> list[dict[str, Any]]:
    described: list[dict[str, Any]] = []
    declared = {param.name for param in params}
    for name in _PATH_PARAM.findall(template):
        if name not in declared:  # a template parameter must be described: default to a string
            described.append(
                {"name": name, "in": "path", "required": True, "schema": {"type": "string"}}
            )
    for param in params:
        schema = {"type": "array", "items": param.schema} if param.repeated else param.schema
        entry: dict[str, Any] = {"name": param.name, "in": param.where, "schema": schema}
        if param.name.startswith("<") and param.name.endswith(">"):
            entry["name"] = param.name[1:-1]
            entry["schema"] = {"type": "object", "additionalProperties": param.schema}
        if param.where == "query":
            entry.update(style="form", explode=True)
        if param.required or param.where == "path":
            entry["required"] = True
        if param.description:
            entry["description"] = param.description
        described.append(entry)
    return described


def _body_media_type(endpoint: Endpoint) -> str:
    """Raw bytes (`body=bytes`, an upload) travel as octet-stream; anything else as JSON."""
    return "application/octet-stream" if endpoint.body is bytes else JSON


def _responses(
    endpoint: Endpoint, schema: dict[str, Any], error: dict[str, Any], has_path_params: bool
) -> dict[str, Any]:
    responses: dict[str, Any] = {
        str(endpoint.status): {
            "description": HTTPStatus(endpoint.status).phrase,
            "content": {endpoint.media_type: {"schema": schema}},
        }
    }
    statuses = {*endpoint.errors, *ANY_ERRORS}
    if endpoint.body is not None:
        statuses.update(BODY_ERRORS)
    if endpoint.scope != "public":
        statuses.update(TOKEN_ERRORS)
    if has_path_params:
        statuses.update(PATH_ERRORS)
    for status in sorted(statuses):
        responses[str(status)] = {
            "description": HTTPStatus(status).phrase,
            "content": {JSON: {"schema": error}},
        }
    return responses


def openapi_document(app: Starlette) -> bytes:
    """The app's OpenAPI document as JSON bytes, built on first use and kept."""
    cached: bytes | None = getattr(app.state, "openapi_document", None)
    if cached is None:
        cached = dumps(build_document(app_endpoints(app.routes)))
        app.state.openapi_document = cached
    return cached


async def openapi_json(request: Request) -> Response:
    """This API's contract as an OpenAPI 3.1 document."""
    return Response(openapi_document(request.app), media_type="application/json")


endpoints = [
    Endpoint("/openapi.json", ("GET",), openapi_json, "public",
             "This API as an OpenAPI 3.1 document", response=dict[str, Any]),
]  # fmt: skip
