"""The Results HTTP API against a running Sluice and a real database: service routes and
deposits."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.service.factories import new_id, work
from tests.service.results.helpers import assert_error, count, deposit, view


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
