"""Every `Results` method against the live service."""

from __future__ import annotations

import pytest

from sluice import Conflict, NotFound, Results, ValidationFailed
from tests.service.factories import new_id, work


def test_info_reports_client_and_server(results: Results, base_url: str) -> None:
    info = results.info()
    assert info["client"]["baseurl"] == f"{base_url}/results"
    assert info["client"]["version"]
    assert info["server"]["version"]


def test_deposit_then_get_by_id_round_trips(results: Results, pipeline: str) -> None:
    sent = work(pipeline)
    assert results.deposit([sent]) == {pipeline: True}
    [got] = results.get_by_id(pipeline, [sent["id"]])
    assert got["id"] == sent["id"]
    assert got["results"] == sent["results"]
    assert "_id" not in got


def test_deposit_spans_pipelines_and_accepts_empty(results: Results, pipeline: str) -> None:
    other = f"{pipeline}-b"
    assert results.deposit([work(pipeline), work(other)]) == {pipeline: True, other: True}
    assert results.deposit([]) == {}


def test_deposit_refuses_unfinished_and_duplicate_work(results: Results, pipeline: str) -> None:
    with pytest.raises(ValidationFailed):
        results.deposit([work(pipeline, status="queued")])
    sent = work(pipeline)
    results.deposit([sent])
    # The same document again is already there (a blind retry, a second mover)...
    results.deposit([sent])
    # ...a different one under the same id is refused, naming the id.
    with pytest.raises(Conflict) as caught:
        results.deposit([{**sent, "priority": sent.get("priority", 1) + 1}])
    assert caught.value.details == {"existing": {pipeline: [sent["id"]]}}


def test_view_count_skip_limit_and_projection(results: Results, pipeline: str) -> None:
    works = [work(pipeline, tags=["odd" if i % 2 else "even"]) for i in range(5)]
    results.deposit(works)
    query = {"tags": {"$in": ["even"]}}
    assert results.count(pipeline, query) == 3
    assert results.count(pipeline, {}) == 5
    assert [d["id"] for d in results.view(pipeline, {}, skip=1, limit=2)] == [
        works[1]["id"],
        works[2]["id"],
    ]
    assert len(results.view(pipeline, {}, limit=-1)) == 5
    projected = results.view(pipeline, query, {"status": True})
    assert projected[0] == {"id": works[0]["id"], "status": "success"}
    assert query == {"tags": {"$in": ["even"]}}, "the caller's query must not change"


def test_get_by_count_and_get_by_event(results: Results, pipeline: str) -> None:
    results.deposit([work(pipeline, event=[7]), work(pipeline, event=[7, 8]), work(pipeline)])
    assert len(results.get_by_count(pipeline, 2)) == 2
    assert [d["event"] for d in results.get_by_event(pipeline, 7)] == [[7]]


def test_update_and_delete(results: Results, pipeline: str) -> None:
    sent = work(pipeline)
    results.deposit([sent])
    [stored] = results.get_by_id(pipeline, [sent["id"]])
    stored["results"] = {"snr": 99.0}
    assert results.update([stored]) is True
    assert results.get_by_id(pipeline, [sent["id"]])[0]["results"] == {"snr": 99.0}
    assert results.delete_ids(pipeline, [sent["id"]]) is True
    assert results.get_by_id(pipeline, [sent["id"]]) == []
    assert results.delete_ids(pipeline, []) is True


def test_update_of_unknown_id_is_not_found(results: Results, pipeline: str) -> None:
    with pytest.raises(NotFound):
        results.update([work(pipeline)])


def test_status_counts_every_pipeline(results: Results, pipeline: str) -> None:
    results.deposit([work(pipeline), work(pipeline)])
    assert results.status()[pipeline] == 2


def test_locking_guards_update_and_delete(results: Results, pipeline: str) -> None:
    kept, free = work(pipeline), work(pipeline, results=None)
    results.deposit([kept, free])
    assert results.lock(pipeline, [kept["id"], free["id"]]) is True
    assert results.get_locked_count(pipeline) == 2
    locked = results.get_locked(pipeline)
    assert {d["id"] for d in locked} == {kept["id"], free["id"]}
    assert set(locked[0]) == {"id", "event", "plots", "products", "results"}
    assert results.lock(pipeline, [kept["id"]]) is True, "locking twice is harmless"

    [stored] = results.get_by_id(pipeline, [kept["id"]])
    stored["tags"] = ["changed"]
    with pytest.raises(Conflict):
        results.update([stored])
    with pytest.raises(Conflict):
        results.delete_ids(pipeline, [kept["id"]])

    assert results.unlock(pipeline, [kept["id"], free["id"]]) is True
    assert results.get_locked_count(pipeline) == 0
    assert results.delete_ids(pipeline, [kept["id"], free["id"]]) is True
    assert results.count(pipeline, {}) == 0


def test_lock_of_unknown_id_locks_nothing(results: Results, pipeline: str) -> None:
    sent = work(pipeline)
    results.deposit([sent])
    unknown = new_id()
    with pytest.raises(NotFound) as caught:
        results.lock(pipeline, [sent["id"], unknown])
    assert caught.value.details == {"missing": {pipeline: [unknown]}}
    assert results.get_locked_count(pipeline) == 0


def test_defaults_come_from_the_environment(
    base_url: str, pipeline: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SLUICE_URL", base_url + "/")
    monkeypatch.setenv("SLUICE_TOKEN", "s3cret")
    with Results() as client:
        assert client.base_url == f"{base_url}/results"
        assert client._http.headers["x-access-token"] == "s3cret"
        assert client.count(pipeline, {}) == 0
    with Results(token="") as client:
        assert "x-access-token" not in client._http.headers
