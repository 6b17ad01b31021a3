"""The Results API as the real `workflow` client (1.12.3) sees it.

Every call goes through the client's own `Results` object (`HTTPContext(backends=
["results"]).results`, in the agent process) and every deposited document is the
`.payload` of the client's own `Work`, finished with status success or failure.
"""

from __future__ import annotations

import uuid
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import pytest

from schemas.work import WORK_FIELDS
from tests.contract.remote import ClientError, ClientHTTPError, RemoteBackend, WorkflowAgent
from tests.contract.workspace import WorkFactory, WorkflowHome

HTTP_ERROR = "requests.exceptions.HTTPError"


@pytest.fixture
def other(pipeline: str) -> str:
    """A second pipeline, unique to the test like `pipeline`."""
    return f"{pipeline}-b"


def deposit_events(
    results: RemoteBackend, make_work: WorkFactory, pipeline: str, count: int
) -> list[dict[str, Any]]:
    """Deposit works with events [1] .. [count], odd ones success, even ones failure;
    return the stored documents in deposit order."""
    works = [
        make_work(
            pipeline,
            status="success" if n % 2 else "failure",
            event=[n],
            results={"snr": float(n)},
            tags=[f"n{n}"],
        )
        for n in range(1, count + 1)
    ]
    assert results.deposit(works) == {pipeline: True}
    stored: list[dict[str, Any]] = results.view(pipeline, {}, limit=-1)
    assert [d["event"] for d in stored] == [[n] for n in range(1, count + 1)]
    return stored


def events(documents: list[dict[str, Any]]) -> list[list[int]]:
    """The `event` of each document, in order."""
    return [d["event"] for d in documents]


def test_client_is_configured_by_the_workspace(
    results: RemoteBackend, workflow_home: WorkflowHome
) -> None:
    assert results.baseurl == workflow_home.baseurls["results"]
    info = results.info()
    assert info["client"]["baseurl"] == workflow_home.baseurls["results"]
    assert isinstance(info["server"], dict) and "version" in info["server"]


def test_work_site_must_be_a_workspace_site(make_work: WorkFactory, pipeline: str) -> None:
    with pytest.raises(ClientError, match="not in workspace"):
        make_work(pipeline, site="elsewhere", status="success")


def test_deposit_spans_pipelines_and_round_trips(
    results: RemoteBackend, make_work: WorkFactory, pipeline: str, other: str
) -> None:
    works = [
        make_work(pipeline, status="success", event=[1], results={"dm": 100.5}, plots=["a.png"]),
        make_work(pipeline, status="failure", event=[2], function="mod.fn", parameters={"a": 1}),
        make_work(other, status="success", event=[3], command=["echo", "hi"], products=["p.h5"]),
    ]

    assert results.deposit(works) == {pipeline: True, other: True}

    status = results.status()
    assert status[pipeline] == 2 and status[other] == 1
    stored = results.view(pipeline, {}, {}) + results.view(other, {}, {})
    for sent, got in zip(works, stored, strict=True):
        assert isinstance(got["id"], str) and got["id"]
        assert "_id" not in got
        assert list(got) == list(sent)
        assert {**got, "id": None} == sent


def test_deposit_empty_list(results: RemoteBackend, workflow_agent: WorkflowAgent) -> None:
    assert results.deposit([]) == {}
    assert [(r["method"], r["body"], r["status"]) for r in workflow_agent.sent] == [
        ("POST", [], 200)
    ]


def test_view_query_projection_skip_limit(
    results: RemoteBackend, make_work: WorkFactory, pipeline: str, workflow_agent: WorkflowAgent
) -> None:
    deposit_events(results, make_work, pipeline, 5)

    failures = results.view(pipeline, {"status": "failure"}, {})
    assert events(failures) == [[2], [4]]
    assert all(tuple(d) == WORK_FIELDS for d in failures)
    assert events(results.view(pipeline, {"tags": {"$in": ["n1", "n5"]}})) == [[1], [5]]

    projected = results.view(pipeline, {"event": {"$in": [1, 2]}}, {"event": True, "status": True})
    assert projected == [
        {"event": [1], "status": "success", "id": projected[0]["id"]},
        {"event": [2], "status": "failure", "id": projected[1]["id"]},
    ]
    assert all(isinstance(d["id"], str) for d in projected)

    assert events(results.view(pipeline, {}, {}, skip=1, limit=2)) == [[2], [3]]
    assert events(results.view(pipeline, {}, {}, skip=4)) == [[5]]
    assert events(results.view(pipeline, {}, limit=-1)) == [[n] for n in range(1, 6)]
    assert workflow_agent.sent[0]["body"]["limit"] == 0
    assert results.view(pipeline, {"status": "running"}) == []


def test_count(results: RemoteBackend, make_work: WorkFactory, pipeline: str) -> None:
    deposit_events(results, make_work, pipeline, 5)

    assert results.count(pipeline, {}) == 5
    assert results.count(pipeline, {"status": "success"}) == 3
    assert results.count(pipeline, {"event": {"$in": [1, 2, 9]}}) == 2
    assert results.count(pipeline, {"status": "running"}) == 0


