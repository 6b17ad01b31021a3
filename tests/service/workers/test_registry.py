"""The worker registry: beats, the live list, stale workers dropping out, tokens."""

from __future__ import annotations

import time
import uuid
from typing import Any

import httpx
import pytest

from service.settings import Settings, SettingsError
from service.testing import SluiceProcess, SluiceStarter
from tests.service.auth.helpers import ADMIN_SECRET, create_token, secure_env, token_header


def beat(pipelines: list[str], **fields: Any) -> dict[str, Any]:
    body = {"name": "w1", "host": "node-1", "pid": 42, "pipelines": pipelines,
            "site": "chime", "version": "0.1.0", "current": None}  # fmt: skip
    body.update(fields)
    return body


@pytest.fixture(scope="module")
def registry(sluice_env: dict[str, str], start_module_sluice: SluiceStarter) -> SluiceProcess:
    """An auth-on Sluice whose workers go stale after 1 s."""
    env = secure_env(sluice_env, SLUICE_WORKER_STALE="1", SLUICE_REAPER_INTERVAL="0.2")
    return start_module_sluice("workers", **env)


def test_beats_list_filter_and_go_stale(registry: SluiceProcess, pipeline: str) -> None:
    admin = token_header(ADMIN_SECRET)
    with httpx.Client(base_url=registry.url, headers=admin, timeout=30) as http:
        worker = uuid.uuid4().hex
        current = {"id": "w-1", "pipeline": pipeline, "attempt": 1, "started": time.time()}
        answer = http.put(f"/buckets/workers/{worker}", json=beat([pipeline], current=current))
        assert answer.status_code == 200, answer.text
        assert answer.json() == {"id": worker, "beat": pytest.approx(1 / 3)}
        [listed] = http.get("/buckets/workers", params={"pipeline": pipeline}).json()
        assert listed["id"] == worker and listed["host"] == "node-1"
        assert listed["current"]["id"] == "w-1" and listed["seen"] >= listed["registered"]
        assert http.get("/buckets/workers", params={"pipeline": "other-x"}).json() == []
        assert http.get("/buckets/workers", params={"site": "elsewhere"}).json() == []
        metrics = http.get("/metrics").text
        assert f'sluice_workers{{pipeline="{pipeline}"}} 1.0' in metrics
        # Not heard from for SLUICE_WORKER_STALE: no longer listed, then pruned.
        time.sleep(1.5)
        assert http.get("/buckets/workers", params={"pipeline": pipeline}).json() == []
        # A worker that exits removes itself.
        other = uuid.uuid4().hex
        http.put(f"/buckets/workers/{other}", json=beat([pipeline]))
        assert http.delete(f"/buckets/workers/{other}").json() is True
        assert http.get("/buckets/workers", params={"pipeline": pipeline}).json() == []


def test_bad_beats_and_other_tokens(registry: SluiceProcess, pipeline: str) -> None:
    worker_token = create_token(registry.url, ["work", "read"], [pipeline])
    other_token = create_token(registry.url, ["work"], [pipeline])
    with httpx.Client(base_url=registry.url, timeout=30) as http:
        mine, theirs = token_header(worker_token), token_header(other_token)
        worker = uuid.uuid4().hex
        assert http.put(f"/buckets/workers/{worker}", json=beat([pipeline])).status_code == 401
        outside = http.put(f"/buckets/workers/{worker}", json=beat(["x-other"]), headers=mine)
        assert outside.status_code == 403
        invalid: list[dict[str, Any]] = [{"pid": -1}, {"pipelines": []}, {"name": ""}, {"extra": 1}]
        for bad in invalid:
            body = {**beat([pipeline]), **bad}
            answer = http.put(f"/buckets/workers/{worker}", json=body, headers=mine)
            assert answer.status_code == 422, bad
        bad_id = http.put("/buckets/workers/a%20b", json=beat([pipeline]), headers=mine)
        assert bad_id.status_code == 400
        ok = http.put(f"/buckets/workers/{worker}", json=beat([pipeline]), headers=mine)
        assert ok.status_code == 200
        # Another token may neither take over nor remove this worker.
        taken = http.put(f"/buckets/workers/{worker}", json=beat([pipeline]), headers=theirs)
        assert taken.status_code == 409
        assert http.delete(f"/buckets/workers/{worker}", headers=theirs).json() is False
        [listed] = http.get("/buckets/workers", params={"pipeline": pipeline}, headers=mine).json()
        assert listed["id"] == worker and "token" not in listed
        # A worker serving another pipeline too, busy with one of its works: a reader of
        # this pipeline sees neither.
        both = uuid.uuid4().hex
        current = {"id": "w-9", "pipeline": "x-other", "attempt": 1, "started": time.time()}
        admin = token_header(ADMIN_SECRET)
        beat_both = beat([pipeline, "x-other"], current=current)
        assert http.put(f"/buckets/workers/{both}", json=beat_both, headers=admin).is_success
        shown = http.get("/buckets/workers", params={"pipeline": pipeline}, headers=mine).json()
        [other] = [w for w in shown if w["id"] == both]
        assert other["pipelines"] == [pipeline] and other["current"] is None
        full = http.get("/buckets/workers", params={"pipeline": pipeline}, headers=admin).json()
        [seen] = [w for w in full if w["id"] == both]
        assert seen["pipelines"] == [pipeline, "x-other"] and seen["current"]["id"] == "w-9"


def test_registry_settings() -> None:
    assert Settings().worker_stale == 60
    with pytest.raises(SettingsError):
        Settings.from_env({"SLUICE_WORKER_STALE": "0"})
