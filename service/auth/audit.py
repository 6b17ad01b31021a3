"""The audit trail: an append-only collection (`audit.log`) of who did what, when.

Sluice only ever inserts into it: deletions, unlocks, token changes and stops are
recorded by `record(request, action, target, details)` once the change succeeded.
`GET /admin/audit` reads it newest first.
"""

from __future__ import annotations

import time
from typing import Any

from pymongo import DESCENDING, IndexModel
from starlette.requests import Request

from service.auth.principal import principal
from service.db import Database, Document
from service.stores import stores

COLLECTION = "audit.log"

INDEXES = [
    IndexModel([("at", DESCENDING)], name="at"),
    IndexModel([("action", DESCENDING), ("at", DESCENDING)], name="action_at"),
]


class AuditLog:
    """Append entries; read them back newest first."""

    def __init__(self, database: Database) -> None:
        self.collection = database.db[COLLECTION]

    async def create_indexes(self) -> None:
        await self.collection.create_indexes(INDEXES)

    async def append(self, entry: Document) -> None:
        await self.collection.insert_one(dict(entry))

    async def read(
        self,
        action: str | None = None,
        since: float | None = None,
        before: float | None = None,
        limit: int = 100,
    ) -> list[Document]:
        """Entries newest first: of `action` if given, at or after `since`, strictly
        before `before` (to page back), at most `limit`."""
        query: Document = {}
        if action is not None:
            query["action"] = action
        at: Document = {}
        if since is not None:
            at["$gte"] = since
        if before is not None:
            at["$lt"] = before
        if at:
            query["at"] = at
        cursor = self.collection.find(
            query, {"_id": False}, sort=[("at", DESCENDING), ("_id", DESCENDING)], limit=limit
        )
        return await cursor.to_list()


async def record(request: Request, action: str, target: str, details: Any = None) -> None:
    """Append to the audit trail that the caller of `request` did `action` (such as
    "results.delete", "buckets.stop") to `target`, with JSON `details`."""
    caller = principal(request)
    await stores(request).audit_log.append(
        {
            "at": time.time(),
            "action": action,
            "target": target,
            "details": details,
            "token": caller.name,
            "owner": caller.owner,
            "who": caller.who,
            "method": request.method,
            "path": request.url.path,
        }
    )


async def record_server(log: AuditLog, action: str, target: str, details: Any = None) -> None:
    """Append to the audit trail what the server itself did (no request, no token),
    such as the mover refusing to archive a work: `who` is "sluice"."""
    await log.append(
        {
            "at": time.time(),
            "action": action,
            "target": target,
            "details": details,
            "token": None,
            "owner": None,
            "who": "sluice",
            "method": None,
            "path": None,
        }
    )
