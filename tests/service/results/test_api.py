"""The Results HTTP API against a running Sluice and a real database."""

from __future__ import annotations

from typing import Any

import httpx
import orjson
import pytest

from tests.service.factories import new_id, work


def deposit(http: httpx.Client, documents: list[dict[str, Any]]) -> httpx.Response:
    return http.post("/results/results", json=documents)


def view(http: httpx.Client, query: dict[str, Any], **page: Any) -> list[dict[str, Any]]:
    response = http.post("/results/view", json={"query": query, **page})
    assert response.status_code == 200, response.text
    documents: list[dict[str, Any]] = response.json()
    return documents


def count(http: httpx.Client, pipeline: str, **query: Any) -> int:
    response = http.post("/results/view/count", json={"query": {"pipeline": pipeline, **query}})
    assert response.status_code == 200, response.text
    value: int = response.json()
    return value


def assert_error(response: httpx.Response, status: int, code: str | None = None) -> dict[str, Any]:
    assert response.status_code == status, response.text
    error: dict[str, Any] = response.json()["error"]
    assert set(error) == {"code", "message", "details"}
    assert error["message"]
    if code is not None:
        assert error["code"] == code
    return error


def test_version_head_and_get(http: httpx.Client) -> None:
    assert http.head("/results/version").status_code == 200
    body = http.get("/results/version").json()
    assert isinstance(body, dict) and body["version"]


def test_health_and_readiness(http: httpx.Client) -> None:
    assert http.get("/healthz").json()["status"] == "ok"
    assert http.get("/readyz").json() == {"status": "ready"}


def test_unknown_route_is_a_json_404(http: httpx.Client) -> None:
    assert_error(http.get("/results/nope"), 404, "not_found")
    assert_error(http.get("/results/results"), 405, "method_not_allowed")


def test_deposit_then_view_round_trips_the_document(http: httpx.Client, pipeline: str) -> None:
    sent = work(pipeline)
    assert deposit(http, [sent]).json() == {pipeline: True}
    (stored,) = view(http, {"pipeline": pipeline})
    assert stored == sent
    assert list(stored) == list(sent)  # CHIME field order
    assert "_id" not in stored


def test_deposit_spans_pipelines_and_accepts_empty(http: httpx.Client, pipeline: str) -> None:
    other = pipeline + "-b"
    response = deposit(http, [work(pipeline), work(other), work(pipeline)])
    assert response.json() == {pipeline: True, other: True}
    assert count(http, pipeline) == 2 and count(http, other) == 1
    assert deposit(http, []).json() == {}


def test_deposit_assigns_missing_ids_and_fills_defaults(http: httpx.Client, pipeline: str) -> None:
    minimal = {"pipeline": pipeline, "site": "s", "user": "u", "status": "failure"}
    assert deposit(http, [minimal]).status_code == 200
    (stored,) = view(http, {"pipeline": pipeline})
    assert isinstance(stored["id"], str) and len(stored["id"]) == 24
    assert stored["priority"] == 3 and stored["retries"] == 2 and stored["timeout"] == 3600
    assert stored["config"]["archive"]["results"] is True
    assert isinstance(stored["creation"], float)


def test_notify_comes_back_exactly_as_sent(http: httpx.Client, pipeline: str) -> None:
    sent = work(pipeline, notify={"slack": {"message": "hi"}})
    deposit(http, [sent])
    (stored,) = view(http, {"pipeline": pipeline})
    assert stored["notify"] == {"slack": {"message": "hi"}}


def test_an_id_holding_a_different_result_is_409_and_nothing_is_written(
    http: httpx.Client, pipeline: str
) -> None:
    first = work(pipeline)
    deposit(http, [first])
    fresh = work(pipeline)
    other_pipeline = work(pipeline + "-x")
    squat = {**first, "results": {"snr": 1.0}}
    error = assert_error(deposit(http, [fresh, other_pipeline, squat]), 409, "conflict")
    assert error["details"]["existing"] == {pipeline: [first["id"]]}
    assert count(http, pipeline) == 1
    assert view(http, {"pipeline": pipeline, "id": fresh["id"]}) == []
    assert count(http, pipeline + "-x") == 0
    assert view(http, {"pipeline": pipeline})[0]["results"] == first["results"]


def test_the_same_result_again_is_already_there(http: httpx.Client, pipeline: str) -> None:
    first = work(pipeline)
    deposit(http, [first])
    fresh = work(pipeline)
    # A blind retry, or the mover and `workflow transfer` moving the same work.
    response = deposit(http, [fresh, first])
    assert response.status_code == 200 and response.json() == {pipeline: True}
    assert count(http, pipeline) == 2
    # A creation the depositor left unset is the server's to fill: not compared.
    assert deposit(http, [{**first, "creation": None}]).status_code == 200
    assert count(http, pipeline) == 2


