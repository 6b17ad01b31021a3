"""How a work is stored in Buckets: its public fields plus server-only state.

A stored work is the CHIME document (`schemas.work.WORK_FIELDS`, in that order) followed
by fields only the server reads, each named with a leading underscore:

- `_lease`: `{"token", "expires"}` while the work is `running` (never otherwise). The
  token is what Sluice's worker sends back; `expires` is when the reaper may take the
  work away from the run.
- `_stop`: true when the current run was asked to stop (reported by the heartbeat).
- `_closed`: true when the server ended the current run without its report (lease
  lost, expired, requeued, released), so a late report from that run is refused.

None of them ever leaves the server, and clients may neither filter on them nor read
them through a projection (the store passes `SERVER_FIELDS` to the query validator as
hidden fields).
"""

from __future__ import annotations

import hashlib

import orjson

from service.db import Document

LEASE = "_lease"
STOP = "_stop"
CLOSED = "_closed"
SERVER_FIELDS = frozenset({LEASE, STOP, CLOSED})


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
