"""The function fault-test works run: importable by the worker's child process."""

from __future__ import annotations

from typing import Any

HERE = "tests.faults.jobs"


def noop(**parameters: Any) -> dict[str, Any]:
    """Succeed at once, echoing the parameters."""
    return {"echo": parameters}
