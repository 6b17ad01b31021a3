"""Work functions that `workflow run` imports by dotted path in the contract tests."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any


def echo(**parameters: Any) -> dict[str, Any]:
    """Return the parameters as results, so a test can see they arrived."""
    return {"echo": parameters}


def wait_for_file(path: str, timeout: float = 60.0) -> dict[str, Any]:
    """Return once `path` exists (or after `timeout` s): a run the test holds open."""
    deadline = time.monotonic() + timeout
    while not Path(path).exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    return {"waited": path}
