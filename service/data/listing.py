"""The one listing mechanism of AERO records (data, flows, provenance): newest first
(`created_at` desc, then `_id` desc: stable, and not by random UUID as AERO was).

- `aero_page`: the AERO surface. `page` (from 1) and `per_page` (default 15), or
  `offset` and `limit` as the fork has them, clamped to SLUICE_AERO_PAGE_SIZE_MAX. A
  page past the end is 404 when `page` > 1: the AERO client yields that body as its
  last page and stops; a 200 `[]` would make it ask for the next page forever.
- `native_page`: `{items, total, limit, offset}`, any page size up to
  SLUICE_MAX_VIEW_RESULTS; clients stop on an empty page.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from pymongo import DESCENDING
from pymongo.asynchronous.collection import AsyncCollection
from starlette.requests import Request
from starlette.responses import Response

from service.db import Document
from service.errors import BadRequest, NotFound
from service.jsonio import JSONResponse
from service.params import int_param
from service.stores import stores

#: Records per page of the AERO client's listings (it never sends `per_page`).
AERO_PAGE = 15
ORDER = [("created_at", DESCENDING), ("_id", DESCENDING)]

Present = Callable[[list[Document]], Awaitable[list[Any]]]


def _at_least(request: Request, name: str, default: int, least: int) -> int:
    value = int_param(request, name, default)
    if value < least:
        raise BadRequest(f"{name} must be at least {least}, not {value}", {name: value})
    return value


async def _rows(
    collection: AsyncCollection[Document], query: Document, offset: int, limit: int
) -> list[Document]:
    cursor = collection.find(query, sort=ORDER, skip=offset, limit=limit)
    return [found async for found in cursor]


async def aero_page(
    request: Request, collection: AsyncCollection[Document], query: Document, present: Present
) -> Response:
    """One page of `collection`'s records matching `query`, as a bare JSON array of
    `present(records)`."""
    cap = stores(request).settings.aero_page_size_max
    params = request.query_params
    if "offset" in params or "limit" in params:
        offset = _at_least(request, "offset", 0, 0)
        limit = min(_at_least(request, "limit", AERO_PAGE, 1), cap)
        return JSONResponse(await present(await _rows(collection, query, offset, limit)))
    page = _at_least(request, "page", 1, 1)
    per_page = min(_at_least(request, "per_page", AERO_PAGE, 1), cap)
    if (page - 1) * per_page >= 2**63:
        raise BadRequest(f"page {page} is out of range", {"page": page})
    found = await _rows(collection, query, (page - 1) * per_page, per_page)
    if not found and page > 1:
        raise NotFound(f"page {page} past the end", {"page": page})
    return JSONResponse(await present(found))


async def native_page(
    request: Request, collection: AsyncCollection[Document], query: Document, present: Present
) -> Response:
    """`{items, total, limit, offset}` of `collection`'s records matching `query`."""
    cap = stores(request).settings.max_view_results
    offset = _at_least(request, "offset", 0, 0)
    limit = _at_least(request, "limit", 100, 1)
    if limit > cap or offset >= 2**63:
        raise BadRequest(
            f"limit must be 1-{cap} (SLUICE_MAX_VIEW_RESULTS)", {"limit": limit, "offset": offset}
        )
    total = await collection.count_documents(query)
    items = await present(await _rows(collection, query, offset, limit))
    return JSONResponse({"items": items, "total": total, "limit": limit, "offset": offset})
