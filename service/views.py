"""Views: matching documents streamed from the first one, with flat memory.

A view holds at most one document (and the driver's current batch) at a time, however
many it answers and however large they are. Whatever could turn into an error is
decided before the answer starts: the cap on "all" (a count first) and the database's
verdict on the query (the first document is fetched before streaming).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

from pymongo import ASCENDING
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.cursor import AsyncCursor
from pymongo.errors import OperationFailure

from service.db import Document
from service.errors import too_many_results
from service.query import refused

#: Documents the driver asks the server for at once: a bound on what it buffers.
VIEW_BATCH = 100


async def open_view(
    collection: AsyncCollection[Document],
    query: dict[str, Any],
    projection: dict[str, Any],
    skip: int,
    limit: int | None,
    cap: int,
    items: str,
    shown: Callable[[Document], Document] | None = None,
) -> AsyncIterator[Document]:
    """The matching documents (`items` in errors) in deposit order, each passed
    through `shown`.

    `limit` 0 or None means all, refused (TooManyResults) past `cap`
    (SLUICE_MAX_VIEW_RESULTS), as is a `limit` over it. A query the database refuses is
    an InvalidQuery (400), raised here, before anything is sent.
    """
    too_many = too_many_results(cap, items)
    if limit and limit > cap:
        raise too_many
    try:
        if not limit and await collection.count_documents(query, skip=skip, limit=cap + 1) > cap:
            raise too_many
        cursor = collection.find(
            query,
            projection,
            skip=skip,
            limit=limit or cap,
            sort=[("_id", ASCENDING)],
            batch_size=VIEW_BATCH,
        )
        first = await anext(cursor, None)
    except OperationFailure as exc:
        raise refused(exc) from None
    return _stream(first, cursor, shown)


async def _stream(
    first: Document | None,
    rest: AsyncCursor[Document],
    shown: Callable[[Document], Document] | None,
) -> AsyncIterator[Document]:
    try:
        if first is None:
            return
        yield shown(first) if shown else first
        async for document in rest:
            yield shown(document) if shown else document
    finally:
        # Also when the client goes away mid-answer: free the server's cursor now.
        await rest.close()