@pytest.mark.parametrize(
    "change",
    [{"snr": True}, {"snr": 10}, {"snr": "10.5"}],
    ids=["float-to-bool", "float-to-int", "float-to-string"],
)
def test_sameness_is_type_exact(http: httpx.Client, pipeline: str, change: Any) -> None:
    first = work(pipeline, results={"snr": 10.0})
    deposit(http, [first])
    assert_error(deposit(http, [{**first, "results": change}]), 409)
    assert view(http, {"pipeline": pipeline})[0]["results"] == {"snr": 10.0}


def test_duplicate_id_within_a_batch_is_409(http: httpx.Client, pipeline: str) -> None:
    same = new_id()
    response = deposit(http, [work(pipeline, id=same), work(pipeline, id=same)])
    assert assert_error(response, 409)["details"]["ids"] == [same]
    assert count(http, pipeline) == 0


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"status": "queued"}, "status"),
        ({"status": "done"}, "status"),
        ({"site": None}, "site"),
        ({"priority": "3"}, "priority"),
        ({"priority": 9}, "priority"),
        ({"priority": 0}, "priority"),
        ({"retries": 6}, "retries"),
        ({"timeout": 0}, "timeout"),
        ({"event": ["x"]}, "event"),
        ({"event": [True]}, "event"),
        ({"tags": "tag"}, "tags"),
        ({"command": ["ls"]}, None),  # function and command together
        ({"notify": {"slack": {"colour": "red"}}}, "notify"),
        ({"config": {"archive": {"logs": "shred"}}}, "config"),
        ({"pipeline": "has space"}, "pipeline"),
        ({"pipeline": "under_score"}, "pipeline"),
        ({"pipeline": "x" * 129}, "pipeline"),
        ({"pipeline": ""}, "pipeline"),
    ],
)
def test_invalid_documents_are_422_and_nothing_is_written(
    http: httpx.Client, pipeline: str, change: dict[str, Any], field: str | None
) -> None:
    good = work(pipeline)
    bad = {**work(pipeline), **change}
    error = assert_error(deposit(http, [good, bad]), 422, "validation_failed")
    assert "nothing was written" in error["message"]
    assert error["details"]["errors"][0]["index"] == 1
    if field is not None:
        assert error["details"]["errors"][0]["loc"][0] == field
    assert count(http, pipeline) == 0


def test_missing_required_fields_are_named(http: httpx.Client, pipeline: str) -> None:
    error = assert_error(deposit(http, [{"pipeline": pipeline, "status": "success"}]), 422)
    assert {tuple(e["loc"]) for e in error["details"]["errors"]} == {("site",), ("user",)}


def test_body_must_be_json_array_of_objects(http: httpx.Client) -> None:
    assert_error(
        http.post(
            "/results/results", content=b"{not json", headers={"content-type": "application/json"}
        ),
        400,
        "malformed_json",
    )
    assert_error(http.post("/results/results", content=b""), 400, "malformed_json")
    assert_error(http.post("/results/results", json={"a": 1}), 422)
    assert_error(http.post("/results/results", json=[1, "x"]), 422)


def test_view_query_projection_skip_limit(http: httpx.Client, pipeline: str) -> None:
    documents = [
        work(pipeline, event=[n], tags=["even" if n % 2 == 0 else "odd"]) for n in range(10)
    ]
    deposit(http, documents)
    evens = view(http, {"pipeline": pipeline, "tags": {"$in": ["even"]}}, projection={})
    assert [d["event"] for d in evens] == [[0], [2], [4], [6], [8]]
    page = view(http, {"pipeline": pipeline}, skip=3, limit=4)
    assert [d["id"] for d in page] == [d["id"] for d in documents[3:7]]
    assert len(view(http, {"pipeline": pipeline}, limit=0)) == 10
    assert len(view(http, {"pipeline": pipeline}, limit=None)) == 10
    assert view(http, {"pipeline": pipeline, "event": [4]})[0]["id"] == documents[4]["id"]


def test_inclusion_projection_always_carries_string_id(http: httpx.Client, pipeline: str) -> None:
    sent = work(pipeline, results={"locked": True, "dm": 1.0})
    deposit(http, [sent])
    projection = {"event": True, "plots": True, "products": True, "results": True}
    (locked,) = view(http, {"pipeline": pipeline, "results.locked": True}, projection=projection)
    assert locked == {
        "id": sent["id"],
        "event": sent["event"],
        "plots": sent["plots"],
        "products": sent["products"],
        "results": sent["results"],
    }
    (excluded,) = view(http, {"pipeline": pipeline}, projection={"results": False, "id": False})
    assert "results" not in excluded and excluded["id"] == sent["id"]
    (only_id,) = view(http, {"pipeline": pipeline}, projection={"_id": True, "user": 1})
    assert only_id == {"id": sent["id"], "user": "tester"}


