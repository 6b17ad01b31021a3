"""The Buckets wire protocol as plans (see sluice.core.plan), for `Buckets` and
`AsyncBuckets`, plus `new_work`, the way to build a work to deposit."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any, NamedTuple

from pydantic import ValidationError

from schemas.buckets import BIND_HEADER, LEASE_HEADER, LeaseStatus, ReportOutcome
from schemas.work import Work
from sluice.core.plan import Call, Document, Plan, Reply, expect, segment
from sluice.errors import ProtocolError

#: Ids per DELETE request, as the `workflow` client sends them.
DELETE_BATCH = 100
#: Ids read per `/view` page when collecting the works to delete.
ID_PAGE = 1000
#: The stale age the `workflow` client audits with, in days.
STALE_DAYS = 7.0

Progress = Callable[[int, int], None]
"""Called with (works deleted so far, works to delete) after each batch."""


class Withdrawn(NamedTuple):
    """A claimed work and the lease token that proves the claim."""

    work: Document
    lease: str


def new_work(pipeline: str, site: str, user: str, **fields: Any) -> Document:
    """A complete, validated work document with the client defaults of spec §1,
    `creation` set to now unless given. Raises pydantic's ValidationError."""
    return _payload(Work(pipeline=pipeline, site=site, user=user, **fields))


def _payload(work: Work | Mapping[str, Any]) -> Document:
    document = work.model_dump(mode="json") if isinstance(work, Work) else dict(work)
    # The server derives the id of a work without one from its content, creation time
    # included: without a creation time, two equal works would be one.
    if document.get("creation") is None:
        document["creation"] = time.time()
    return document


def deposit(works: Sequence[Work | Mapping[str, Any]]) -> Plan[list[str]]:
    """POST /work: queue works (any pipelines); their ids in input order."""
    body = [_payload(work) for work in works]
    answer = yield Call("POST", "/work", params=(("return_ids", "True"),), json=body)
    return [expect(i, str, "a work id") for i in expect(answer, list, "a JSON array of ids")]


def _in(values: Sequence[Any] | None) -> Document | None:
    return None if values is None else {"$in": list(values)}


def _given(query: Document, optional: Mapping[str, Any]) -> Document:
    # None means "no filter"; any other value filters as given, falsy or not: `tags=[]`
    # matches no work and `site=""` no site, as the server would answer them.
    query.update((key, value) for key, value in optional.items() if value is not None)
    return query


def withdraw_query(
    pipeline: str | Sequence[str],
    site: str | None = None,
    priority: int | None = None,
    user: str | None = None,
    event: Sequence[int] | None = None,
    tags: Sequence[str] | None = None,
    parent: Sequence[str] | None = None,
) -> Document:
    """The filter `withdraw` sends, shaped as the `workflow` client shapes it. None
    leaves a filter out; a priority outside 1-5 raises ValueError (no work has one)."""
    if priority is not None and not (isinstance(priority, int) and 1 <= priority <= 5):
        raise ValueError(f"priority must be an integer from 1 to 5, not {priority!r}")
    pipelines = [pipeline] if isinstance(pipeline, str) else list(pipeline)
    optional = {
        "site": site,
        "priority": priority,
        "user": user,
        "event": _in(event),
        "tags": _in(tags),
        "config.parent": _in(parent),
    }
    return _given({"pipeline": {"$in": pipelines}}, optional)


def withdraw(query: Document) -> Plan[Withdrawn | None]:
    """POST /work/withdraw: the claimed work and its lease, or None when none matches."""
    # Bound: this client reports with the lease, so nobody reports this run without it.
    reply: Reply = yield Call(
        "POST", "/work/withdraw", json=query, headers=((BIND_HEADER, "1"),), with_headers=True
    )
    if not reply.body:
        return None
    work = expect(reply.body, dict, "a work document")
    lease = reply.headers.get(LEASE_HEADER)
    if not lease:
        raise ProtocolError(f"the server withdrew work {work.get('id')} without a lease token")
    return Withdrawn(work, lease)


def withdraw_batch(query: Document, limit: int) -> Plan[list[Withdrawn]]:
    """POST /work/withdraw/batch: up to `limit` claimed works, each with its lease, in
    claim order (none when none matches)."""
    answer = yield Call("POST", "/work/withdraw/batch", json={"query": query, "limit": limit})
    claimed: list[Withdrawn] = []
    for item in expect(answer, list, "a JSON array of claimed works"):
        entry = expect(item, dict, "a claimed work")
        work = expect(entry.get("work"), dict, "a work document")
        claimed.append(Withdrawn(work, expect(entry.get("lease"), str, "a lease token")))
    return claimed


def _lease_body(work_id: str, lease: str) -> Document:
    return {"id": work_id, "lease": lease}


def heartbeat(work_id: str, lease: str) -> Plan[LeaseStatus]:
    """POST /work/heartbeat: extend the lease; Conflict once it is lost."""
    answer = yield Call("POST", "/work/heartbeat", json=_lease_body(work_id, lease))
    try:
        return LeaseStatus.model_validate(answer)
    except ValidationError:
        raise ProtocolError(f"expected a lease status, the server sent {answer!r:.200}") from None


def heartbeats(leases: Sequence[tuple[str, str]]) -> Plan[list[LeaseStatus | None]]:
    """POST /work/heartbeats: extend many leases (work id, token) at once; per lease,
    in order, its status or None once it is lost. No request for no lease."""
    if not leases:
        return []
    body = {"leases": [_lease_body(work_id, lease) for work_id, lease in leases]}
    answer = yield Call("POST", "/work/heartbeats", json=body)
    statuses = expect(answer, list, "a JSON array of lease statuses")
    if len(statuses) != len(leases):
        raise ProtocolError(f"{len(leases)} leases renewed, {len(statuses)} answers")
    try:
        return [None if s is None else LeaseStatus.model_validate(s) for s in statuses]
    except ValidationError:
        raise ProtocolError(f"expected lease statuses, the server sent {answer!r:.200}") from None


