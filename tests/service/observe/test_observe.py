"""/metrics from several Sluice processes, request ids, and the request log."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import orjson
import pytest
from prometheus_client.parser import text_string_to_metric_families

from service.testing import SluiceProcess
from tests.service.buckets.helpers import deposit, new_work, withdraw

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def scrape(http: httpx.Client) -> Samples:
    response = http.get("/metrics")
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain")
    samples: Samples = {}
    for family in text_string_to_metric_families(response.text):
        for sample in family.samples:
            samples[sample.name, tuple(sorted(sample.labels.items()))] = sample.value
    return samples


def gauge(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


@pytest.fixture
def pair(sluice_env: dict[str, str], tmp_path: Path) -> Iterator[list[SluiceProcess]]:
    """Two Sluice processes on one database of their own, logging JSON at INFO."""
    env = {
        **sluice_env,
        "SLUICE_DB_NAME": f"sluice_observe_{uuid.uuid4().hex[:8]}",
        "SLUICE_LOG_FORMAT": "json",
        "SLUICE_METRICS_MAX_AGE": "0",
    }
    servers = [SluiceProcess(env, log_path=tmp_path / f"sluice-{n}.log") for n in range(2)]
    for server in servers:
        server.start()
    yield servers
    for server in servers:
        server.stop()


def test_metrics_from_two_processes_match_the_queue(pair: list[SluiceProcess]) -> None:
    first, second = pair
    with httpx.Client(base_url=first.url) as a, httpx.Client(base_url=second.url) as b:
        deposit(a, [new_work("obs-a") for _ in range(3)] + [new_work("obs-b")])
        work, lease = withdraw(b, {"pipeline": "obs-a"})
        assert work is not None and lease is not None
        assert withdraw(b, {"pipeline": "obs-none"}) == (None, None)
        report = {**work, "status": "failure", "results": {"error": "x"}}
        assert b.put("/buckets/work", json=[report], headers={"X-Sluice-Lease": lease}).json()
        withdraw(a, {"pipeline": "obs-b"})
        status = a.get("/buckets/status").json()
        seen = [scrape(a), scrape(b)]
        for samples in seen:
            # The gauges come from the database: both processes agree with the API.
            for name in ("queued", "running", "success", "failure"):
                total = sum(
                    gauge(samples, "sluice_queue_works", pipeline=p, status=name)
                    for p in ("obs-a", "obs-b")
                )
                assert total == status[name], (name, status)
            assert gauge(samples, "sluice_queue_works", pipeline="obs-a", status="queued") == 2
            assert gauge(samples, "sluice_queue_works", pipeline="obs-b", status="running") == 1
        for pipeline in ("obs-a", "obs-b"):
            details = a.get(f"/buckets/status/details/{pipeline}").json()
            for name in ("queued", "running", "success", "failure"):
                assert (
                    gauge(seen[1], "sluice_queue_works", pipeline=pipeline, status=name)
                    == (details[name])
                )
        # Counters are per process: each counted its own claims and requests.
        assert gauge(seen[0], "sluice_claims_total", pipeline="obs-b") == 1
        assert gauge(seen[0], "sluice_claims_total", pipeline="obs-a") == 0
        assert gauge(seen[1], "sluice_claims_total", pipeline="obs-a") == 1
        assert gauge(seen[1], "sluice_withdraws_empty_total") == 1
        put = gauge(
            seen[1], "sluice_http_requests_total", method="PUT", route="/buckets/work", status="200"
        )
        assert put == 1
        assert (
            gauge(
                seen[0],
                "sluice_http_requests_total",
                method="PUT",
                route="/buckets/work",
                status="200",
            )
            == 0
        )
        latency = gauge(
            seen[1], "sluice_http_request_duration_seconds_count",
            method="POST", route="/buckets/work/withdraw",
        )  # fmt: skip
        assert latency == 2
        # Unknown paths share one label, so they cannot grow the metrics.
        assert a.get("/no/such/path").status_code == 404
        assert (
            gauge(
                scrape(a),
                "sluice_http_requests_total",
                method="GET",
                route="unmatched",
                status="404",
            )
            == 1
        )
        assert ("sluice_runs", ()) not in seen[0]  # labelled by state, none yet


def test_request_ids_and_json_log_lines(pair: list[SluiceProcess]) -> None:
    server = pair[0]
    with httpx.Client(base_url=server.url) as http:
        chosen = http.get("/buckets/status", headers={"X-Request-ID": "trace-42"})
        assert chosen.headers["x-request-id"] == "trace-42"
        fresh = http.post("/buckets/view", json={"query": {"pipeline": "obs-z"}})
        generated = fresh.headers["x-request-id"]
        assert generated and generated != "trace-42"
        hostile = http.get("/buckets/status", headers={"X-Request-ID": "a b {x}" * 40})
        assert hostile.headers["x-request-id"] != "a b {x}" * 40
        assert withdraw(http, {"pipeline": "obs-idle"}) == (None, None)
        http.get("/healthz")
    server.stop()
    lines = [orjson.loads(line) for line in server.log_path.read_text().splitlines()  # type: ignore[union-attr]
             if line.startswith("{")]  # fmt: skip
    requests = [line for line in lines if line["logger"] == "sluice.http"]
    by_id = {line.get("request_id"): line for line in requests}
    assert by_id["trace-42"]["http"]["route"] == "/buckets/status"
    assert by_id[generated]["http"] == {
        **by_id[generated]["http"],
        "method": "POST",
        "path": "/buckets/view",
        "status": 200,
    }
    assert by_id[generated]["level"] == "info"
    # Idle polls and health checks are DEBUG lines: absent at the default level.
    paths = [line["http"]["path"] for line in requests]
    assert "/buckets/work/withdraw" not in paths and "/healthz" not in paths
