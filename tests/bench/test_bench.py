"""The benchmarks still run end to end (tiny sizes; the figures are not checked)."""

from __future__ import annotations

import os
import subprocess
import sys

TINY = ["--docs", "60", "--batch", "20", "--requests", "20"]
TINY_QUEUE = ["--cycles", "20", "--seconds", "2", "--workers", "4"]
TINY_WORKERS = ["--jobs", "3", "--concurrency", "2"]
#: The hot routes whose CPU per request is measured (bench/cpu.py).
ROUTES = (
    "lookup by id", "view page of 500", "count", "deposit batch of 100", "withdraw", "report",
    "lookup by id, with a token", "lookup by id, with a token read every request",
)  # fmt: skip
TINY_FLOWS = ["--dependants", "2"]
TINY_CLAIMS = [
    *("--depths", "20,60", "--spread-depth", "60", "--spread-pipelines", "3"),
    *("--claims", "5", "--claim-seconds", "1", "--stream-docs", "300"),
]
TINY_VERSIONS = ["--commits", "5"]
TINY_LEADERBOARDS = ["--lb-runs", "300", "--lb-groups", "20", "--lb-sizes", "100"]
TINY_LEADERBOARDS += ["--lb-requests", "1"]


def test_bench_runs_and_prints_a_summary(own_mongo_uri: str) -> None:
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "bench",
            *TINY,
            *TINY_QUEUE,
            *TINY_CLAIMS,
            *TINY_WORKERS,
            *TINY_VERSIONS,
            *TINY_FLOWS,
            *TINY_LEADERBOARDS,
        ],
        env={**os.environ, "MONGODB_URI": own_mongo_uri},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    assert "=== summary ===" in result.stdout
    for figure in (
        "results deposit",
        "queue deposit",
        "queue withdraw+update, 4 workers",
        "queue withdraw+update, 4 vs 1 worker",
        "sluice worker, no-op jobs, concurrency 1",
        "sluice worker, no-op jobs, concurrency 2",
        "claims/s, 60 queued in one pipeline",
        "claims/s, 60 queued over 3 pipelines",
        "claims/s at 60 vs 20 queued",
        "heartbeats/s, 60 queued",
        "heartbeats/s at 60 vs 20 queued",
        "data versions, distinct content",
        "data ingestions, unchanged content",
        *(f"server CPU per {route}" for route in ROUTES),
        "Sluice RSS streaming a 300-document view",
        "version commit enqueueing 2 dependants' runs",
        "leaderboard page, best per group, 300 runs / 20 groups",
        "time to rank (every run), 300 runs",
    ):
        assert figure in result.stdout
    # The peer runs where `make bench` installed it, and says why not elsewhere.
    peer = "sluice worker vs Celery, concurrency 2" in result.stdout
    assert peer or "peer skipped: Celery is not installed" in result.stdout
