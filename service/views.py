"""Views: matching documents streamed from the first one, with flat memory.

A view holds at most one document (and the driver's current batch) at a time, however
many it answers and however large they are. Whatever could turn into an error is
decided before the answer starts: the cap on "all" (a count, unless the first batch
already held every match) and the database's verdict on the query (the first batch is
fetched before streaming). A view whose first batch held every match (a lookup by id,
a short page) is answered from that batch at once, without a stream.
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

#: Documents the driver asks the server for at once: a bound on what it buffers (the
#: server also ends a batch at 16 MiB).
VIEW_BATCH = 500

#: A view's answer: every document (the first batch held them all), or a stream.
Documents = list[Document] | AsyncIterator[Document]


async def open_view(
    collection: AsyncCollection[Document],
    query: dict[str, Any],
    projection: dict[str, Any],
    skip: int,
    limit: int | None,
    cap: int,
    items: str,
    shown: Callable[[Document], Document] | None = None,
) -> Documents:
    """The matching documents (`items` in errors) in deposit order, each passed
    through `shown`: a list when the first batch held them all, else a stream.

    `limit` 0 or None means all, refused (TooManyResults) past `cap`
    (SLUICE_MAX_VIEW_RESULTS), as is a `limit` over it. A query the database refuses is
    an InvalidQuery (400), raised here, before anything is sent.
    """
    if limit and limit > cap:
        raise too_many_results(cap, items)
    cursor = collection.find(
        query,
        projection,
        skip=skip,
        limit=limit or cap,
        sort=[("_id", ASCENDING)],
        batch_size=VIEW_BATCH,
    )
    try:
        first = await anext(cursor, None)
        # The server closed the cursor: the first batch holds every match there is.
        complete = first is None or cursor.cursor_id == 0
        unknown = not limit and not (complete and cursor.retrieved < cap)
        if unknown and await collection.count_documents(query, skip=skip, limit=cap + 1) > cap:
            await cursor.close()
            raise too_many_results(cap, items)
    except OperationFailure as exc:
        await cursor.close()
        raise refused(exc) from None
    if first is None:
        return []
    if complete:
        # Still in the driver's buffer: no round trip.
        found = [first, *[document async for document in cursor]]
        return [shown(document) for document in found] if shown else found
    return _stream(first, cursor, shown)


async def _stream(
    first: Document,
    rest: AsyncCursor[Document],
    shown: Callable[[Document], Document] | None,
) -> AsyncIterator[Document]:
    try:
        yield shown(first) if shown else first
        async for document in rest:
            yield shown(document) if shown else document
    finally:
        # Also when the client goes away mid-answer: free the server's cursor now.
        await rest.close()
