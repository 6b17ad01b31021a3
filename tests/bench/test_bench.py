"""The benchmarks still run end to end (tiny sizes; the figures are not checked)."""

from __future__ import annotations

import os
import subprocess
import sys

TINY = ["--docs", "60", "--batch", "20", "--requests", "20"]
TINY_QUEUE = ["--cycles", "20", "--seconds", "2", "--workers", "4", "--jobs", "3"]
TINY_CLAIMS = [
    *("--depths", "20,60", "--spread-depth", "60", "--spread-pipelines", "3"),
    *("--claims", "5", "--claim-seconds", "1"),
]


def test_bench_runs_and_prints_a_summary(mongo_uri: str) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "bench", *TINY, *TINY_QUEUE, *TINY_CLAIMS],
        env={**os.environ, "MONGODB_URI": mongo_uri},
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
        "sluice worker, no-op jobs",
        "claims/s, 60 queued in one pipeline",
        "claims/s, 60 queued over 3 pipelines",
        "claims/s at 60 vs 20 queued",
    ):
        assert figure in result.stdout
