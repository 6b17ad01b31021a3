"""How a work is stored in Buckets: its public fields plus server-only state.

A stored work is the CHIME document (`schemas.work.WORK_FIELDS`, in that order) followed
by fields only the server reads, each named with a leading underscore:

- `_lease`: `{"token", "expires"}` while the work is `running` (never otherwise). The
  token is what Sluice's worker sends back; `expires` is when the reaper may take the
  work away from the run.
- `_stop`: true when the current run was asked to stop (reported by the heartbeat).
- `_bound`: true when the current run (the stored `attempt`) was withdrawn by a client
  that reports with its lease token (Sluice's worker), so that run's reports need the
  token (see `service.buckets.lease`).
- `_deposit`: the fingerprint of the work as first deposited (`deposit_fingerprint`),
  which decides whether a later deposit of its id is the same work.
- `_run`: the workfile run whose step the work is, set only by the run's own deposit.
- `_conflict`: why the mover could not archive the finished work (Results holds a
  different result under its id); the mover leaves such a work alone until it is edited.

None of them ever leaves the server, and clients may neither filter on them nor read
them through a projection (the store passes `SERVER_FIELDS` to the query validator as
hidden fields).
"""

from __future__ import annotations

import hashlib

import orjson

from service import canonical
from service.db import Document

LEASE = "_lease"
STOP = "_stop"
BOUND = "_bound"
DEPOSIT = "_deposit"
RUN = "_run"
CONFLICT = "_conflict"
SERVER_FIELDS = frozenset({LEASE, STOP, BOUND, DEPOSIT, RUN, CONFLICT})
#: Server fields a PUT keeps as they are (the others are decided by `lease.judge`).
CARRIED = (BOUND, DEPOSIT, RUN)


def public(document: Document) -> Document:
    """`document` as clients see it: no `_id`, no server-only field."""
    return {key: value for key, value in document.items() if not key.startswith("_")}


def assign_ids(documents: list[Document]) -> None:
    """Give every work without an `id` one derived from its content, in place.

    The id is the first 24 hex digits of the SHA-256 of the validated document in
    canonical JSON (sorted keys), which includes the `creation` float the client sets
    when it builds the work. A blind retry of the same deposit (the client retries for
    30 s on any error) therefore maps to the same ids and queues nothing twice.
    Identical documents within one batch are told apart by their occurrence number
    (the second copy hashes with `#1`, the third with `#2`, ...), so depositing the
    same work N times in one request still queues N works, and retrying that request
    maps to the same N ids. Consequence: a separate request carrying a work identical
    to an earlier one, creation time included, is the same work and is not queued again.
    """
    seen: dict[bytes, int] = {}
    for document in documents:
        if document["id"] is not None:
            continue
        canonical = orjson.dumps(document, option=orjson.OPT_SORT_KEYS)
        occurrence = seen.get(canonical, 0)
        seen[canonical] = occurrence + 1
        salt = b"#%d" % occurrence if occurrence else b""
        document["id"] = hashlib.sha256(canonical + salt).hexdigest()[:24]


def deposit_fingerprint(document: Document, run: str | None = None) -> str:
    """What decides whether two deposits of one id are the same work.

    For a client's deposit: every field as deposited (validated, before the server
    sets `status` and a missing `creation`), pipeline included, compared type-exactly.
    The state the queue gives the work later (status, attempt, results...) is not part
    of it, so a blind retry after a worker took the work is still the same work. For a
    step a workfile run deposits: the run, the pipeline and the id, as the run is the
    one authority over its step ids (two Sluice processes advancing one run deposit
    the step twice, at different `creation` times). No client deposit can match it.
    """
    if run is not None:
        return canonical.fingerprint(
            {"run": run, "pipeline": document["pipeline"], "id": document["id"]}
        )
    return canonical.fingerprint(document)