def test_large_answers_stream_as_one_array(http: httpx.Client, pipeline: str) -> None:
    documents = [work(pipeline, event=[n]) for n in range(1200)]
    for start in range(0, len(documents), 400):
        assert deposit(http, documents[start : start + 400]).status_code == 200
    response = http.post("/results/view", json={"query": {"pipeline": pipeline}, "limit": 0})
    assert response.status_code == 200
    events = [d["event"][0] for d in orjson.loads(response.content)]
    assert events == list(range(1200))


@pytest.mark.parametrize(
    ("query", "key"),
    [
        ({"$where": "sleep(1000)"}, "$where"),
        ({"$expr": {"$function": {"body": "x", "args": [], "lang": "js"}}}, "$function"),
        ({"status": {"$bogus": 1}}, "$bogus"),
    ],
)
def test_unsafe_queries_are_400_naming_the_key(
    http: httpx.Client, pipeline: str, query: dict[str, Any], key: str
) -> None:
    for route in ("/results/view", "/results/view/count"):
        error = assert_error(
            http.post(route, json={"query": {"pipeline": pipeline, **query}}), 400, "invalid_query"
        )
        assert key in error["message"] and error["details"]["key"] == key


def test_deep_queries_are_400(http: httpx.Client, pipeline: str) -> None:
    deep: dict[str, Any] = {"status": "success"}
    for _ in range(30):
        deep = {"$and": [deep]}
    error = assert_error(
        http.post("/results/view", json={"query": {"pipeline": pipeline, **deep}}), 400
    )
    assert "SLUICE_MAX_QUERY_DEPTH" in error["message"]


def test_queries_the_database_refuses_are_400(http: httpx.Client, pipeline: str) -> None:
    deposit(http, [work(pipeline)])
    response = http.post(
        "/results/view", json={"query": {"pipeline": pipeline, "user": {"$regex": "("}}}
    )
    assert_error(response, 400, "invalid_query")


@pytest.mark.parametrize(
    "body",
    [
        {"query": {}},
        {"query": {"pipeline": "bad name"}},
        {"query": {"pipeline": {"$in": ["a"]}}},
        {"query": {"pipeline": "p"}, "skip": -1},
        {"query": {"pipeline": "p"}, "limit": "10"},
        {"query": {"pipeline": "p"}, "projection": {"a": {"$function": {}}}},
        {"query": "status"},
    ],
)
def test_bad_view_requests_are_4xx(http: httpx.Client, body: dict[str, Any]) -> None:
    response = http.post("/results/view", json=body)
    assert response.status_code in (400, 422), response.text
    assert response.json()["error"]["code"]


def test_count_and_status(http: httpx.Client, pipeline: str) -> None:
    deposit(http, [work(pipeline), work(pipeline, status="failure"), work(pipeline)])
    assert count(http, pipeline) == 3
    assert count(http, pipeline, status="failure") == 1
    assert count(http, pipeline, **{"id": {"$in": []}}) == 0
    assert http.get("/results/status").json()[pipeline] == 3


def test_count_of_unknown_pipeline_is_zero(http: httpx.Client, pipeline: str) -> None:
    assert count(http, pipeline) == 0
    assert view(http, {"pipeline": pipeline}) == []


def test_update_replaces_fields(http: httpx.Client, pipeline: str) -> None:
    sent = work(pipeline)
    deposit(http, [sent])
    (stored,) = view(http, {"pipeline": pipeline})
    stored["results"] = {"snr": 99.0}
    stored["extra_key_from_somewhere"] = 1  # documents from /view may carry extra keys
    assert http.put("/results/results", json=[stored]).json() is True
    (after,) = view(http, {"pipeline": pipeline})
    assert after["results"] == {"snr": 99.0}
    assert "extra_key_from_somewhere" not in after


def test_update_of_unknown_id_is_404_and_batch_untouched(http: httpx.Client, pipeline: str) -> None:
    sent = work(pipeline)
    deposit(http, [sent])
    changed = dict(sent, results={"snr": 1.0})
    ghost = work(pipeline)
    error = assert_error(http.put("/results/results", json=[changed, ghost]), 404)
    assert error["details"]["missing"] == {pipeline: [ghost["id"]]}
    assert view(http, {"pipeline": pipeline})[0]["results"] == sent["results"]


