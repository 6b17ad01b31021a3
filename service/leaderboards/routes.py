"""Sluice's own leaderboard routes (`/leaderboards/...`): install and read templates,
start, read and cancel runs, rank them.

Every template belongs to its `pipeline`: a token limited to other pipelines gets 403
for it and does not see it listed.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from schemas.leaderboards import CancelRun, StartRun
from service.auth import caller_name, principal, record
from service.body import read_body, request_json
from service.db import Document
from service.errors import NotFound
from service.gridstream import download_headers, read_all
from service.jsonio import JSONResponse
from service.leaderboards import archive, ranking
from service.leaderboards.present import ranking_row, run_info, template_info
from service.params import int_param, page_skip
from service.routing import Endpoint, Param
from service.stores import stores
from service.validation import parse_model


async def _template(request: Request) -> Document:
    template = await stores(request).templates.get(request.path_params["workflow_id"])
    principal(request).check_pipelines([template["pipeline"]])
    return template


async def _run(request: Request) -> Document:
    held = stores(request)
    run = await held.leaderboard_runs.get(request.path_params["run_id"])
    template = await held.templates.get(run["workflow_id"])
    principal(request).check_pipelines([template["pipeline"]])
    return run


async def install(request: Request) -> Response:
    held = stores(request)
    content = await read_body(
        request, held.settings.max_workfile_bytes, "SLUICE_MAX_WORKFILE_BYTES"
    )
    name = request.query_params.get("file_name", "template.yaml")
    template = await held.templates.install(content, name, caller_name(request), principal(request))
    await record(request, "leaderboards.install", template["_id"], {"name": template["name"]})
    return JSONResponse(template_info(template), status_code=201)


async def listing(request: Request) -> Response:
    caller = principal(request)
    found = await stores(request).templates.listing()
    visible = [template_info(t) for t in found if caller.allows(t["pipeline"])]
    return JSONResponse({"workflows": visible})


async def get(request: Request) -> Response:
    template = await _template(request)
    latest = await stores(request).leaderboard_runs.latest_postproc(template["_id"])
    return JSONResponse(template_info(template, latest))


async def group_names(request: Request, runs: list[Document]) -> dict[str, str]:
    """The current names of the groups of `runs` (one page: a bounded number)."""
    groups = stores(request).groups
    wanted = sorted({run["group_id"] for run in runs if run["group_id"]})
    found = await asyncio.gather(*(groups.get(g) for g in wanted), return_exceptions=True)
    return {
        g: item["name"] for g, item in zip(wanted, found, strict=True) if isinstance(item, dict)
    }


async def rank(request: Request) -> Response:
    held = stores(request)
    template = await _template(request)
    page, per_page = int_param(request, "page", 1), int_param(request, "per_page", 100)
    skip = page_skip(page, per_page, held.settings.max_view_results)
    order = ranking.parse_order(request.query_params.get("order_by"))
    include_all = request.query_params.get("include_all", "").lower() in ("1", "true", "yes")
    _, rows = await held.leaderboard_runs.ranking(
        template["_id"], order, include_all, skip, per_page
    )
    names = await group_names(request, rows)
    schema = template["results"]
    used = (order or ranking.default_order(schema)) if schema else []
    return JSONResponse({
        "schema": schema["schema"] if schema else [],
        "order_by": [{"name": name, "desc": desc} for name, desc in used],
        "include_all": include_all,
        "page": page,
        "per_page": per_page,
        "ranking": [ranking_row(run, names) for run in rows],
    })  # fmt: skip


async def start(request: Request) -> Response:
    held = stores(request)
    template = await _template(request)
    asked = parse_model(StartRun, await request_json(request))
    group = await held.groups.access(asked.group, principal(request))
    run = await held.leaderboard_runs.start_run(
        template["_id"], group, [a.model_dump() for a in asked.arguments], caller_name(request)
    )
    return JSONResponse(run_info(run), status_code=201)


async def get_run(request: Request) -> Response:
    return JSONResponse(run_info(await _run(request)))


async def cancel(request: Request) -> Response:
    run = await _run(request)
    raw = await request_json(request) if await request.body() else {}
    asked = parse_model(CancelRun, raw)
    canceled = await stores(request).leaderboard_runs.cancel(run["_id"], asked.reason)
    await record(request, "leaderboards.cancel", run["_id"], {"reason": asked.reason})
    return JSONResponse(run_info(canceled))


def _download(run: Document, file_id: str | None, request: Request) -> Response:
    """A run's archive (file_id None) or one of its files, streamed."""
    files = stores(request).step_files
    if file_id is None:
        archive.check_archivable(run)
        disposition = f'attachment; filename="{archive.archive_name(run)}"'
        return StreamingResponse(
            archive.tar_gz(run, files),
            media_type="application/gzip",
            headers={"Content-Disposition": disposition},
        )
    entry = archive.run_file(run, file_id)

    async def content() -> AsyncIterator[bytes]:
        async for piece in read_all(await files.open_output(entry["id"])):
            yield piece

    name = entry["name"].rsplit("/", 1)[-1]
    return StreamingResponse(
        content(), media_type="application/octet-stream",
        headers=download_headers(name, entry["size"]),
    )  # fmt: skip


