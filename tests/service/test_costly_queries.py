"""Attacks with a read token: queries that would freeze the embedded database, and
queries that would read server-only fields, against a real auth-on Sluice while another
client keeps pinging it."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from service.testing import SluiceProcess
from tests.service.auth.helpers import ADMIN_SECRET, create_token, secure_env, token_header
from tests.service.buckets.helpers import new_work
from tests.service.factories import work
from tests.service.liveness import Watch

#: Long values make any super-linear match take minutes on the embedded database.
LONG = "a" * 30_000 + "!"
PIPELINE = "attack-target"


@pytest.fixture(scope="module")
def target(sluice_env: dict[str, str], tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """An auth-on Sluice holding results and a running work with long string values."""
    log = tmp_path_factory.mktemp("attacks") / "sluice.log"
    with SluiceProcess(secure_env(sluice_env), log_path=log) as server:
        admin = token_header(ADMIN_SECRET)
        results = [work(PIPELINE, results={"s": LONG, "n": [LONG] * 5}) for _ in range(3)]
        answer = httpx.post(f"{server.url}/results/results", json=results, headers=admin)
        assert answer.status_code == 200, answer.text
        works = [new_work(PIPELINE, parameters={"s": LONG}) for _ in range(3)]
        answer = httpx.post(f"{server.url}/buckets/work", json=works, headers=admin)
        assert answer.status_code == 200, answer.text
        taken = httpx.post(
            f"{server.url}/buckets/work/withdraw", json={"pipeline": PIPELINE}, headers=admin
        )
        assert taken.status_code == 200, taken.text
        yield server.url


def _results(query: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    return "/results/view", {"query": {"pipeline": PIPELINE, **query}}


def _expr(expression: dict[str, Any]) -> dict[str, Any]:
    return {"$expr": {"$eq": [expression, 1]}}


ATTACKS = {
    "nested quantifier": _results({"results.s": {"$regex": "(a+)+$"}}),
    "overlapping alternation": _results({"results.s": {"$regex": "(a|aa)*$"}}),
    "polynomial": _results({"results.s": {"$regex": "a*a*a*a*a*b"}}),
    "unanchored .*": _results({"results.s": {"$regex": ".*.*b"}}),
    "optional run": _results({"results.s": {"$regex": "a?" * 40 + "a" * 40}}),
    "backreference": _results({"results.s": {"$regex": "(a*)\\1b"}}),
    "schema pattern": _results(
        {"$jsonSchema": {"properties": {"results": {"properties": {"s": {"pattern": "(a+)+$"}}}}}}
    ),
    "schema items pattern": _results(
        {
            "$jsonSchema": {
                "properties": {"results": {"properties": {"n": {"items": {"pattern": "(a|a)*b"}}}}}
            }
        }
    ),
    "patternProperties": _results({"$jsonSchema": {"patternProperties": {"(a+)+$": {}}}}),
    "regexMatch": _results(_expr({"$regexMatch": {"input": "$results.s", "regex": "(a+)+$"}})),
    "reduce growth": _results(
        _expr(
            {
                "$reduce": {
                    "input": "$results.n",
                    "initialValue": "$results.s",
                    "in": {"$concat": ["$$value", "$$value"]},
                }
            }
        )
    ),
    "huge power": _results(_expr({"$pow": [9223372036854775807, 9223372036854775807]})),
    "concat copies": _results(_expr({"$strLenCP": {"$concat": ["$results.s"] * 2000}})),
    "nested map": _results(
        _expr({"$map": {"input": "$results.n", "in": {"$map": {"input": "$results.n", "in": 1}}}})
    ),
    "set algebra": _results(_expr({"$setUnion": ["$results.n", "$results.n"]})),
    "buckets regex": ("/buckets/view", {"query": {"parameters.s": {"$regex": "(a+)+$"}}}),
    "withdraw regex": ("/buckets/work/withdraw", {"results.s": {"$regex": "(a+)+$"}}),
}


@pytest.mark.parametrize("attack", list(ATTACKS))
def test_costly_query_is_refused_and_others_keep_answering(target: str, attack: str) -> None:
    path, body = ATTACKS[attack]
    token = create_token(target, ["read", "work"])
    with Watch(target, "/readyz") as pinger:
        started = time.monotonic()
        answer = httpx.post(f"{target}{path}", json=body, headers=token_header(token), timeout=60)
        took = time.monotonic() - started
        time.sleep(0.3)  # a few pings after the attack too
    assert answer.status_code == 400, answer.text
    assert answer.json()["error"]["code"] == "invalid_query"
    assert took < 2, f"the refusal took {took:.1f}s"
    assert pinger.slowest < 2, f"another client waited {pinger.slowest:.1f}s"
    assert not pinger.failures


def test_bounded_patterns_still_work_on_long_values(target: str) -> None:
    token = create_token(target, ["read"])
    query = {"pipeline": PIPELINE, "results.s": {"$regex": "^a{1,5}a*!$"}}
    with Watch(target, "/readyz") as pinger:
        answer = httpx.post(
            f"{target}/results/view/count", json={"query": query}, headers=token_header(token)
        )
    assert answer.status_code == 200, answer.text
    assert answer.json() == 3
    assert pinger.slowest < 2


LEASE_PROBES = [
    {"$jsonSchema": {"patternProperties": {"^_": {"properties": {"token": {"pattern": "^a"}}}}}},
    {"$jsonSchema": {"properties": {"_lease": {"properties": {"token": {"pattern": "^a"}}}}}},
    {"$jsonSchema": {"additionalProperties": {"properties": {"token": {"pattern": "^a"}}}}},
    {"$jsonSchema": {"not": {"required": ["_lease"]}}},
    {"$jsonSchema": {"minProperties": 24}},
    {"_lease.token": {"$regex": "^a"}},
    {"$expr": {"$regexMatch": {"input": "$_lease.token", "regex": "^a"}}},
    {"$expr": {"$eq": [{"$getField": {"field": {"$literal": "_lease"}}}, None]}},
    {"$expr": {"$gt": [{"$size": {"$objectToArray": "$$ROOT"}}, 23]}},
]


@pytest.mark.parametrize("probe", LEASE_PROBES)
def test_lease_tokens_cannot_be_extracted(target: str, probe: dict[str, Any]) -> None:
    headers = token_header(create_token(target, ["read", "work"]))
    for path, body in (
        ("/buckets/view", {"query": {"status": "running", **probe}}),
        ("/buckets/work/withdraw", {"pipeline": PIPELINE, **probe}),
    ):
        answer = httpx.post(f"{target}{path}", json=body, headers=headers)
        assert answer.status_code == 400, (path, answer.text)
        assert answer.json()["error"]["code"] == "invalid_query"
    projected = httpx.post(
        f"{target}/buckets/view",
        json={"query": {"status": "running"}, "projection": {"_lease": 1}},
        headers=headers,
    )
    assert projected.status_code == 400, projected.text


def test_over_long_experiment_search_is_a_400(target: str) -> None:
    headers = token_header(create_token(target, ["read"]))
    answer = httpx.get(f"{target}/experiments", params={"search": "x" * 2000}, headers=headers)
    assert answer.status_code == 400, answer.text
    assert "SLUICE_MAX_REGEX_LENGTH" in answer.json()["error"]["message"]
    fine = httpx.get(f"{target}/experiments", params={"search": "a.b*"}, headers=headers)
    assert fine.status_code == 200, fine.text