def test_get_by_count_id_and_event(
    results: RemoteBackend, make_work: WorkFactory, pipeline: str
) -> None:
    stored = deposit_events(results, make_work, pipeline, 4)
    both = make_work(pipeline, status="success", event=[3, 99], results={})
    results.deposit([both])

    assert events(results.get_by_count(pipeline, 2)) == [[1], [2]]
    wanted = [stored[0]["id"], stored[3]["id"]]
    assert results.get_by_id(pipeline, wanted) == [stored[0], stored[3]]
    assert results.get_by_id(pipeline, ["no-such-id"]) == []
    # `{"event": [n]}` is an exact array match: [3, 99] is not event 3.
    assert results.get_by_event(pipeline, 3) == [stored[2]]
    assert results.get_by_event(pipeline, 99) == []


def test_lock_and_unlock(results: RemoteBackend, make_work: WorkFactory, pipeline: str) -> None:
    stored = deposit_events(results, make_work, pipeline, 3)
    originals = [stored[0], stored[2]]
    ids = [s["id"] for s in originals]

    assert results.lock(pipeline, ids) is True

    assert results.get_locked_count(pipeline) == 2
    locked = results.get_locked(pipeline)
    assert [d["id"] for d in locked] == ids
    for document, original in zip(locked, originals, strict=True):
        assert set(document) == {"id", "event", "plots", "products", "results"}
        assert document["results"] == {**original["results"], "locked": True}
    assert [d["id"] for d in results.get_locked(pipeline, skip=1, count=1)] == ids[1:]

    assert results.unlock(pipeline, ids, force=True) is True

    assert results.get_locked_count(pipeline) == 0
    assert results.get_locked(pipeline) == []
    assert results.get_by_id(pipeline, ids) == [
        {**s, "results": {**s["results"], "locked": False}} for s in originals
    ]


def test_locked_result_refuses_update_and_delete_until_unlocked(
    results: RemoteBackend, make_work: WorkFactory, pipeline: str
) -> None:
    first, second = deposit_events(results, make_work, pipeline, 2)
    ids = [first["id"], second["id"]]
    assert results.lock(pipeline, [first["id"]]) is True
    locked = results.get_by_id(pipeline, [first["id"]])[0]

    changed = {**locked, "results": {**locked["results"], "snr": 99.0}}
    with pytest.raises(ClientHTTPError) as update_error:
        results.update([changed])
    assert update_error.value.kind == HTTP_ERROR
    assert (update_error.value.method, update_error.value.status_code) == ("PUT", 409)
    assert results.get_by_id(pipeline, [first["id"]]) == [locked]

    with pytest.raises(ClientHTTPError) as delete_error:
        results.delete_ids(pipeline, ids)
    assert (delete_error.value.method, delete_error.value.status_code) == ("DELETE", 409)
    assert parse_qsl(urlsplit(delete_error.value.url).query) == [(pipeline, i) for i in ids]
    # All or nothing: the unlocked result named in the same request is still there.
    assert results.count(pipeline, {}) == 2

    # An unlocked result may still be updated.
    edited = {**second, "results": {"snr": 7.0}}
    assert results.update([edited]) is True
    assert results.get_by_id(pipeline, [second["id"]]) == [edited]

    assert results.unlock(pipeline, [first["id"]], force=True) is True
    assert results.delete_ids(pipeline, ids) == {pipeline: True}
    assert results.count(pipeline, {}) == 0
    assert results.get_by_id(pipeline, ids) == []


def test_duplicate_id_deposit_writes_nothing(
    results: RemoteBackend, make_work: WorkFactory, pipeline: str, other: str
) -> None:
    def with_id(name: str, status: str, event: int) -> dict[str, Any]:
        return make_work(name, id=uuid.uuid4().hex[:24], status=status, event=[event])

    existing = with_id(pipeline, "success", 1)
    assert results.deposit([existing]) == {pipeline: True}
    fresh, fresh_other = with_id(pipeline, "failure", 2), with_id(other, "success", 3)
    squat = {**existing, "results": {"other": True}}

    with pytest.raises(ClientHTTPError) as error:
        results.deposit([fresh, fresh_other, squat])
    assert (error.value.kind, error.value.status_code) == (HTTP_ERROR, 409)
    assert error.value.body["error"]["details"]["existing"] == {pipeline: [existing["id"]]}
    assert results.get_by_id(pipeline, [existing["id"], fresh["id"]]) == [existing]
    assert results.count(other, {}) == 0

    with pytest.raises(ClientHTTPError) as repeated:
        results.deposit([fresh, fresh])
    assert repeated.value.status_code == 409
    assert results.count(pipeline, {}) == 1

    # What `workflow transfer` does next: count each id, deposit only the missing ones.
    batch = [fresh, fresh_other, squat]
    missing = [w for w in batch if not results.count(w["pipeline"], {"id": w["id"]})]
    assert missing == [fresh, fresh_other]
    assert results.deposit(missing) == {pipeline: True, other: True}
    # The same result again (a retry, or the mover beside the daemon) is already there.
    assert results.deposit([existing, fresh]) == {pipeline: True}
    assert results.get_by_id(pipeline, [existing["id"], fresh["id"]]) == [existing, fresh]
    assert results.get_by_id(other, [fresh_other["id"]]) == [fresh_other]
    assert results.status()[pipeline] == 2