def release(work_id: str, lease: str) -> Plan[Document]:
    """POST /work/release: give the work back unfinished; the work as now queued."""
    answer = yield Call("POST", "/work/release", json=_lease_body(work_id, lease))
    return expect(answer, dict, "a work document")


def update(works: Sequence[Work | Mapping[str, Any]], lease: str | None = None) -> Plan[bool]:
    """PUT /work, with the lease header when the caller holds one."""
    headers = ((LEASE_HEADER, lease),) if lease else None
    answer = yield Call("PUT", "/work", json=[_payload(w) for w in works], headers=headers)
    return bool(answer)


def report_many(
    reports: Sequence[tuple[Work | Mapping[str, Any], str]],
) -> Plan[list[ReportOutcome]]:
    """POST /work/reports: finished works, each with its lease (work, token), at once;
    per report, in order, whether it was recorded and else why not. No request for no
    report."""
    if not reports:
        return []
    body = {"reports": [{"work": _payload(work), "lease": lease} for work, lease in reports]}
    answer = yield Call("POST", "/work/reports", json=body)
    outcomes = expect(answer, list, "a JSON array of report outcomes")
    if len(outcomes) != len(reports):
        raise ProtocolError(f"{len(reports)} works reported, {len(outcomes)} answers")
    try:
        return [ReportOutcome.model_validate(outcome) for outcome in outcomes]
    except ValidationError:
        raise ProtocolError(f"expected report outcomes, the server sent {answer!r:.200}") from None


def delete_ids(ids: Sequence[str], progress: Progress | None = None) -> Plan[bool]:
    """DELETE /work?ids=..., 100 ids per request; no request at all for no ids."""
    unique = list(dict.fromkeys(ids))
    for start in range(0, len(unique), DELETE_BATCH):
        batch = unique[start : start + DELETE_BATCH]
        yield Call("DELETE", "/work", params=tuple(("ids", i) for i in batch))
        if progress is not None:
            progress(start + len(batch), len(unique))
    return True


def delete_query(
    pipeline: str,
    status: str | None = None,
    events: Sequence[int] | None = None,
    tags: Sequence[str] | None = None,
    parent: str | None = None,
) -> Document:
    """The filter of `delete_many`, shaped as the `workflow` client shapes it. None
    leaves a filter out; `events=[]` matches no work (it never means "all")."""
    optional = {"status": status, "event": _in(events), "tags": _in(tags), "config.parent": parent}
    return _given({"pipeline": pipeline}, optional)


def matching_ids(query: Document, limit: int | None = None) -> Plan[list[str]]:
    """The ids of every work matching `query` (at most `limit`), read page by page."""
    ids: list[str] = []
    while limit is None or len(ids) < limit:
        page = ID_PAGE if limit is None else min(ID_PAGE, limit - len(ids))
        works = yield from view(query, {"id": True}, len(ids), page)
        ids.extend(expect(work.get("id"), str, "a work id") for work in works)
        if len(works) < page:
            break
    return ids


def delete_many(
    query: Document, limit: int | None = None, progress: Progress | None = None
) -> Plan[int]:
    """Delete the works matching `query`; how many were matched and deleted."""
    ids = yield from matching_ids(query, limit)
    yield from delete_ids(ids, progress)
    return len(ids)


def view(
    query: Document,
    projection: Mapping[str, Any] | None = None,
    skip: int = 0,
    limit: int = 100,
) -> Plan[list[Document]]:
    """POST /view: works matching `query` in deposit order; `limit` -1 means all."""
    body = {
        "query": query,
        "projection": dict(projection or {}),
        "skip": skip,
        "limit": 0 if limit == -1 else limit,
    }
    answer = yield Call("POST", "/view", json=body)
    return expect(answer, list, "a JSON array of works")


def status() -> Plan[Document]:
    """GET /status: counts over every pipeline."""
    answer = yield Call("GET", "/status")
    return expect(answer, dict, "a JSON object of counts")


def pipelines() -> Plan[list[str]]:
    """GET /status/pipelines: names of the pipelines holding work."""
    answer = yield Call("GET", "/status/pipelines")
    return expect(answer, list, "a JSON array of pipeline names")


def details(pipeline: str) -> Plan[dict[str, int]]:
    """GET /status/details/{pipeline}: `{"total", "queued", "running", "success", "failure"}`."""
    answer = yield Call("GET", f"/status/details/{segment(pipeline)}")
    return expect(answer, dict, "a JSON object of counts")


def audit(stale_days: float = STALE_DAYS) -> Plan[dict[str, int]]:
    """The three audit GETs in the `workflow` client's order: failed, expired, stale."""
    paths = {"failed": "/audit/failed", "expired": "/audit/expired"}
    paths["stale"] = f"/audit/stale/{stale_days}"
    counts: dict[str, int] = {}
    for name, path in paths.items():
        answer = yield Call("GET", path)
        counts[name] = expect(answer, int, f"an integer from {path}")
    return counts


def retry(ids: Sequence[str]) -> Plan[int]:
    """POST /work/retry: queue failed works again now; how many were."""
    answer = yield Call("POST", "/work/retry", json={"ids": list(ids)})
    return expect(expect(answer, dict, "a retry answer").get("retried"), int, "a count")


def transfer() -> Plan[dict[str, int]]:
    """POST /transfer: one run of the server's mover; what it archived and deleted."""
    answer = yield Call("POST", "/transfer")
    tallies = expect(answer, dict, "the mover's tallies")
    return {str(k): expect(v, int, "a count") for k, v in tallies.items()}
