"""Functions the workflow steps of the tests run (imported by the worker's child)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any


def add(a: int | str, b: int | str) -> dict[str, Any]:
    """{"sum": a + b}, of numbers or of numbers written as strings."""
    return {"sum": int(a) + int(b)}


def fail(message: str = "boom") -> None:
    """Fail with `message`."""
    raise RuntimeError(message)


def sleepy(seconds: float, marker: str) -> dict[str, Any]:
    """Note the start in `marker`, sleep, succeed."""
    with Path(marker).open("a") as out:
        out.write("start\n")
    time.sleep(seconds)
    return {"slept": seconds}


def write_file(path: str, text: str) -> dict[str, Any]:
    """Write `text` to `path` (relative to the step's working directory)."""
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    Path(path).write_text(text)
    return {"wrote": path}


def read_file(path: str) -> dict[str, Any]:
    """{"text": the content of `path`}, relative to the step's working directory."""
    return {"text": Path(path).read_text()}
