"""The data routes of the AERO-compatible surface (mounted at SLUICE_AERO_PREFIX,
default `/osprey/api/v1.0`), as the unmodified AERO client and its worker jobs call
them (the spec's §3.3): listings 15 a page ending in a 404, DataJSON / VersionJSON
with AERO's keys first, `/latest` answering both client generations, reference-only
`new-version`, and a GSearchResult-shaped search. Flow and provenance routes join
this mount from service.flows.
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from service.auth import caller_name
from service.data import search
from service.data.fields import check_media_type
from service.data.listing import aero_page
from service.data.present import data_json, version_json
from service.data.routes import body_object, check_writer
from service.db import Document
from service.errors import BadRequest, NotFound
from service.jsonio import JSONResponse
from service.params import int_param
from service.routing import Endpoint, Param
from service.stores import stores

_CREATE_FIELDS = ("name", "url", "description", "collection_uuid", "collection_url", "tags")
_VERSION_FIELDS = ("file", "file_format", "checksum", "size", "encoding")


async def _present_data(found: list[Document]) -> list[Any]:
    return [data_json(doc) for doc in found]


async def list_data(request: Request) -> Response:
    return await aero_page(request, stores(request).data.data, {}, _present_data)


def _optional_text(body: dict[str, Any], name: str) -> str | None:
    value = body.get(name)
    if value is not None and (not isinstance(value, str) or len(value) > 2048):
        raise BadRequest(f"{name} must be a string of at most 2048 characters", {"field": name})
    return value


async def create_data(request: Request) -> Response:
    body = await body_object(request, _CREATE_FIELDS)
    hint = {name: _optional_text(body, name) for name in ("collection_uuid", "collection_url")}
    stored = await stores(request).data.create(
        body.get("name"),
        owner=caller_name(request),
        url=body.get("url"),
        description=body.get("description") or "",
        tags=body.get("tags"),
        storage_hint=hint,
    )
    return JSONResponse(data_json(stored))


async def show_data(request: Request) -> Response:
    return JSONResponse(data_json(await stores(request).data.get(request.path_params["data_id"])))


async def list_versions(request: Request) -> Response:
    store = stores(request).data
    data = await store.get(request.path_params["data_id"])
    found = await store.version_list(data["_id"], 0, store.settings.aero_versions_max)
    return JSONResponse([version_json(version, data) for version in found])


async def file(request: Request) -> Response:
    store = stores(request).data
    data = await store.get(request.path_params["data_id"])
    number = int_param(request, "version", None)
    if number is None:
        version = await store.latest(data["_id"])
        if version is None:
            raise _no_versions(data["_id"])
    else:
        version = await store.version(data["_id"], number)
    return JSONResponse(version_json(version, data))


def _no_versions(data_id: str) -> NotFound:
    return NotFound("No versions exist for this data ID", {"data_id": data_id})


async def latest(request: Request) -> Response:
    store = stores(request).data
    data = await store.get(request.path_params["data_id"])
    version = await store.latest(data["_id"])
    if version is None:
        raise _no_versions(data["_id"])
    shown = version_json(version, data)
    # 2025 clients read `version` at the top level, 2024 ones `data_version.version`.
    return JSONResponse({**shown, "code": 200, "data_version": shown})


def mime_of(value: Any) -> str:
    """AERO's `file_format`: a MIME string or the `mimetypes` tuple (its first item)."""
    if isinstance(value, list) and value:
        value = value[0]
    return check_media_type(value, "file_format")


async def new_version(request: Request) -> Response:
    body = await body_object(request, _VERSION_FIELDS)
    await check_writer(request, request.path_params["data_id"])
    checksum, name, size = body.get("checksum"), body.get("file"), body.get("size")
    if not isinstance(checksum, str) or not 0 < len(checksum) <= 256:
        raise BadRequest("checksum must be a non-empty string", {"field": "checksum"})
    if not isinstance(name, str) or not 0 < len(name) <= 1024:
        raise BadRequest("file must be a non-empty string (the file name)", {"field": "file"})
    if size is not None and (isinstance(size, bool) or not isinstance(size, int) or size < 0):
        raise BadRequest("size must be a whole number of bytes", {"field": "size"})
    store = stores(request).data
    data = await store.get(request.path_params["data_id"])
    commit = await store.commit_reference(
        data["_id"],
        checksum=checksum,
        file_name=name,
        file_type=mime_of(body.get("file_format")),
        size=size,
        encoding=_optional_text(body, "encoding"),
    )
    shown = version_json(commit.version, await store.get(data["_id"]))
    if not commit.created:
        return JSONResponse({"code": 201, "message": "Version already exists", "version": shown})
    return JSONResponse(shown)


