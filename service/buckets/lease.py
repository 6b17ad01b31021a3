"""Leases, and THE rule for who may change a stored work with `PUT /work` (`judge`).

Every withdraw starts a run: `attempt` + 1, a lease (token, expiry) while `running`.
Sluice's worker holds the lease token (answered in `X-Sluice-Lease`) and says so at
withdraw (`X-Sluice-Bind-Lease`), which binds that run to its token (`_bound`). The
CHIME `workflow` client (1.12.3) has no token: the one identity it carries back is the
`attempt` number it received at withdraw. So a document sent to `PUT /work` is judged:

1. **With a lease token** (`X-Sluice-Lease`): applied as sent only while that token
   holds the work's lease; otherwise 409. The lease itself is left as it is.
2. **Without a token, in a run status** (`running`, `success`, `failure`): the report
   of the run its `attempt` names.
   - *Late* when the work was withdrawn again since, i.e. the stored `attempt` is
     greater than the report's (so a report that lowers `attempt` is late too): nothing
     changes, the answer is `false` (what the client documents for "not updated"), and
     the route appends one audit-trail entry. A 409 here would make the client retry
     for 30 s and raise out of `workflow run`, killing the worker loop.
   - Otherwise it is the current run's holder, whose edits are applied as sent,
     `attempt`, `start`, `stop`, `creation`, `retries`, `priority`, `config` and
     `status` included: CHIME workers and admin scripts give up with
     `attempt = retries`, move `start` back so that audit expires the run, and so on.
     While the work stays `running`, its lease expires at `start + timeout` as sent,
     so the reaper and `GET /audit/expired` follow the edit.
   - Refused without `admin` scope: when SLUICE_REQUIRE_LEASE is on (403; deployments
     without CHIME clients); when the current run is bound to a lease token (409: a
     tokenless document must not take over a Sluice worker's run); when no run ever
     withdrew the work (stored `attempt` 0, 403: recording an outcome of a work
     nobody ran is an administrative edit).
3. **Without a token, in another status** (`queued`, `created`): an administrative
   edit; of a running work it needs `admin` scope (403), and it ends the run.

The late rule holds whatever the caller's scope (an admin token in a CHIME worker
sends late reports too); an administrator overrides it by sending the current attempt.
Every replacement is conditional on the stored state it was judged from (`version`).
"""

from __future__ import annotations

import secrets
import time
from typing import Any, NamedTuple

from pymongo.asynchronous.client_session import AsyncClientSession
from pymongo.asynchronous.collection import AsyncCollection

from schemas.buckets import LEASE_HEADER
from service import canonical
from service.auth.principal import Principal
from service.buckets.documents import BOUND, CARRIED, LEASE, STOP, public
from service.db import Document
from service.errors import Conflict, NotFound

#: Attempts at a report whose work changed between our read and our write.
REPORT_ATTEMPTS = 5
#: Statuses a run reports; a document in another status is an administrative edit.
RUN_STATUSES = frozenset({"running", "success", "failure"})


class Late(NamedTuple):
    """A tokenless report from a run the work has been withdrawn again since."""

    id: str
    attempt: int
    current: int


def new_token() -> str:
    """A fresh lease token: unguessable, unique to one claim of one work."""
    return secrets.token_urlsafe(24)


def new_lease(now: float, timeout: Any) -> dict[str, Any]:
    """A fresh lease; `timeout` may be a number or an aggregation expression."""
    expires = now + timeout if isinstance(timeout, int | float) else {"$add": [now, timeout]}
    return {"token": new_token(), "expires": expires}


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
    """A filter matching `stored` only while nothing `judge` decides on has changed."""
    lease = stored.get(LEASE)
    return {
        "_id": stored["_id"],
        "status": stored.get("status"),
        "attempt": stored.get("attempt"),
        f"{LEASE}.token": lease["token"] if lease else {"$exists": False},
        STOP: True if stored.get(STOP) else {"$ne": True},
        BOUND: True if stored.get(BOUND) else {"$ne": True},
    }


def _same(stored: str, given: str) -> bool:
    # compare_digest takes ASCII text only (a token sent as "é" raised TypeError): bytes.
    return secrets.compare_digest(stored.encode(), given.encode("utf-8", "surrogatepass"))


