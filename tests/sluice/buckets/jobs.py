"""Functions that test works run: the worker's child process imports them by path."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path
from typing import Any

HERE = "tests.sluice.buckets.jobs"


def noop(**parameters: Any) -> dict[str, Any]:
    """Succeed at once, echoing the parameters."""
    return {"echo": parameters}


def triple() -> tuple[dict[str, Any], list[str], list[str]]:
    """Return (results, products, plots), as CHIME functions may."""
    return {"answer": 42}, ["cube.h5"], ["waterfall.png"]


def fail(message: str = "boom") -> None:
    """Fail with `message`."""
    raise ValueError(message)


def not_json() -> dict[str, Any]:
    """Return results that cannot travel as JSON."""
    return {"value": object()}


def sleepy(seconds: float, marker: str) -> dict[str, Any]:
    """Note the start in `marker`, sleep, note the end, succeed."""
    path = Path(marker)
    with path.open("a") as out:
        out.write("start\n")
    time.sleep(seconds)
    with path.open("a") as out:
        out.write("done\n")
    return {"slept": seconds}


def vanish() -> None:
    """End the process without a word, as a crash would."""
    os._exit(9)


def fork_then_vanish(marker: str) -> None:
    """Fork a process that outlives this one holding its pipes (its pid in `marker`),
    then end this one without a word."""
    child = os.fork()
    if child == 0:
        time.sleep(30)
        os._exit(0)
    Path(marker).write_text(str(child))
    os._exit(3)


def close_streams() -> dict[str, Any]:
    """Close stdout and stderr, then succeed, naming this process."""
    os.close(1)
    os.close(2)
    return {"pid": os.getpid()}


class Unprintable(Exception):
    """An error whose message cannot be made."""

    def __str__(self) -> str:
        raise RuntimeError("no message")


def raise_unprintable() -> None:
    raise Unprintable


def raise_surrogate() -> None:
    """Raise with a message holding a lone surrogate (no UTF-8 text)."""
    raise ValueError("bad \ud800 text")


def bad_products() -> tuple[dict[str, Any], list[int]]:
    """Return products that are not file paths: the server refuses the report."""
    return {"a": 1}, [1, 2]


def crash_once(marker: str) -> dict[str, Any]:
    """The first time, note this process's id in `marker` and die by SIGKILL, as a
    crash would; after that, succeed naming both processes."""
    path = Path(marker)
    if not path.exists():
        path.write_text(str(os.getpid()))
        os.kill(os.getpid(), signal.SIGKILL)
    return {"crashed": int(path.read_text()), "pid": os.getpid()}


def whoami(**parameters: Any) -> dict[str, Any]:
    """Succeed naming the process that ran the work."""
    return {"pid": os.getpid()}


def fail_naming_pid() -> None:
    """Fail, naming the process that ran the work."""
    raise ValueError(f"pid {os.getpid()}")
