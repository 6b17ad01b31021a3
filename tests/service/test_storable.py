"""Storable or refused: input the database cannot hold is a 4xx naming the problem, and a
batch holding one such document stores nothing; large workfiles and large views leave
the event loop and the process's memory alone."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import psutil
import pytest

from schemas.workfiles import WorkflowFile
from service.testing import SluiceProcess
from service.workfiles import definition
from tests.service.buckets.helpers import new_work
from tests.service.factories import work
from tests.service.liveness import Watch

#: JSON of 2 bytes an element, BSON of about 12: over 16 MiB stored, 6 MB sent.
HUGE_AS_BSON = [0] * 3_000_000


#: Stands for a value nested `levels` deep, spliced into the request's bytes (the JSON
#: encoders of the client side stop near 255 or 1,000 levels themselves).
def _nested(levels: int) -> str:
    return f"NESTED-{levels}"


def _body(value: Any) -> bytes:
    text = json.dumps(value).encode()
    for levels in (150, 995):
        text = text.replace(f'"NESTED-{levels}"'.encode(), b'{"a":' * levels + b"1" + b"}" * levels)
    return text


def _stored(http: httpx.Client, pipeline: str) -> tuple[int, int]:
    results = http.post("/results/view/count", json={"query": {"pipeline": pipeline}}).json()
    works = http.post("/buckets/view", json={"query": {"pipeline": pipeline}}).json()
    return results, len(works)


@pytest.mark.parametrize(
    ("fields", "status", "names"),
    [
        ({"results": {"big": HUGE_AS_BSON}}, 422, "BSON"),
        ({"results": _nested(150)}, 400, "SLUICE_MAX_JSON_DEPTH"),
        ({"results": _nested(995)}, 400, "SLUICE_MAX_JSON_DEPTH"),
        ({"results": {"n": 2**63}}, 400, "64-bit"),
        ({"results": {"n": -(2**63) - 1}}, 400, "64-bit"),
    ],
)
def test_unstorable_document_in_a_batch_stores_nothing(
    http: httpx.Client, pipeline: str, fields: dict[str, Any], status: int, names: str
) -> None:
    batch = [work(pipeline), work(pipeline, **fields), work(pipeline)]
    answer = http.post("/results/results", content=_body(batch))
    assert answer.status_code == status, answer.text[:500]
    assert names in answer.text
    queued = [
        new_work(pipeline),
        new_work(pipeline, parameters=fields["results"]),
        new_work(pipeline),
    ]
    answer = http.post("/buckets/work", content=_body(queued))
    assert answer.status_code == status, answer.text[:500]
    assert names in answer.text
    assert _stored(http, pipeline) == (0, 0)


def test_integers_keep_their_type(http: httpx.Client, pipeline: str) -> None:
    big = 2**63 - 1
    assert http.post("/results/results", json=[work(pipeline, results={"n": big})]).is_success
    (found,) = http.post("/results/view", json={"query": {"pipeline": pipeline}}).json()
    assert found["results"]["n"] == big and isinstance(found["results"]["n"], int)


def _upload(http: httpx.Client, name: str, content: bytes) -> httpx.Response:
    return http.post(
        "/workfiles", params={"workspace": "storable", "file_name": name}, content=content
    )


@pytest.mark.parametrize(
    ("content", "names"),
    [
        (b"name: x\nvariables:\n  '@d': 2024-01-01\noperators: []\n", "date"),
        (b"name: x\nvariables:\n  '@s': !!set {a, b}\noperators: []\n", "set"),
        (b"name: x\nvariables:\n  '@k': {1: one}\noperators: []\n", "key"),
        (b'name: x\nvariables:\n  "@k": {"a\\0b": 1}\noperators: []\n', "NUL"),
        (b"name: x\nvariables:\n  '@b': !!binary aGVsbG8=\noperators: []\n", "bytes"),
        (b"name: x\nvariables:\n  '@n': 99999999999999999999\noperators: []\n", "64-bit"),
        (b"name: x\nvariables:\n  '@f': .nan\noperators: []\n", "finite"),
    ],
)
def test_workfile_values_must_be_json(http: httpx.Client, content: bytes, names: str) -> None:
    answer = _upload(http, "odd.yaml", content)
    assert answer.status_code == 422, answer.text
    assert answer.json()["error"]["code"] == "invalid_workfile"
    assert names in answer.json()["error"]["message"]


def _chain_workfile(pipeline: str, steps: int) -> bytes:
    lines = [f"name: chain\npipeline: {pipeline}\nsite: local\noperators:"]
    lines.append("- {name: s0, function: m.f}")
    lines.extend(
        f"- {{name: s{n}, function: m.f, depends_on: [s{n - 1}]}}" for n in range(1, steps)
    )
    return "\n".join(lines).encode()


def test_a_15000_step_workfile_is_refused_while_others_are_served(
    http: httpx.Client, base_url: str, pipeline: str
) -> None:
    content = _chain_workfile(pipeline, 15_000)
    assert len(content) < 1024 * 1024  # under SLUICE_MAX_WORKFILE_BYTES
    with Watch(base_url) as watch:
        answer = _upload(http, "chain.yaml", content)
    assert answer.status_code == 422, answer.text[:500]
    assert "SLUICE_MAX_WORKFILE_STEPS" in answer.json()["error"]["message"]
    assert watch.slowest < 1, f"/healthz waited {watch.slowest:.2f}s"
    assert not watch.failures


def test_ordering_15000_steps_is_linear() -> None:
    # Quadratic ordering took about a minute here; linear takes a fraction of a second.
    steps = 15_000
    operators: list[dict[str, Any]] = [{"name": "s0", "function": "m.f"}] + [
        {"name": f"s{n}", "function": "m.f", "depends_on": [f"s{n - 1}"]} for n in range(1, steps)
    ]
    operators[-1]["parameters"] = {"first": "$s0.value"}  # an indirect reference
    workflow = WorkflowFile.model_validate(
        {"name": "chain", "pipeline": "p", "site": "s", "operators": operators[::-1]}
    )
    ordered = definition.order(workflow)
    assert [op.name for op in ordered] == [f"s{n}" for n in range(steps)]


#: Large documents: a view of all of them must not hold them all.
BIG_VALUE = "x" * (5 * 1024 * 1024)
BIG_COUNT = 16


@pytest.fixture(scope="module")
def big_server(
    sluice_env: dict[str, str], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[SluiceProcess]:
    log = tmp_path_factory.mktemp("big") / "sluice.log"
    env = {**sluice_env, "SLUICE_DB_NAME": f"{sluice_env['SLUICE_DB_NAME']}_big"}
    with SluiceProcess(env, log_path=log) as server:
        yield server


@pytest.mark.parametrize("store", ["results", "buckets"])
def test_memory_of_a_view_of_large_documents_stays_flat(
    big_server: SluiceProcess, pipeline: str, store: str
) -> None:
    with httpx.Client(base_url=big_server.url, timeout=120) as client:
        for _ in range(BIG_COUNT // 2):
            if store == "results":
                batch = [work(pipeline, results={"blob": BIG_VALUE}) for _ in range(2)]
                assert client.post("/results/results", json=batch).is_success
            else:
                batch = [new_work(pipeline, parameters={"blob": BIG_VALUE}) for _ in range(2)]
                assert client.post("/buckets/work", json=batch).is_success
        process = psutil.Process(big_server.pid)
        baseline = peak = process.memory_info().rss
        received = 0
        with client.stream(
            "POST", f"/{store}/view", json={"query": {"pipeline": pipeline}, "limit": 0}
        ) as answer:
            assert answer.status_code == 200
            for chunk in answer.iter_bytes():
                received += len(chunk)
                peak = max(peak, process.memory_info().rss)
    assert received > BIG_COUNT * len(BIG_VALUE)
    growth = peak - baseline
    # Holding them all would be 80 MB of values and more of their JSON.
    assert growth < 48 * 1024 * 1024, f"RSS grew by {growth / 2**20:.0f} MiB"
