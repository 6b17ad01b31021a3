"""HTTP routes of the Aqueduct-compatible surface, mounted at SLUICE_AQUEDUCT_PREFIX:
GraphQL at `/api/graphql`, files at `/api/files/{uuid}`.

Failures before or around the GraphQL execution that the client must see as such
(no or a bad token: 401/403; the database down: 503) are native Sluice error bodies,
which pyaqueduct maps by status; everything about the operation itself is a GraphQL
`errors` entry carrying the Sluice error code in `extensions.code`.
"""

from __future__ import annotations

import logging
import mimetypes
import time
import uuid
from typing import Any

import orjson
from ariadne import graphql
from graphql import GraphQLError, parse
from starlette.requests import Request
from starlette.responses import Response

from schemas.aqueduct import DeleteFiles, GraphQLRequest, GraphQLResponse
from service.aqueduct.limits import check_limits, required_scope
from service.aqueduct.multipart import form_part
from service.aqueduct.resolvers import Context
from service.aqueduct.schema import build_schema
from service.auth.audit import record as audit
from service.auth.principal import principal
from service.body import read_body, request_json
from service.errors import (
    BadRequest,
    Forbidden,
    MalformedJSON,
    SluiceError,
    Unauthorized,
    Unavailable,
)
from service.experiments.routes import file_response
from service.jsonio import JSONResponse
from service.routing import Endpoint, Param
from service.settings import Settings
from service.stores import stores
from service.validation import parse_model

SCHEMA = build_schema()
#: ariadne logs every GraphQL error with a traceback; client mistakes are not worth a
#: log line, and failures of Sluice itself are re-raised and logged by service.errors.
_QUIET = logging.getLogger("sluice.aqueduct.graphql")
_QUIET.disabled = True


def _errors(*messages: str) -> Response:
    return JSONResponse({"errors": [{"message": m} for m in messages]})


def _escalates(error: GraphQLError) -> bool:
    """Whether a resolver's failure must be answered as HTTP rather than in `errors`:
    auth refusals (the client maps 401/403), the database down (503) and failures that
    are not Sluice errors (bugs: 500)."""
    original = error.original_error
    if original is None or error.path is None:
        return False
    if isinstance(original, Unauthorized | Forbidden | Unavailable):
        return True
    return not isinstance(original, SluiceError)


class _Formatter:
    """Formats GraphQL errors, keeping those that must be escalated."""

    def __init__(self) -> None:
        self.escalated: list[Exception] = []

    def __call__(self, error: GraphQLError, debug: bool = False) -> dict[str, Any]:
        formatted: dict[str, Any] = dict(error.formatted)
        original = error.original_error
        if _escalates(error):
            assert isinstance(original, Exception)
            self.escalated.append(original)
        elif isinstance(original, SluiceError):
            formatted["message"] = original.message
            formatted["extensions"] = {"code": original.code, "details": original.details}
        return formatted


async def _request(request: Request, settings: Settings) -> GraphQLRequest:
    body = await read_body(
        request, settings.aqueduct_max_body_bytes, "SLUICE_AQUEDUCT_MAX_BODY_BYTES"
    )
    try:
        raw = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise MalformedJSON(f"request body is not valid JSON: {exc}") from None
    return parse_model(GraphQLRequest, raw)


async def execute_graphql(request: Request) -> Response:
    """Run one GraphQL document against the experiment stores."""
    started = time.monotonic()
    held = stores(request)
    settings = held.settings
    payload = await _request(request, settings)
    try:
        document = parse(payload.query)
        check_limits(document, settings.aqueduct_max_depth, settings.aqueduct_max_fields)
    except GraphQLError as exc:
        return _errors(exc.message)
    principal(request).require(required_scope(document), "this GraphQL operation")
    context = Context(request, held, settings, started + settings.aqueduct_execute_wait)
    formatter = _Formatter()
    _, result = await graphql(
        SCHEMA,
        payload.model_dump(),
        context_value=context,
        query_document=document,
        introspection=settings.aqueduct_introspection,
        error_formatter=formatter,
        logger=_QUIET,
    )
    if formatter.escalated:
        raise formatter.escalated[0]
    # 200 whatever the errors, as GraphQL over HTTP has it for application/json.
    return JSONResponse(result)


def _experiment_uuid(request: Request) -> str:
    raw = request.path_params["uuid"]
    try:
        return str(uuid.UUID(raw))
    except ValueError:
        raise BadRequest(f"{raw[:100]!r} is not an experiment UUID", {"uuid": raw[:100]}) from None


async def upload(request: Request) -> Response:
    """Store the multipart part `file` under the name in the `file_name` header."""
    name = request.headers.get("file_name")
    if name is None:
        raise BadRequest("send the file's name in the file_name header")
    held = stores(request)
    max_bytes = held.settings.max_file_bytes
    entry = await held.files.store(
        _experiment_uuid(request), name, form_part(request, "file", max_bytes)
    )
    return JSONResponse({"result": f"Successfully uploaded {name}", "file": entry})


async def download(request: Request) -> Response:
    """A file's content with its Content-Length (pyaqueduct needs it), never compressed."""
    name = request.path_params["name"]
    entry, stream = await stores(request).files.open(_experiment_uuid(request), name)
    media_type = mimetypes.guess_type(name)[0] or "application/octet-stream"
    return file_response(entry, stream, media_type)


async def delete_files(request: Request) -> Response:
    """Remove files, all or nothing: 409 naming the missing ones."""
    body = parse_model(DeleteFiles, await request_json(request))
    ref = _experiment_uuid(request)
    removed = await stores(request).files.remove(ref, body.file_list)
    await audit(request, "experiments.remove_files", ref, {"names": removed})
    return JSONResponse({"result": f"Successfully deleted {', '.join(removed)}"})


_UUID = Param("uuid", "path", {"type": "string", "format": "uuid"}, "the experiment's UUID",
              required=True)  # fmt: skip
_NAME = Param("name", "path", {"type": "string"}, "file name", required=True)

endpoints = [
    Endpoint("/api/graphql", ("POST",), execute_graphql, "read",
             "Aqueduct GraphQL (schemas/aqueduct.graphql); mutations need deposit, "
             "removeExperiment admin", body=GraphQLRequest, response=GraphQLResponse,
             errors=(400, 401, 403, 413, 422, 503), deadline=False),
    Endpoint("/api/files/{uuid}", ("POST",), upload, "deposit",
             "Upload the multipart part `file` as the name in the `file_name` header "
             "(streamed; replaces a file of that name atomically)",
             params=(_UUID,), errors=(400, 404, 409, 413), deadline=False),
    Endpoint("/api/files/{uuid}/delete_files", ("POST",), delete_files, "admin",
             "Remove files, all or nothing (409 naming missing ones)", body=DeleteFiles,
             params=(_UUID,), errors=(400, 404, 409, 422)),
    Endpoint("/api/files/{uuid}/{name}", ("GET",), download, "read",
             "Download a file (streamed, with Content-Length)", params=(_UUID, _NAME),
             errors=(400, 404), media_type="application/octet-stream"),
]  # fmt: skip
