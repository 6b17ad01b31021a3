"""Native HTTP routes of AERO data (`/aero/functions`, `/aero/data...`, `/aero/search`).

Lists are `{items, total, limit, offset}`; creations answer 201, a duplicate 409, an
unknown id 404. Version uploads are the raw bytes, streamed: 201 with the new version,
or 200 with the latest when the bytes equal it.
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from service.auth import caller_name, principal, record
from service.body import request_json
from service.data import search
from service.data.fields import check_media_type
from service.data.ingest import IngestResult
from service.data.listing import native_page
from service.data.present import data_json, function_json, version_json
from service.db import Document
from service.errors import BadRequest
from service.jsonio import JSONResponse
from service.params import int_param, whole_number
from service.routing import Endpoint, Param
from service.stores import stores


async def body_object(request: Request, allowed: tuple[str, ...]) -> dict[str, Any]:
    """The JSON object body; 400 if it is not one or has a key outside `allowed`."""
    body = await request_json(request)
    if not isinstance(body, dict):
        raise BadRequest("the body must be a JSON object")
    unknown = sorted(set(body) - set(allowed))
    if unknown:
        raise BadRequest(
            f"unknown field(s) {', '.join(unknown)}; expected {', '.join(allowed)}",
            {"unknown": unknown},
        )
    return body


def version_number(request: Request) -> int:
    """The `{version}` path parameter: a version number (400 unless 1 or more)."""
    return whole_number(request.path_params["version"], "version", minimum=1)


async def _present_data(found: list[Document]) -> list[Any]:
    return [data_json(doc) for doc in found]


async def _present_functions(found: list[Document]) -> list[Any]:
    return [function_json(doc) for doc in found]


async def register_function(request: Request) -> Response:
    body = await body_object(request, ("path", "description"))
    stored = await stores(request).functions.register(
        body.get("path"), owner=caller_name(request), description=body.get("description", "")
    )
    await record(request, "aero.register_function", stored["_id"], {"path": stored["path"]})
    return JSONResponse(function_json(stored), status_code=201)


async def list_functions(request: Request) -> Response:
    return await native_page(request, stores(request).functions.collection, {}, _present_functions)


async def show_function(request: Request) -> Response:
    found = await stores(request).functions.get(request.path_params["function_id"])
    return JSONResponse(function_json(found))


async def create_data(request: Request) -> Response:
    body = await body_object(request, ("name", "url", "description", "tags"))
    stored = await stores(request).data.create(
        body.get("name"),
        owner=caller_name(request),
        url=body.get("url"),
        description=body.get("description", ""),
        tags=body.get("tags"),
    )
    return JSONResponse(data_json(stored), status_code=201)


async def list_data(request: Request) -> Response:
    kind = request.query_params.get("kind")
    query: Document = {} if kind is None else {"kind": kind}
    return await native_page(request, stores(request).data.data, query, _present_data)


async def show_data(request: Request) -> Response:
    return JSONResponse(data_json(await stores(request).data.get(request.path_params["data_id"])))


async def check_writer(request: Request, data_id: str) -> None:
    """403 unless the caller may write source `data_id`: sources are shared, but one a
    live flow produces only through that flow's pipeline."""
    await stores(request).flows.store.check_producers(data_id, principal(request))


async def change_data(request: Request) -> Response:
    body = await body_object(request, ("name", "url", "description", "tags"))
    await check_writer(request, request.path_params["data_id"])
    changed = await stores(request).data.update(request.path_params["data_id"], body)
    return JSONResponse(data_json(changed))