async def run_archive(request: Request) -> Response:
    return _download(await _run(request), None, request)


async def run_file(request: Request) -> Response:
    return _download(await _run(request), request.path_params["file_id"], request)


async def _postproc(request: Request) -> Document:
    template = await _template(request)
    latest = await stores(request).leaderboard_runs.latest_postproc(template["_id"], "SUCCESS")
    if latest is None:
        raise NotFound(
            f"workflow {template['_id']} has no successful post-processing run yet",
            {"workflow": template["_id"]},
        )
    return latest


async def workflow_archive(request: Request) -> Response:
    return _download(await _postproc(request), None, request)


async def workflow_file(request: Request) -> Response:
    return _download(await _postproc(request), request.path_params["file_id"], request)


_FILE_ID = Param("file_id", "path", {"type": "string"}, "file id", True)
_WORKFLOW = Param("workflow_id", "path", {"type": "string"}, "workflow (template) id", True)
_RUN_ID = Param("run_id", "path", {"type": "string"}, "run id", True)
_RANK = (
    _WORKFLOW,
    Param("order_by", "query", {"type": "string"}, "col[:ASC|DESC],... (default: the schema's)"),
    Param("include_all", "query", {"type": "boolean"}, "every run, not the best per group"),
    Param("page", "query", {"type": "integer", "minimum": 1}, "page number, from 1"),
    Param("per_page", "query", {"type": "integer", "minimum": 1}, "rows per page"),
)

endpoints = [
    Endpoint("/workflows", ("POST",), install, "admin",
             "Install a workflow template (raw YAML, or JSON for a .json file_name)",
             body=bytes, response=dict, status=201, errors=(400, 409, 413, 422),
             params=(Param("file_name", "query", {"type": "string"}, "the template's file name"),)),
    Endpoint("/workflows", ("GET",), listing, "read", "The installed workflow templates",
             response=dict),
    Endpoint("/workflows/{workflow_id}", ("GET",), get, "read",
             "A workflow template and its latest post-processing run", response=dict,
             params=(_WORKFLOW,), errors=(403, 404)),
    Endpoint("/workflows/{workflow_id}/ranking", ("GET",), rank, "read",
             "One page of the workflow's leaderboard", response=dict, params=_RANK,
             errors=(400, 403, 404)),
    Endpoint("/workflows/{workflow_id}/runs", ("POST",), start, "deposit",
             "Start a run for a group with arguments", body=StartRun, response=dict,
             status=201, params=(_WORKFLOW,), errors=(400, 403, 404, 422)),
    Endpoint("/runs/{run_id}", ("GET",), get_run, "read", "A leaderboard run", response=dict,
             params=(_RUN_ID,), errors=(403, 404)),
    Endpoint("/runs/{run_id}/cancel", ("POST",), cancel, "work",
             "Cancel an active run, with an optional reason", body=CancelRun, response=dict,
             params=(_RUN_ID,), errors=(400, 403, 404)),
    Endpoint("/runs/{run_id}/archive", ("GET",), run_archive, "read",
             "The tar.gz of a successful run's files, streamed", response=bytes,
             params=(_RUN_ID,), errors=(403, 404), media_type="application/gzip",
             deadline=False),
    Endpoint("/runs/{run_id}/files/{file_id}", ("GET",), run_file, "read",
             "One file of a run", response=bytes, params=(_RUN_ID, _FILE_ID),
             errors=(403, 404), media_type="application/octet-stream", deadline=False),
    Endpoint("/workflows/{workflow_id}/archive", ("GET",), workflow_archive, "read",
             "The tar.gz of the latest successful post-processing run's files",
             response=bytes, params=(_WORKFLOW,), errors=(403, 404),
             media_type="application/gzip", deadline=False),
    Endpoint("/workflows/{workflow_id}/files/{file_id}", ("GET",), workflow_file, "read",
             "One file of the latest successful post-processing run", response=bytes,
             params=(_WORKFLOW, _FILE_ID), errors=(403, 404),
             media_type="application/octet-stream", deadline=False),
]  # fmt: skip
