"""What the queue holds: counts by status and pipeline, and the pipelines holding work,
limited to what a caller may see; the `Status` methods of `BucketsStore`."""

from __future__ import annotations

from pymongo.asynchronous.collection import AsyncCollection

from service.auth.principal import Principal
from service.db import Document, count_by

STATUSES = ("queued", "running", "success", "failure")


class Status:
    """Counts and pipelines of the works in `collection`; the base of `BucketsStore`."""

    collection: AsyncCollection[Document]

    async def visible(self, caller: Principal | None) -> Document:
        """A filter of the works `caller` may touch: `{}` for an unrestricted caller,
        else `{"pipeline": {"$in": [...]}}` listing the allowed pipelines holding work."""
        if caller is None or not caller.restricted:
            return {}
        return {"pipeline": {"$in": caller.visible(await self.pipelines())}}

    async def counts(
        self, pipeline: str | None = None, caller: Principal | None = None
    ) -> dict[str, int]:
        """`{"total", "queued", "running", "success", "failure"}`, of one pipeline, or
        of every pipeline `caller` may touch."""
        # One count per status: each is served by the claim index's (status, pipeline)
        # prefix, where a match on pipeline alone would scan the collection.
        only = await self.visible(caller) if pipeline is None else {"pipeline": pipeline}
        counts = {"total": 0}
        for status in (*STATUSES, "created"):
            query = {"status": status, **only}
            found = await self.collection.count_documents(query)
            counts["total"] += found
            if status in STATUSES:
                counts[status] = found
        return counts

    async def pipelines(self) -> list[str]:
        """Names of the pipelines that hold work, sorted."""
        names: set[str] = set()
        for status in (*STATUSES, "created"):
            names.update(await self.collection.distinct("pipeline", {"status": status}))
        return sorted(names)

    async def depth(self) -> dict[tuple[str, ...], int]:
        """How many works each (pipeline, status) holds, in one pass over the queue."""
        counts = await count_by(self.collection, "pipeline", "status")
        return {(str(pipeline), str(status)): n for (pipeline, status), n in counts.items()}
