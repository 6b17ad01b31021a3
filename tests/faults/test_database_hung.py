"""A database that hangs (accepts connections, never answers) and a write conflict left
by a transaction nobody finishes: requests answer 503 with Retry-After within the
configured budget, never a 500 or an endless wait, and work again afterwards."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import httpx
from pymongo import MongoClient

from service.embedded import EmbeddedDatabase
from tests.faults.conftest import StartSluice
from tests.service.factories import work

#: SLUICE_OPERATION_TIMEOUT_MS (and SLUICE_REQUEST_TIMEOUT) of the Sluice under test, and
#: the slack allowed past it.
BUDGET_MS = 1500
SLACK = 2.0


def _timed(client: httpx.Client, method: str, path: str, **kwargs: object) -> tuple[int, float]:
    started = time.monotonic()
    answer = client.request(method, path, **kwargs)  # type: ignore[arg-type]
    took = time.monotonic() - started
    if answer.status_code == 503:
        assert answer.headers["retry-after"].isdigit(), answer.headers
        assert answer.json()["error"]["code"] == "database_unavailable"
    return answer.status_code, took


def test_hung_database_answers_503_within_the_budget(
    start_sluice: StartSluice, tmp_path: Path
) -> None:
    with EmbeddedDatabase(storage_path=":memory:", sync_on_commit=False) as database:
        sluice = start_sluice(
            MONGODB_URI=database.uri,
            SLUICE_OPERATION_TIMEOUT_MS=str(BUDGET_MS),
            SLUICE_REQUEST_TIMEOUT=str(BUDGET_MS / 1000),
        )
        pipeline = "hung"
        assert database.process is not None
        pid = database.process.pid
        with httpx.Client(base_url=sluice.url, timeout=60) as client:
            assert client.post("/results/results", json=[work(pipeline)]).status_code == 200
            os.kill(pid, signal.SIGSTOP)
            try:
                for method, path, body in (
                    ("POST", "/results/view/count", {"query": {"pipeline": pipeline}}),
                    ("POST", "/results/view", {"query": {"pipeline": pipeline}}),
                    ("POST", "/results/results", [work(pipeline)]),
                    ("POST", "/buckets/work/withdraw", {"pipeline": pipeline}),
                    ("GET", "/readyz", None),
                ):
                    status, took = _timed(client, method, path, json=body)
                    assert status == 503, (path, status, took)
                    assert took < BUDGET_MS / 1000 + SLACK, (path, took)
                    started = time.monotonic()
                    assert client.get("/healthz").status_code == 200
                    assert time.monotonic() - started < 1
            finally:
                os.kill(pid, signal.SIGCONT)
            deadline = time.monotonic() + 30
            while client.get("/readyz").status_code != 200:
                assert time.monotonic() < deadline, "Sluice did not recover"
                time.sleep(0.2)
            count = client.post("/results/view/count", json={"query": {"pipeline": pipeline}})
            assert count.status_code == 200 and count.json() in (1, 2)


def test_write_conflict_of_an_abandoned_transaction_is_a_503(
    start_sluice: StartSluice, fault_env: dict[str, str]
) -> None:
    sluice = start_sluice(
        SLUICE_OPERATION_TIMEOUT_MS=str(BUDGET_MS), SLUICE_REQUEST_TIMEOUT=str(BUDGET_MS / 1000)
    )
    pipeline = "conflicted"
    document = work(pipeline)
    with httpx.Client(base_url=sluice.url, timeout=60) as client:
        assert client.post("/results/results", json=[document]).status_code == 200
        raw: MongoClient[dict[str, object]] = MongoClient(fault_env["MONGODB_URI"])
        collection = raw[fault_env["SLUICE_DB_NAME"]][f"results.{pipeline}"]
        # A transaction that changed the result and then stopped, as a killed Sluice's does.
        session = raw.start_session()
        session.start_transaction()
        collection.update_one({"id": document["id"]}, {"$set": {"user": "x"}}, session=session)
        try:
            changed = {**document, "tags": ["changed"]}
            status, took = _timed(client, "PUT", "/results/results", json=[changed])
            assert status == 503
            assert took < BUDGET_MS / 1000 + SLACK, took
        finally:
            session.abort_transaction()
            session.end_session()
            raw.close()
        assert client.put("/results/results", json=[changed]).status_code == 200


def test_flowserv_surface_errors_carry_the_message_its_client_reads(
    start_sluice: StartSluice, tmp_path: Path
) -> None:
    """Every error under /flowserv/api/v1 has the top-level `message`: a request
    deadline and a database budget run out (both 503), an unknown path, a wrong method."""
    prefix = "/flowserv/api/v1"
    with EmbeddedDatabase(storage_path=":memory:", sync_on_commit=False) as database:
        # One Sluice whose request deadline ends first, one whose database budget does.
        deadline = start_sluice(
            MONGODB_URI=database.uri,
            SLUICE_REQUEST_TIMEOUT=str(BUDGET_MS / 1000),
            SLUICE_OPERATION_TIMEOUT_MS=str(BUDGET_MS * 20),
        )
        budget = start_sluice(
            MONGODB_URI=database.uri,
            SLUICE_REQUEST_TIMEOUT="0",
            SLUICE_OPERATION_TIMEOUT_MS=str(BUDGET_MS),
        )
        with httpx.Client(base_url=deadline.url, timeout=60) as client:
            assert client.get(f"{prefix}/workflows").status_code == 200
            for method, path, status in (
                ("GET", f"{prefix}/no-such-route", 404),
                ("DELETE", f"{prefix}/workflows", 405),
                ("GET", f"{prefix}/workflows/unknown", 404),
            ):
                answer = client.request(method, path)
                assert answer.status_code == status, (path, answer.text)
                assert answer.json()["message"] == answer.json()["error"]["message"]
        assert database.process is not None
        os.kill(database.process.pid, signal.SIGSTOP)
        try:
            for server, request_deadline in ((deadline, True), (budget, False)):
                with httpx.Client(base_url=server.url, timeout=60) as client:
                    answer = client.get(f"{prefix}/workflows")
                assert answer.status_code == 503, answer.text
                body = answer.json()
                assert body["error"]["code"] == "database_unavailable", body
                assert body["message"] == body["error"]["message"], body
                assert "retry" in body["message"], body
                limit = (body["error"]["details"] or {}).get("limit")
                assert (limit == "SLUICE_REQUEST_TIMEOUT") is request_deadline, body
                assert answer.headers["retry-after"].isdigit()
        finally:
            os.kill(database.process.pid, signal.SIGCONT)
        for server in (deadline, budget):
            server.stop()  # before their database goes
