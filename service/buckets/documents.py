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
them through a projection.
"""

from __future__ import annotations

import hashlib
from typing import Any

import orjson

from service.db import Document
from service.errors import InvalidQuery

LEASE = "_lease"
STOP = "_stop"
CLOSED = "_closed"
SERVER_FIELDS = frozenset({LEASE, STOP, CLOSED})

#: Aggregation variables that reach the whole document, server fields included.
_ROOT_VARIABLES = ("$$ROOT", "$$CURRENT")


def public(document: Document) -> Document:
    """`document` as clients see it: no `_id`, no server-only field."""
    return {key: value for key, value in document.items() if not key.startswith("_")}


def refuse_server_fields(value: Any, path: str = "query") -> None:
    """Raise InvalidQuery if a filter names or reaches a server-only field."""
    if isinstance(value, dict):
        for key, item in value.items():
            where = f"{path}.{key}"
            if isinstance(key, str) and key.split(".", 1)[0] in SERVER_FIELDS:
                raise InvalidQuery(f"{where}: {key} is not a field clients may query", {"key": key})
            if key == "$getField":
                name = item.get("field") if isinstance(item, dict) else item
                if isinstance(name, str) and name in SERVER_FIELDS:
                    raise InvalidQuery(f"{where}: {name} is not a field clients may query")
            refuse_server_fields(item, where)
    elif isinstance(value, list):
        for index, item in enumerate(value):
            refuse_server_fields(item, f"{path}.{index}")
    elif isinstance(value, str) and value.startswith("$"):
        if value.startswith(_ROOT_VARIABLES):
            raise InvalidQuery(f"{path}: {value} is not allowed in a Buckets query")
        if value.lstrip("$").split(".", 1)[0] in SERVER_FIELDS:
            raise InvalidQuery(f"{path}: {value} is not a field clients may query")


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