def judge(
    stored: Document,
    incoming: Document,
    token: str | None,
    caller: Principal | None,
    require_lease: bool,
) -> Document | Late:
    """The document replacing `stored` with the client's `incoming`, or Late (see the
    module docstring). `caller` None is the server itself. Raises Conflict or
    Forbidden when the document is refused."""
    work_id = incoming["id"]
    running = stored.get("status") == "running"
    lease = stored.get(LEASE) if running else None
    if token is not None:
        if lease is None or not _same(str(lease["token"]), token):
            raise not_held(work_id)
        return _replacement(stored, incoming, lease, follow_start=False)
    # The server itself (caller None) acts as an administrator.
    admin = caller is None or caller.has("admin")
    if incoming["status"] not in RUN_STATUSES:
        if running and caller is not None:
            caller.require("admin", f"taking running work {work_id} from its run")
        return _replacement(stored, incoming, lease, follow_start=True)
    current = stored.get("attempt", 0)
    if require_lease and caller is not None:
        caller.require(
            "admin", f"a report without a lease token (SLUICE_REQUIRE_LEASE is on; work {work_id})"
        )
    if current > incoming["attempt"]:
        return Late(work_id, incoming["attempt"], current)
    if not admin and stored.get(BOUND):
        raise Conflict(
            f"work {work_id} is held by a run that reports with its lease token "
            f"({LEASE_HEADER}); a report without it is refused",
            {"id": work_id, "attempt": current},
        )
    if current == 0 and caller is not None:
        caller.require("admin", f"recording an outcome of work {work_id}, never withdrawn")
    return _replacement(stored, incoming, lease, follow_start=True)


def unknown(work_id: str) -> NotFound:
    """The 404 for a report of a work that is not stored."""
    return NotFound(f"no work with id {work_id}", {"id": work_id})


def decide(
    stored: Document,
    incoming: Document,
    token: str | None,
    caller: Principal | None,
    require_lease: bool,
) -> Document | Late | None:
    """What a report of `incoming` does to `stored`: None when it is the same as what is
    stored (type-exact; accepted as it is, so a blind retry succeeds), else what `judge`
    decides. 403 when `caller` may not touch the stored work's pipeline; what `judge`
    raises."""
    if caller is not None:
        caller.check_pipelines([stored.get("pipeline")])
    # A run's report changes the status (running -> success or failure): that alone
    # tells it from a blind retry, without encoding both documents to compare them.
    status = stored.get("status")
    changed = type(status) is str and status != incoming["status"]
    if not changed and canonical.same(public(stored), incoming):
        return None
    return judge(stored, incoming, token, caller, require_lease)


async def report(
    collection: AsyncCollection[Document],
    incoming: Document,
    token: str | None,
    caller: Principal | None,
    require_lease: bool,
    session: AsyncClientSession | None = None,
) -> Late | None:
    """Apply one document of a `PUT /work` as `decide` decides; Late if it was late.

    404 for an unknown id; what `decide` raises. The replacement is conditional on the
    state it was judged from, judged again when that changed meanwhile.
    """
    work_id = incoming["id"]
    for _ in range(REPORT_ATTEMPTS):
        stored = await collection.find_one({"id": work_id}, session=session)
        if stored is None:
            raise unknown(work_id)
        verdict = decide(stored, incoming, token, caller, require_lease)
        if verdict is None or isinstance(verdict, Late):
            return verdict
        result = await collection.replace_one(version(stored), verdict, session=session)
        if result.matched_count:
            return None
    raise Conflict(f"work {work_id} kept changing during the update; retry", {"id": work_id})


def _replacement(
    stored: Document, incoming: Document, lease: dict[str, Any] | None, follow_start: bool
) -> Document:
    document = dict(incoming)
    for field in CARRIED:
        if field in stored:
            document[field] = stored[field]
    if incoming["status"] == "running":
        now = time.time()
        if lease is None:
            lease = new_lease(now, incoming["timeout"])
        if follow_start:
            start = incoming["start"] if incoming["start"] is not None else now
            lease = {"token": lease["token"], "expires": start + incoming["timeout"]}
        document[LEASE] = lease
        if stored.get("status") == "running" and stored.get(STOP):
            document[STOP] = True
    return document