def _hit(version: Document, data: Document) -> dict[str, Any]:
    shown = version_json(version, data)
    created = version["created_at"].strftime("%Y/%m/%d")
    content = {
        "name": data["name"],
        "description": data.get("description", ""),
        "created_by": None,
        "producer_flow_id": data.get("producer_flow_id"),
        "tags": data.get("tags", []),
        "source": data.get("url"),
        "data_id": data["_id"],
        "version_id": version["_id"],
        "version": version["version"],
        "checksum": version.get("checksum"),
        "file_size": str(version.get("size")),
        "created": created,
        "url": shown["content_url"],
    }
    return {
        "@datatype": "GMetaResult",
        "@version": "2017-09-01",
        "subject": f"{data['name']}-{data['_id']}.{version['version']}",
        "entries": [{"entry_id": None, "content": content}],
    }


async def search_data(request: Request) -> Response:
    hits = await search.run(
        stores(request).data,
        request.query_params.get("query", request.query_params.get("q", "")),
        int_param(request, "offset", 0),
        int_param(request, "limit", None),
        search.parse_flag(request.query_params.get("latest_only"), "latest_only"),
    )
    return JSONResponse(
        {
            "@datatype": "GSearchResult",
            "@version": "2017-09-01",
            "offset": hits.offset,
            "count": len(hits.found),
            "total": hits.total,
            "has_next_page": hits.offset + len(hits.found) < hits.total,
            "gmeta": [_hit(version, data) for version, data in hits.found],
        }
    )


def _query(name: str, description: str, kind: str = "string") -> Param:
    return Param(name, "query", {"type": kind}, description)


_DATA = Param("data_id", "path", {"type": "string"}, "id of the data", required=True)
_LIST = tuple(
    _query(name, what, "integer")
    for name, what in (("page", "page from 1"), ("per_page", "rows per page (15)"),
                       ("offset", "rows to skip"), ("limit", "rows per page"))
)  # fmt: skip

endpoints = [
    Endpoint("/data", ("GET",), list_data, "read",
             "AERO: data, 15 a page, newest first; 404 past the last page", params=_LIST,
             errors=(400, 404)),
    Endpoint("/data", ("POST",), create_data, "deposit", "AERO: create a data source",
             body=dict[str, Any], errors=(400, 413)),
    Endpoint("/data/search", ("GET",), search_data, "read",
             "AERO: search versions (GSearchResult)",
             params=(_query("query", "the query (README: Versioned data)"),
                     _query("offset", "hits to skip", "integer"),
                     _query("limit", "hits per page (10, at most 100)", "integer"),
                     _query("latest_only", "only latest versions", "boolean")),
             errors=(400,)),
    Endpoint("/data/{data_id}", ("GET",), show_data, "read", "AERO: one data source",
             params=(_DATA,), errors=(404,)),
    Endpoint("/data/{data_id}/versions", ("GET",), list_versions, "read",
             "AERO: the versions, oldest first (at most SLUICE_AERO_VERSIONS_MAX)",
             params=(_DATA,), errors=(404,)),
    Endpoint("/data/{data_id}/file", ("GET",), file, "read",
             "AERO: one version (the latest without ?version=)",
             params=(_DATA, _query("version", "version number", "integer")),
             errors=(400, 404)),
    Endpoint("/data/{data_id}/latest", ("GET",), latest, "read",
             "AERO: the latest version (also as data_version)", params=(_DATA,),
             errors=(404,)),
    Endpoint("/data/{data_id}/new-version", ("POST",), new_version, "deposit",
             "AERO: record a reference-only version (no bytes) unless its checksum is the "
             "latest's", body=dict[str, Any], params=(_DATA,), errors=(400, 404, 413)),
]  # fmt: skip
