"""The worker registry's wire protocol (`/buckets/workers`) as plans."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from schemas.workers import BeatAnswer
from sluice.core.plan import Call, Document, Plan, expect, segment


def beat(worker_id: str, info: Mapping[str, Any]) -> Plan[BeatAnswer]:
    """PUT /workers/{id}: register or renew worker `worker_id` (a `WorkerBeat` body)."""
    answer = yield Call("PUT", f"/workers/{segment(worker_id)}", json=dict(info))
    return BeatAnswer.model_validate(expect(answer, dict, "a beat answer"))


def forget(worker_id: str) -> Plan[bool]:
    """DELETE /workers/{id}: remove a worker that exits; whether it was registered."""
    answer = yield Call("DELETE", f"/workers/{segment(worker_id)}")
    return bool(answer)


def live(pipeline: str | None = None, site: str | None = None) -> Plan[list[Document]]:
    """GET /workers: live workers, most recently heard first."""
    params = tuple((k, v) for k, v in (("pipeline", pipeline), ("site", site)) if v is not None)
    answer = yield Call("GET", "/workers", params=params or None)
    return [expect(w, dict, "a worker") for w in expect(answer, list, "a JSON array of workers")]