async def list_versions(request: Request) -> Response:
    data_id = request.path_params["data_id"]
    offset, limit = int_param(request, "offset", 0), int_param(request, "limit", 100)
    cap = stores(request).settings.max_view_results
    if offset < 0 or not 1 <= limit <= cap:
        raise BadRequest(
            f"offset must be at least 0 and limit 1-{cap} (SLUICE_MAX_VIEW_RESULTS)",
            {"offset": offset, "limit": limit},
        )
    store = stores(request).data
    found = await store.version_list(data_id, offset, limit)
    total = await store.versions.count_documents({"data_id": data_id})
    items = [version_json(version) for version in found]
    return JSONResponse({"items": items, "total": total, "limit": limit, "offset": offset})


async def show_version(request: Request) -> Response:
    found = await stores(request).data.version(
        request.path_params["data_id"], version_number(request)
    )
    return JSONResponse(version_json(found))


async def download(request: Request) -> Response:
    store = stores(request).data
    found = await store.version(request.path_params["data_id"], version_number(request))
    file = found.get("file") or {}
    if not file.get("blob_id"):
        raise BadRequest(
            f"version {found['version']} is a reference only: Sluice holds no bytes of it",
            {"file_name": file.get("file_name")},
        )
    pieces = await store.blobs.read(file["blob_id"])
    headers = {"etag": f'"{found["sha256"]}"', "content-length": str(found["size"])}
    if request.headers.get("if-none-match") == headers["etag"]:
        return Response(status_code=304, headers={"etag": headers["etag"]})
    return StreamingResponse(
        pieces, media_type=file.get("file_type") or "application/octet-stream", headers=headers
    )


async def upload_version(request: Request) -> Response:
    store = stores(request).data
    await check_writer(request, request.path_params["data_id"])
    declared = request.headers.get("content-length")
    if declared is not None and (not declared.isdigit() or int(declared) > 2**63):
        raise BadRequest("Content-Length is not a number")
    if declared is not None and int(declared) > store.settings.aero_max_version_bytes:
        raise store.too_large()
    params = request.query_params
    if params.get("file_type"):
        file_type = check_media_type(params["file_type"], "file_type")
    else:
        file_type = check_media_type(request.headers.get("content-type"), "content-type")
    commit = await store.commit_version(
        request.path_params["data_id"],
        request.stream(),
        file_name=params.get("file_name"),
        file_type=file_type,
        encoding=params.get("encoding"),
    )
    return JSONResponse(
        {"created": commit.created, "version": version_json(commit.version)},
        status_code=201 if commit.created else 200,
    )


def result_json(result: IngestResult) -> dict[str, Any]:
    """An ingestion's outcome on the wire."""
    return {
        "status": result.status,
        "data_id": result.data_id,
        "url": result.url,
        "http_status": result.http_status,
        "version": None if result.version is None else version_json(result.version),
        "error": result.error,
    }


async def ingest(request: Request) -> Response:
    body = await body_object(request, ("commit_key", "run_id", "flow_id", "force"))
    for name in ("commit_key", "run_id", "flow_id"):
        value = body.get(name)
        if value is not None and (not isinstance(value, str) or not 0 < len(value) <= 256):
            raise BadRequest(f"{name} must be a string of 1-256 characters", {"field": name})
    if not isinstance(body.get("force", False), bool):
        raise BadRequest("force must be true or false", {"field": "force"})
    data_id = request.path_params["data_id"]
    await check_writer(request, data_id)
    flow = await stores(request).flows.store.transforming(data_id)
    if flow is not None:
        # Its versions are what the transform makes: raw bytes committed here would be
        # a version of another kind, and the flow would transform them again.
        raise BadRequest(
            f"data {data_id} is ingested by flow {flow['_id']} through the transform "
            f"{flow['function_path']}: run the flow (POST /aero/flows/{flow['_id']}/runs, "
            '{"force": true} to re-ingest an unchanged upstream)',
            {"flow_id": flow["_id"]},
        )
    result = await stores(request).ingest.ingest(
        data_id,
        commit_key=body.get("commit_key"),
        run_id=body.get("run_id"),
        flow_id=body.get("flow_id"),
        force=bool(body.get("force", False)),
    )
    return JSONResponse(result_json(result), status_code=201 if result.status == "created" else 200)