def lock(http: httpx.Client, document: dict[str, Any], locked: bool) -> httpx.Response:
    """What the client's lock/unlock do: read-modify-write of results.locked."""
    results = dict(document["results"] or {}, locked=locked)
    return http.put("/results/results", json=[dict(document, results=results)])


def test_locked_results_cannot_change_or_be_deleted(http: httpx.Client, pipeline: str) -> None:
    target, bystander = work(pipeline), work(pipeline)
    deposit(http, [target, bystander])
    assert lock(http, target, True).status_code == 200
    locked = view(http, {"pipeline": pipeline, "id": target["id"]})[0]
    assert locked["results"]["locked"] is True
    assert count(http, pipeline, **{"results.locked": True}) == 1

    edited = dict(locked, results={"snr": 0.0, "locked": True})
    renamed = dict(bystander, user="someone-else")
    error = assert_error(http.put("/results/results", json=[renamed, edited]), 409)
    assert error["details"]["locked"] == {pipeline: [target["id"]]}
    assert view(http, {"pipeline": pipeline, "id": bystander["id"]})[0]["user"] == "tester"

    response = http.delete(
        "/results/results", params=[(pipeline, target["id"]), (pipeline, bystander["id"])]
    )
    assert assert_error(response, 409)["details"]["locked"] == {pipeline: [target["id"]]}
    assert count(http, pipeline) == 2

    # Locking again what is locked changes nothing and is fine.
    assert lock(http, locked, True).status_code == 200
    # The one change allowed: clearing the lock. Then it can go.
    assert lock(http, locked, False).status_code == 200
    assert http.delete("/results/results", params={pipeline: target["id"]}).json() == {
        pipeline: True
    }
    assert count(http, pipeline) == 1


def test_unlock_combined_with_another_change_is_refused(http: httpx.Client, pipeline: str) -> None:
    sent = work(pipeline)
    deposit(http, [sent])
    lock(http, sent, True)
    sneaky = dict(sent, results={"snr": 0.0, "locked": False})
    assert_error(http.put("/results/results", json=[sneaky]), 409)
    assert view(http, {"pipeline": pipeline})[0]["results"] == {"snr": 10.5, "locked": True}


@pytest.mark.parametrize(
    "rewrite",
    [{"n": True}, {"flag": 0}, {"x": 3}],
    ids=["1-to-true", "false-to-0", "3.0-to-3"],
)
def test_a_locked_result_compares_type_exactly(
    http: httpx.Client, pipeline: str, rewrite: dict[str, Any]
) -> None:
    original = {"n": 1, "flag": False, "x": 3.0}
    sent = work(pipeline, results=original)
    deposit(http, [sent])
    assert lock(http, sent, True).status_code == 200
    (locked,) = view(http, {"pipeline": pipeline})
    rewritten = dict(locked, results={**locked["results"], **rewrite})
    assert_error(http.put("/results/results", json=[rewritten]), 409)
    # Nor may an unlock carry the rewrite.
    unlocked = dict(rewritten, results={**rewritten["results"], "locked": False})
    assert_error(http.put("/results/results", json=[unlocked]), 409)
    stored = view(http, {"pipeline": pipeline})[0]["results"]
    assert orjson.dumps(stored) == orjson.dumps({**original, "locked": True})


def test_delete_by_pipeline_query_keys(http: httpx.Client, pipeline: str) -> None:
    other = pipeline + "-b"
    a, b, c = work(pipeline), work(pipeline), work(other)
    deposit(http, [a, b, c])
    response = http.delete(
        "/results/results", params=[(pipeline, a["id"]), (other, c["id"]), (pipeline, "unknown")]
    )
    assert response.json() == {pipeline: True, other: True}
    assert [d["id"] for d in view(http, {"pipeline": pipeline})] == [b["id"]]
    assert count(http, other) == 0


def test_delete_without_ids_is_a_no_op_and_pipelines_are_checked(http: httpx.Client) -> None:
    assert http.delete("/results/results").json() == {}
    assert_error(http.delete("/results/results", params={"bad name": "x"}), 400)


def test_status_lists_only_pipelines_holding_results(http: httpx.Client, pipeline: str) -> None:
    refused = [work(pipeline, status="queued")]
    assert http.post("/results/results", json=refused).status_code == 422
    sent = work(pipeline + "-kept")
    response = deposit(http, [sent, work(pipeline + "-kept", id=sent["id"])])
    assert response.status_code == 409  # the same id twice in one batch: nothing written
    status = http.get("/results/status").json()
    assert pipeline not in status and pipeline + "-kept" not in status
