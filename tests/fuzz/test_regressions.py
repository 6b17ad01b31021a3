"""Requests fuzzing once answered with a 500; each is a clear 4xx now, writing nothing."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

NUL_KEY = {"a\u0000b": 1}
TOO_BIG = 2**63  # BSON integers are signed 64-bit
DEEP: dict[str, Any] = {}
_node = DEEP
for _ in range(900):  # deeper than Python's recursion limit allows a recursive walk
    _node["a"] = _node = {}
_node["x\u0000"] = 1


DEEP_CLEAN: dict[str, Any] = {}
_clean = DEEP_CLEAN
for _ in range(300):
    _clean["a"] = _clean = {}


def _work(pipeline: str, **fields: Any) -> dict[str, Any]:
    return {"pipeline": pipeline, "site": "s", "user": "u", **fields}


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/buckets/work/withdraw", NUL_KEY),
        ("/buckets/view", {"query": {"x": TOO_BIG}}),
        ("/buckets/work", [_work("{p}", parameters=NUL_KEY)]),
        ("/buckets/work", [_work("{p}", event=[2**64 - 1])]),
        ("/buckets/work", [_work("{p}", parameters=DEEP)]),
        ("/results/results", [_work("{p}", status="success", results={"k": [NUL_KEY]})]),
        ("/results/view", {"query": {"pipeline": "{p}", "n": {"$gt": 2**64 - 1}}}),
        # Storable or refused: nesting past SLUICE_MAX_JSON_DEPTH (no NUL anywhere), and
        # integers the parser would have turned into floats.
        ("/buckets/work", [_work("{p}", parameters=DEEP_CLEAN)]),
        ("/results/results", [_work("{p}", status="success", results=DEEP_CLEAN)]),
        ("/results/results", [_work("{p}", status="success", results={"n": -(2**63) - 1})]),
        ("/buckets/work", [_work("{p}", parameters={"n": 2**70})]),
        ("/results/view", {"query": {"pipeline": "{p}", "n": -(2**64)}}),
    ],
)
def test_unstorable_json_is_a_400(http: httpx.Client, pipeline: str, path: str, body: Any) -> None:
    text = httpx.Request("POST", "/", json=body).content.replace(b"{p}", pipeline.encode())
    answer = http.post(path, content=text)
    assert answer.status_code == 400, answer.text
    assert answer.json()["error"]["code"] == "bad_request"
    assert pipeline not in http.get("/buckets/status/pipelines").json()
    assert pipeline not in http.get("/results/status").json()


@pytest.mark.parametrize(
    "content",
    [
        b"name: x\nvariables:\n  '@d': 2024-01-01\noperators: []\n",
        b"name: x\nvariables:\n  '@s': !!set {a, b}\noperators: []\n",
        b"name: x\nvariables:\n  '@k': {1: one}\noperators: []\n",
    ],
)
def test_workfiles_json_cannot_hold_are_a_422_at_upload(http: httpx.Client, content: bytes) -> None:
    params = {"workspace": "regressions", "file_name": "odd.yaml"}
    answer = http.post("/workfiles", params=params, content=content)
    assert answer.status_code == 422, answer.text
    assert answer.json()["error"]["code"] == "invalid_workfile"


@pytest.mark.parametrize(
    "url",
    [
        "/experiments?limit=100000000000000000000",
        "/experiments?offset=100000000000000000000",
        "/experiments?start_datetime=9999-12-31T23:59:59-23:00",
        "/tasks?end_date=0001-01-01T00:00:00%2B05:00",
        "/workfiles?workspace=w&page=92233720368547758&per_page=1000",
        # Path numbers: "²" passes str.isdigit but not int(); 2**63 is past BSON's range.
        "/aero/data/x/versions/%C2%B2/lineage",
        "/aero/data/x/versions/9223372036854775808/lineage",
        "/aero/data/x/versions/%C2%B2",
        "/workfiles/steps/w/inputs/%C2%B2",
    ],
)
def test_out_of_range_query_parameters_are_a_400(http: httpx.Client, url: str) -> None:
    answer = http.get(url)
    assert answer.status_code == 400, answer.text
    assert set(answer.json()["error"]) == {"code", "message", "details"}