async def search_versions(request: Request) -> Response:
    hits = await search.run(
        stores(request).data,
        request.query_params.get("q", ""),
        int_param(request, "offset", 0),
        int_param(request, "limit", None),
        search.parse_flag(request.query_params.get("latest_only"), "latest_only"),
    )
    items = [version_json(version, data) for version, data in hits.found]
    return JSONResponse(
        {"items": items, "total": hits.total, "limit": hits.limit, "offset": hits.offset}
    )


def _path(name: str, description: str) -> Param:
    return Param(name, "path", {"type": "string"}, description, required=True)


def _query(name: str, description: str, kind: str = "string") -> Param:
    return Param(name, "query", {"type": kind}, description)


_DATA = _path("data_id", "id of the data source")
_VERSION = _path("version", "version number (from 1)")
_PAGE = (_query("offset", "rows to skip", "integer"), _query("limit", "rows per page", "integer"))

endpoints = [
    Endpoint("/aero/functions", ("POST",), register_function, "deposit",
             "Register a function by dotted import path (never code)", body=dict[str, Any],
             errors=(400, 409, 413), status=201),
    Endpoint("/aero/functions", ("GET",), list_functions, "read",
             "Registered functions, newest first, with the total", params=_PAGE, errors=(400,)),
    Endpoint("/aero/functions/{function_id}", ("GET",), show_function, "read", "One function",
             params=(_path("function_id", "id of the function"),), errors=(404,)),
    Endpoint("/aero/data", ("POST",), create_data, "deposit", "Create a data source",
             body=dict[str, Any], errors=(400, 413), status=201),
    Endpoint("/aero/data", ("GET",), list_data, "read",
             "Data sources and outputs, newest first, with the total",
             params=(*_PAGE, _query("kind", "source or derived")), errors=(400,)),
    Endpoint("/aero/data/{data_id}", ("GET",), show_data, "read", "One data source",
             params=(_DATA,), errors=(404,)),
    Endpoint("/aero/data/{data_id}", ("PATCH",), change_data, "deposit",
             "Change a source's name, url, description or tags", body=dict[str, Any],
             params=(_DATA,), errors=(400, 404, 413)),
    Endpoint("/aero/data/{data_id}/versions", ("GET",), list_versions, "read",
             "The versions of a data source, oldest first, with the total",
             params=(_DATA, *_PAGE), errors=(400, 404)),
    Endpoint("/aero/data/{data_id}/versions", ("POST",), upload_version, "deposit",
             "Upload a version (raw body, streamed): 201 created, 200 if unchanged",
             body=bytes, params=(_DATA, _query("file_name", "file name to record"),
                                 _query("file_type", "MIME type (default: Content-Type)"),
                                 _query("encoding", "text encoding, if any")),
             errors=(400, 404, 413), status=201, deadline=False),
    Endpoint("/aero/data/{data_id}/versions/{version}", ("GET",), show_version, "read",
             "One version", params=(_DATA, _VERSION), errors=(400, 404)),
    Endpoint("/aero/data/{data_id}/versions/{version}/content", ("GET",), download, "read",
             "A version's bytes (streamed; ETag is the sha256)", params=(_DATA, _VERSION),
             errors=(400, 404), media_type="application/octet-stream"),
    Endpoint("/aero/data/{data_id}/ingest", ("POST",), ingest, "deposit",
             "Fetch the source's URL now; a version only if the content changed",
             body=dict[str, Any], params=(_DATA,), errors=(400, 404), status=201,
             deadline=False),
    Endpoint("/aero/search", ("GET",), search_versions, "read",
             "Search versions (query syntax: README, Versioned data)",
             params=(_query("q", "the query"), *_PAGE,
                     _query("latest_only", "only each source's latest version", "boolean")),
             errors=(400,)),
]  # fmt: skip
