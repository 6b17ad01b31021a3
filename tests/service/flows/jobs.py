"""Functions the flow tests register (dotted paths `tests.service.flows.jobs.*`); real
`sluice worker` processes import and call them."""

from __future__ import annotations

import os
import signal
import tempfile
import time
from pathlib import Path

from sluice.flowjob import RUN_ID_VARIABLE, RunClient


def _written(content: bytes, suffix: str = "") -> str:
    handle, path = tempfile.mkstemp(prefix="flow-test-", suffix=suffix)
    os.write(handle, content)
    os.close(handle)
    return path


def combine(a: str, b: str, label: str = "") -> dict[str, str]:
    """Output `combined`: the label, then a's bytes, then b's."""
    return {"combined": _written(label.encode() + Path(a).read_bytes() + Path(b).read_bytes())}


def upper(cases: str) -> dict[str, str]:
    """Output `summary`: the input in upper case."""
    return {"summary": _written(Path(cases).read_bytes().upper())}


def table(cases: str) -> dict[str, str]:
    """Output `summary`: the input in upper case, in a file named `.csv`."""
    return {"summary": _written(Path(cases).read_bytes().upper(), ".csv")}


def stamp(directory: str, seconds: float) -> None:
    """No outputs: record when this call started and ended (a file per call)."""
    started = time.time()
    time.sleep(seconds)
    Path(directory, f"{started:.6f}").write_text(f"{started} {time.time()}")


def die_after(cases: str, marker: str, stage: str) -> dict[str, str]:
    """Output `summary`. The first call (no `marker` yet) writes its output itself, and
    with `stage` "commit" commits the run too, then kills its worker and itself before
    the worker can report: the retry must leave one version and one record."""
    summary = _written(Path(cases).read_bytes()[::-1])
    if not Path(marker).exists():
        Path(marker).write_text("died")
        run_id = os.environ[RUN_ID_VARIABLE]
        with RunClient() as client:
            client.output(run_id, "summary", Path(summary))
            if stage == "commit":
                client.commit(run_id, {"function_version": None})
        os.kill(os.getppid(), signal.SIGKILL)
        os._exit(1)
    return {"summary": summary}


def labelled(cases: str, label: str) -> dict[str, str]:
    """Output `summary`: the label, then the input's bytes; the label "fail" raises."""
    if label == "fail":
        raise ValueError("asked to fail")
    return {"summary": _written(label.encode() + Path(cases).read_bytes())}


def shout(data: str, style: str, calls: str) -> dict[str, str]:
    """An ingestion's transform: output `data`, the upstream upper-cased, then the
    text of the file `style` (so a test can change what the transform makes); each call
    leaves a file in the directory `calls`."""
    Path(calls, f"{time.time():.6f}").write_text(data)
    return {"data": _written(Path(data).read_bytes().upper() + Path(style).read_bytes())}


def broken(data: str) -> dict[str, str]:
    """An ingestion's transform that raises."""
    raise ValueError(f"cannot read {Path(data).name}")
