"""The work the queue benchmark's `sluice worker` runs: nothing, so every second measured
is the queue's and the worker's. Kept apart from bench/queue.py so that each run's
child process imports nothing else."""

from __future__ import annotations

from typing import Any


def noop(**parameters: Any) -> dict[str, Any]:
    """Do nothing; results are what was passed in."""
    return {"echo": parameters}
