"""Work functions that `workflow run` imports by dotted path in the contract tests."""

from __future__ import annotations

from typing import Any


def echo(**parameters: Any) -> dict[str, Any]:
    """Return the parameters as results, so a test can see they arrived."""
    return {"echo": parameters}
