"""Lease operations on many works at once, for workers that hold several: the `Batches`
methods of `BucketsStore`.

`withdraw_many` claims up to `limit` works, each with its own lease, in claim order;
`heartbeat_many` renews many held leases in two database round trips whatever their
number. Each lease is judged on its own: one that is not held does not fail the others.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from pymongo.asynchronous.collection import AsyncCollection

from service.auth.principal import Principal
from service.buckets.documents import LEASE, STOP
from service.db import Document


class Batches:
    """Batched lease operations; a base of `BucketsStore`."""

    collection: AsyncCollection[Document]

    if TYPE_CHECKING:

        async def claim(
            self, query: Any, caller: Principal | None = None, bound: bool = False, limit: int = 1
        ) -> list[tuple[Document, str]]: ...

    async def withdraw_many(
        self, query: Any, caller: Principal | None = None, bound: bool = False, limit: int = 1
    ) -> list[tuple[Document, str]]:
        """Claim up to `limit` works matching `query` as `withdraw` claims one, each with
        a lease of its own; in claim order (highest priority first, then oldest), fewer
        (or none) when fewer are queued (service.buckets.claims)."""
        return await self.claim(query, caller, bound, limit)

    async def heartbeat_many(
        self, pairs: Sequence[tuple[str, str]], caller: Principal | None = None
    ) -> list[Document | None]:
        """Extend each held lease of `pairs` (work id, token) by its work's timeout; the
        answers in input order: `{"id", "expires", "stop"}`, or None for a lease that is
        not held. 403 (nothing renewed) if `caller` may not touch the pipeline of one of
        the works."""
        ids = [work_id for work_id, _ in pairs]
        tokens = [token for _, token in pairs]
        # Tokens are unguessable and unique: a work matches only with its own token.
        held: Document = {
            "id": {"$in": ids},
            "status": "running",
            f"{LEASE}.token": {"$in": tokens},
        }
        if caller is not None and caller.restricted:
            pipelines = await self.collection.distinct("pipeline", held)
            caller.check_pipelines(pipelines)
            held["pipeline"] = {"$in": pipelines}
        now = time.time()
        await self.collection.update_many(
            held,
            [
                {
                    "$set": {
                        LEASE: {
                            "token": f"${LEASE}.token",
                            "expires": {"$add": [now, "$timeout"]},
                        }
                    }
                }
            ],
        )
        found = self.collection.find(held, {"id": True, LEASE: True, STOP: True, "_id": False})
        renewed = {d["id"]: d async for d in found}
        answers: list[Document | None] = []
        for work_id, token in pairs:
            stored = renewed.get(work_id)
            if stored is None or stored[LEASE].get("token") != token:
                answers.append(None)
                continue
            answers.append(
                {"id": work_id, "expires": stored[LEASE]["expires"], "stop": bool(stored.get(STOP))}
            )
        return answers
