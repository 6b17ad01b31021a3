"""A workfile step's files on the worker: staged in before it runs, uploaded after.

A step's work names, in `config.files`, the paths of its `inputs` (the run's input
files and its upstream steps' outputs, downloaded in that order) and of its declared
`outputs`. Before the step starts, each input is downloaded into the step's working
directory at its path; once it succeeded, each declared output is uploaded while the
worker still holds the lease, and the step's results list them under `files`. A
declared output the step did not write, or any path that would leave the working
directory (absolute, through `..` or a symbolic link), fails the step.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

from schemas.workfiles import safe_path
from sluice.core.plan import Document
from sluice.errors import SluiceError
from sluice.stepfiles import StepFiles
from sluice.worker.runner import Outcome
from sluice.worker.staging import Staged, StagingError


def declared(work: Document) -> tuple[list[str], list[str]] | None:
    """The step's `(inputs, outputs)` paths, None when it moves no files; StagingError
    for a malformed or unsafe list."""
    config = work.get("config")
    files = config.get("files") if isinstance(config, dict) else None
    if files is None:
        return None
    try:
        inputs = [safe_path(path) for path in _strings(files.get("inputs"))]
        outputs = [safe_path(path) for path in _strings(files.get("outputs"))]
    except (AttributeError, TypeError, ValueError) as exc:
        raise StagingError(f"the step's file list is unusable: {exc}") from None
    return inputs, outputs


def _strings(value: Any) -> list[str]:
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise TypeError("expected a list of paths")
    return value


def inside(directory: Path, relative: str) -> Path:
    """`directory/relative`, refusing (ValueError) a path that resolves outside it."""
    root = directory.resolve()
    target = (root / relative).resolve()
    if not target.is_relative_to(root) or target == root:
        raise ValueError(f"{relative!r} leaves the step's working directory")
    return target


def stage(work: Document, lease: str, staged: Staged, client: StepFiles | None) -> None:
    """Download the step's inputs into `staged.directory` (made if there is none yet);
    StagingError if one cannot be. A work moving no files: nothing done."""
    wanted = declared(work)
    if wanted is None:
        return
    if client is None:
        raise StagingError("this worker cannot move workfile step files")
    if staged.directory is None:
        staged.directory = Path(tempfile.mkdtemp(prefix="sluice-step-"))
    for index, path in enumerate(wanted[0]):
        try:
            target = inside(staged.directory, path)
            target.parent.mkdir(parents=True, exist_ok=True)
            client.download_input(work["id"], index, lease, target)
        except (SluiceError, OSError, ValueError) as exc:
            raise StagingError(f"cannot stage input {path!r}: {exc}") from exc


def deliver(
    work: Document, lease: str, staged: Staged, outcome: Outcome, client: StepFiles | None
) -> Outcome:
    """Upload the declared outputs of a step that succeeded; the outcome to report:
    the same with `files` added to its results, or a failure saying which output is
    missing or could not be uploaded."""
    if outcome.status != "success":
        return outcome
    try:
        wanted = declared(work)
    except StagingError as exc:
        return Outcome.failed(str(exc))
    if wanted is None or not wanted[1]:
        return outcome
    if client is None or staged.directory is None:
        return Outcome.failed("this worker cannot move workfile step files")
    uploaded: list[Document] = []
    for index, path in enumerate(wanted[1]):
        try:
            source = inside(staged.directory, path)
        except ValueError as exc:
            return Outcome.failed(f"declared output {path!r}: {exc}")
        if not source.is_file():
            return Outcome.failed(f"declared output {path!r} was not written")
        try:
            uploaded.append(client.upload_output(work["id"], index, lease, source))
        except (SluiceError, OSError) as exc:
            return Outcome.failed(f"cannot upload output {path!r}: {exc}")
    results = {**(outcome.results or {}), "files": uploaded}
    return Outcome("success", results, outcome.products, outcome.plots)
