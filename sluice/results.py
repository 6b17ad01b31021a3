"""Python clients for Sluice Results: `Results` (blocking) and `AsyncResults` (asyncio).

Method names, arguments and return values follow the CHIME/FRB `workflow` Results
client, so code written against it reads the same. Every failure raises a
`sluice.errors.SluiceError`.

    with Results("http://127.0.0.1:8000") as results:
        results.get_by_count("header-localization", 10)
"""

from __future__ import annotations

from typing import Any

from sluice.core.plan import Document
from sluice.core.sender import AsyncSender, Sender
from sluice.plans import results as protocol


class Results(Sender):
    """Blocking client for the Results API of one Sluice server.

    `base_url` is the Sluice root (default `$SLUICE_URL`, else http://127.0.0.1:8000);
    the client adds `/results`. `token` (default `$SLUICE_TOKEN`) is sent as the
    `x-access-token` header. `timeout` is in seconds, per request.
    """

    prefix = "/results"

    def deposit(self, works: list[Document]) -> dict[str, bool]:
        """Store finished works (status "success" or "failure"), several pipelines at
        once; returns `{pipeline: True}`. All or nothing: ValidationFailed if any work is
        invalid, Conflict if any id already exists."""
        return self._run(protocol.deposit(works))

    def update(self, works: list[Document]) -> bool:
        """Replace stored results by `id` with these full documents (as `view` returns
        them). All or nothing: NotFound for unknown ids, Conflict for locked results."""
        return self._run(protocol.update(works))

    def delete_ids(self, pipeline: str, ids: list[str]) -> bool:
        """Delete results by id; unknown ids are ignored. Conflict, deleting nothing,
        if any of them is locked."""
        return self._run(protocol.delete_ids(pipeline, ids))

    def view(
        self,
        pipeline: str,
        query: Document,
        projection: dict[str, Any] | None = None,
        skip: int = 0,
        limit: int = 100,
    ) -> list[Document]:
        """Results of `pipeline` matching the MongoDB `query`, in deposit order.
        `limit` -1 means no limit (the service still caps one answer's size)."""
        return self._run(protocol.view(pipeline, query, projection, skip, limit))

    def count(self, pipeline: str, query: Document) -> int:
        """How many results of `pipeline` match the MongoDB `query`."""
        return self._run(protocol.count(pipeline, query))

    def status(self) -> dict[str, int]:
        """`{pipeline: number of results}` for every pipeline."""
        return self._run(protocol.status())

    def get_by_count(self, pipeline: str, count: int = 10) -> list[Document]:
        """The first `count` results of `pipeline`."""
        return self._run(protocol.get_by_count(pipeline, count))

    def get_by_id(self, pipeline: str, ids: list[str]) -> list[Document]:
        """The results of `pipeline` with these ids (missing ids are skipped)."""
        return self._run(protocol.get_by_id(pipeline, ids))

    def get_by_event(self, pipeline: str, event_number: int) -> list[Document]:
        """The results whose `event` is exactly `[event_number]`."""
        return self._run(protocol.get_by_event(pipeline, event_number))

    def get_locked(self, pipeline: str, skip: int = 0, count: int = 10) -> list[Document]:
        """Locked results, projected to id, event, plots, products and results."""
        return self._run(protocol.get_locked(pipeline, skip, count))

    def get_locked_count(self, pipeline: str) -> int:
        """How many results of `pipeline` are locked."""
        return self._run(protocol.get_locked_count(pipeline))

    def lock(self, pipeline: str, ids: list[str]) -> bool:
        """Lock results so they cannot be updated or deleted. NotFound, locking
        nothing, if any id does not exist."""
        return self._run(protocol.set_locked(pipeline, ids, True))

    def unlock(self, pipeline: str, ids: list[str], force: bool = False) -> bool:
        """Unlock results. Never prompts: `force` is accepted for compatibility with
        the `workflow` client and ignored. NotFound if any id does not exist."""
        return self._run(protocol.set_locked(pipeline, ids, False))


class AsyncResults(AsyncSender):
    """Asyncio client for the Results API; same methods and arguments as `Results`,
    each a coroutine. Use `async with`, or `await aclose()` when done."""

    prefix = "/results"

    async def deposit(self, works: list[Document]) -> dict[str, bool]:
        """See `Results.deposit`."""
        return await self._run(protocol.deposit(works))

    async def update(self, works: list[Document]) -> bool:
        """See `Results.update`."""
        return await self._run(protocol.update(works))

    async def delete_ids(self, pipeline: str, ids: list[str]) -> bool:
        """See `Results.delete_ids`."""
        return await self._run(protocol.delete_ids(pipeline, ids))

    async def view(
        self,
        pipeline: str,
        query: Document,
        projection: dict[str, Any] | None = None,
        skip: int = 0,
        limit: int = 100,
    ) -> list[Document]:
        """See `Results.view`."""
        return await self._run(protocol.view(pipeline, query, projection, skip, limit))

    async def count(self, pipeline: str, query: Document) -> int:
        """See `Results.count`."""
        return await self._run(protocol.count(pipeline, query))

    async def status(self) -> dict[str, int]:
        """See `Results.status`."""
        return await self._run(protocol.status())

    async def get_by_count(self, pipeline: str, count: int = 10) -> list[Document]:
        """See `Results.get_by_count`."""
        return await self._run(protocol.get_by_count(pipeline, count))

    async def get_by_id(self, pipeline: str, ids: list[str]) -> list[Document]:
        """See `Results.get_by_id`."""
        return await self._run(protocol.get_by_id(pipeline, ids))

    async def get_by_event(self, pipeline: str, event_number: int) -> list[Document]:
        """See `Results.get_by_event`."""
        return await self._run(protocol.get_by_event(pipeline, event_number))

    async def get_locked(self, pipeline: str, skip: int = 0, count: int = 10) -> list[Document]:
        """See `Results.get_locked`."""
        return await self._run(protocol.get_locked(pipeline, skip, count))

    async def get_locked_count(self, pipeline: str) -> int:
        """See `Results.get_locked_count`."""
        return await self._run(protocol.get_locked_count(pipeline))

    async def lock(self, pipeline: str, ids: list[str]) -> bool:
        """See `Results.lock`."""
        return await self._run(protocol.set_locked(pipeline, ids, True))

    async def unlock(self, pipeline: str, ids: list[str], force: bool = False) -> bool:
        """See `Results.unlock` (never prompts; `force` is ignored)."""
        return await self._run(protocol.set_locked(pipeline, ids, False))
