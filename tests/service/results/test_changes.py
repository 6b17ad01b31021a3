"""Results updates, locks and deletes."""

from __future__ import annotations

from typing import Any

import httpx
import orjson
import pytest

from tests.service.factories import work
from tests.service.results.helpers import assert_error, count, deposit, view


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
