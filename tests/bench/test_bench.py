"""The benchmarks still run end to end (tiny sizes; the figures are not checked)."""

from __future__ import annotations

import os
import subprocess
import sys


def test_bench_runs_and_prints_a_summary(mongo_uri: str) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "bench", "--docs", "60", "--batch", "20", "--requests", "20"],
        env={**os.environ, "MONGODB_URI": mongo_uri},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    assert "=== summary ===" in result.stdout
    assert "results deposit" in result.stdout
