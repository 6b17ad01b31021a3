"""Leases, and who may change a work while, or after, a run holds it.

A run is identified by the work's `attempt` and `start` (both set at withdraw). Sluice's
worker also holds the lease token answered by withdraw; the CHIME client has only the
identity it carries in the document it sends back.
"""

from __future__ import annotations

import secrets
import time
from typing import Any

from service.buckets.documents import CLOSED, LEASE, STOP
from service.db import Document
from service.errors import Conflict

#: Statuses a run reports; a document in another status is an administrative edit.
RUN_STATUSES = frozenset({"running", "success", "failure"})


def new_lease(now: float, timeout: Any) -> dict[str, Any]:
    """A fresh lease; `timeout` may be a number or an aggregation expression."""
    expires = now + timeout if isinstance(timeout, int | float) else {"$add": [now, timeout]}
    return {"token": secrets.token_urlsafe(24), "expires": expires}


def held(work_id: str, token: str) -> Document:
    """A filter matching the work only while `token` holds its lease."""
    return {"id": work_id, "status": "running", f"{LEASE}.token": token}


def not_held(work_id: str) -> Conflict:
    """The 409 for a lease that is not (or no longer) held."""
    return Conflict(
        f"the lease on work {work_id} is not held (expired and reaped, released, "
        "finished, or the work is gone)",
        {"id": work_id},
    )


def version(stored: Document) -> Document:
    """A filter matching `stored` only while nothing `replacement` decides on has changed."""
    lease = stored.get(LEASE)
    return {
        "_id": stored["_id"],
        "status": stored.get("status"),
        "attempt": stored.get("attempt"),
        "start": stored.get("start"),
        f"{LEASE}.token": lease["token"] if lease else {"$exists": False},
        STOP: True if stored.get(STOP) else {"$ne": True},
        CLOSED: True if stored.get(CLOSED) else {"$ne": True},
    }


def replacement(stored: Document, incoming: Document, token: str | None) -> Document:
    """The document that replaces `stored` with the client's `incoming` values.

    With `token`, the lease must still be held with it. Without, a document in a run
    status with `start` set is that run's report: it must name the stored run (same
    `attempt` and `start`) and the server must not have ended that run. Anything else
    is an administrative edit and is applied; if it takes a running work from its run,
    that run is ended too. Raises Conflict when the update is refused.
    """
    running = stored.get("status") == "running"
    lease = stored.get(LEASE) if running else None
    if token is not None:
        if lease is None or lease["token"] != token:
            raise not_held(incoming["id"])
        closed = False
    elif incoming["status"] in RUN_STATUSES and incoming["start"] is not None:
        same_run = (stored.get("attempt"), stored.get("start")) == (
            incoming["attempt"],
            incoming["start"],
        )
        if not same_run or stored.get(CLOSED):
            raise Conflict(
                f"work {incoming['id']} is no longer held by the run that sent this update "
                "(its lease was lost, or another run withdrew it)",
                {
                    "id": incoming["id"],
                    "status": stored.get("status"),
                    "attempt": stored.get("attempt"),
                },
            )
        closed = False
    else:
        closed = bool(stored.get(CLOSED)) or (running and incoming["status"] != "running")
    document = dict(incoming)
    if incoming["status"] == "running":
        document[LEASE] = lease or new_lease(time.time(), incoming["timeout"])
        if running and stored.get(STOP):
            document[STOP] = True
    if closed:
        document[CLOSED] = True
    return document
