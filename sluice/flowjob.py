"""The worker side of flow runs: the functions `sluice worker` runs for a flow's work.

A flow run is a work whose function is `sluice.flowjob.run_task` (an analysis) or
`sluice.flowjob.ingest` (an ingestion) and whose only parameter is the run's id. The
job reaches Sluice with the worker's `SLUICE_URL` and `SLUICE_TOKEN` (scopes `read` and
`work`), never a user's token:

1. it asks for the run's task (the function's dotted path, the exact input versions
   resolved when the run was enqueued, the output names and kwargs);
2. downloads each input into a fresh directory (its sha256 checked) and imports and
   calls the function as `function(**{input: path}, **kwargs)` with
   `SLUICE_FLOW_RUN_ID` in its environment; a path that cannot be imported fails the
   run for good with the import error;
3. uploads each output the function returned (`{name: path}`, objects with `.name` and
   `.path`, a list of them, or None when the flow has none) and commits, reporting the
   function's package version.

An ingestion run's job asks the server to fetch and commit; with a transform (the
flow's function) the server stages the raw upstream instead, and the job transforms it
(`function(**{output: path}, **kwargs)`), uploads the result and commits.

A retried job (its worker killed anywhere on the way) does it all again; the server
keeps outputs and commit to exactly once, and a run already committed answers its
outcome without running the function again.
"""

from __future__ import annotations

import hashlib
import importlib
import mimetypes
import os
import tempfile
from collections.abc import Callable, Iterator
from importlib import metadata
from pathlib import Path
from typing import Any, BinaryIO

import httpx

from sluice.core import plan as protocol
from sluice.core.plan import Document, segment
from sluice.core.sender import Sender
from sluice.errors import error_from_response, error_from_transport
from sluice.plans import flows as plans

#: Environment variable holding the run's id while its function runs.
RUN_ID_VARIABLE = "SLUICE_FLOW_RUN_ID"
#: Bytes read or written at a time when inputs and outputs are streamed.
CHUNK = 1 << 20


class FlowJobError(RuntimeError):
    """A run that cannot be carried out; the message says why."""


class RunClient(Sender):
    """The worker's calls on a flow run (`/aero/runs/{id}/...`)."""

    prefix = "/aero"

    def task(self, run_id: str) -> Document:
        return self._run(plans.task(run_id))

    def download(self, data_id: str, version: int, target: Path) -> str:
        """Stream a version's bytes into `target`; their sha256 (hex)."""
        path = f"/data/{segment(data_id)}/versions/{int(version)}/content"
        return self._save(path, target)

    def source(self, run_id: str, target: Path) -> str:
        """Stream the raw upstream an ingestion run staged for its transform into
        `target`; its sha256 (hex)."""
        return self._save(f"/runs/{segment(run_id)}/source", target)

    def _save(self, path: str, target: Path) -> str:
        digest = hashlib.sha256()
        try:
            with self._http.stream("GET", path) as response, target.open("wb") as out:
                if not response.is_success:
                    response.read()
                    raise error_from_response(response)
                for chunk in response.iter_bytes(CHUNK):
                    digest.update(chunk)
                    out.write(chunk)
        except httpx.RequestError as exc:
            raise error_from_transport(exc) from exc
        return digest.hexdigest()

    def output(self, run_id: str, name: str, source: Path) -> Document:
        """Stage output `name` of the run from the file at `source`, streamed; its
        version's media type is the one its file name says (`.csv`: `text/csv`), else
        application/octet-stream."""
        path = f"/runs/{segment(run_id)}/outputs/{segment(name)}"
        media = mimetypes.guess_type(source.name, strict=False)[0] or "application/octet-stream"
        headers = {"content-type": media, "content-length": str(source.stat().st_size)}
        with source.open("rb") as handle:
            try:
                response = self._http.post(path, content=_chunks(handle), headers=headers)
            except httpx.RequestError as exc:
                raise error_from_transport(exc) from exc
        answer: Document = protocol.decode(response)
        return answer

    def commit(self, run_id: str, body: Document) -> Document:
        return self._run(plans.commit(run_id, body))

    def fail(self, run_id: str, error: str) -> Document:
        return self._run(plans.fail(run_id, error))

    def ingest(self, run_id: str) -> Document:
        return self._run(plans.ingest(run_id))


def export_connection(connection: Any) -> None:
    """Put the worker's `--url` and `--token` (a `Connection`) in its environment, so
    the jobs its function works run (`run_task`, `ingest`) reach the same server."""
    for variable, value in (("SLUICE_URL", getattr(connection, "url", None)),
                            ("SLUICE_TOKEN", getattr(connection, "token", None))):  # fmt: skip
        if value:
            os.environ[variable] = value


def _chunks(handle: BinaryIO) -> Iterator[bytes]:
    while chunk := handle.read(CHUNK):
        yield chunk


def run_task(run_id: str) -> Document:
    """Run flow run `run_id`'s function and commit its outputs; the run's outcome
    `{run_id, status, provenance_id, created, reproduced}`."""
    with RunClient() as client:
        task = client.task(run_id)
        if task["status"] in ("committed", "unchanged"):
            outcome: Document = task["outcome"]
            return outcome
        if task["status"] == "failed":
            raise FlowJobError(f"run {run_id} already failed: {task['outcome']['error']}")
        function = _load_or_fail(client, run_id, task["function"])
        with tempfile.TemporaryDirectory(prefix="sluice-flow-") as scratch:
            arguments = _stage(client, task, Path(scratch))
            os.environ[RUN_ID_VARIABLE] = run_id
            returned = function(**arguments, **task["kwargs"])
            for name, produced in produced_outputs(returned, task["outputs"]).items():
                client.output(run_id, name, Path(produced))
        return _commit(client, run_id, function)


def ingest(run_id: str) -> Document:
    """Carry out ingestion run `run_id` (the server fetches its source's URL and
    commits what changed); the run's outcome. With a transform, the server stages the
    raw upstream instead (unless it is unchanged): the job downloads it (its sha256
    checked), calls `transform(**{output: path}, **kwargs)`, uploads what it returns
    as the output and commits. A transform that raises stores no version: its work
    fails (and is retried as any), with the error naming the transform."""
    with RunClient() as client:
        answer = client.ingest(run_id)
        path = answer.get("transform")
        if not path:
            return answer
        transform = _load_or_fail(client, run_id, path)
        name, source = answer["output"], answer["source"]
        with tempfile.TemporaryDirectory(prefix="sluice-ingest-") as scratch:
            target = Path(scratch) / Path(source.get("file_name") or name).name
            if client.source(run_id, target) != source["sha256"]:
                raise FlowJobError("the upstream's downloaded bytes do not match its sha256")
            os.environ[RUN_ID_VARIABLE] = run_id
            try:
                returned = transform(**{name: str(target)}, **answer["kwargs"])
            except Exception as exc:
                raise FlowJobError(
                    f"the transform {path} raised {type(exc).__name__}: {exc}"
                ) from exc
            produced = produced_outputs(returned, {name: name})
            client.output(run_id, name, Path(produced[name]))
        return _commit(client, run_id, transform)


def _commit(client: RunClient, run_id: str, function: Callable[..., Any]) -> Document:
    """Commit the run, reporting the package version of the function it ran."""
    distribution, version = package_version(function)
    return client.commit(run_id, {"function_version": version, "distribution": distribution})


def _load_or_fail(client: RunClient, run_id: str, path: str) -> Callable[..., Any]:
    """The function at `path`; one that cannot be imported fails the run for good."""
    try:
        return load(path)
    except Exception as exc:
        message = f"cannot import {path}: {type(exc).__name__}: {exc}"
        client.fail(run_id, message)
        raise FlowJobError(message) from None


def load(path: str) -> Callable[..., Any]:
    """The callable at dotted `path` (`package.module.function`)."""
    module_name, _, name = path.rpartition(".")
    if not module_name:
        raise ImportError(f"{path!r} is not a dotted path")
    found = getattr(importlib.import_module(module_name), name)
    if not callable(found):
        raise TypeError(f"{path} is not callable")
    return found  # type: ignore[no-any-return]


def _stage(client: RunClient, task: Document, directory: Path) -> dict[str, str]:
    """Download the inputs to fetch into `directory`; the function's keyword arguments
    (an input not fetched is passed as its version id)."""
    arguments: dict[str, str] = {}
    for name, given in task["inputs"].items():
        if not given.get("fetch", True):
            arguments[name] = given["version_id"]
            continue
        target = directory / name
        digest = client.download(given["data_id"], given["version"], target)
        expected = given.get("sha256")
        if expected and digest != expected:
            raise FlowJobError(f"input {name!r}: the downloaded bytes do not match its sha256")
        arguments[name] = str(target)
    return arguments


def produced_outputs(returned: Any, declared: dict[str, str]) -> dict[str, str]:
    """The function's outputs as `{name: path}`; FlowJobError unless they are exactly
    the declared ones."""
    found: dict[str, str] = {}
    items: list[Any]
    if returned is None:
        items = []
    elif isinstance(returned, dict):
        found = {str(k): str(v) for k, v in returned.items()}
        items = []
    elif isinstance(returned, list | tuple):
        items = list(returned)
    else:
        items = [returned]
    for item in items:
        name, path = getattr(item, "name", None), getattr(item, "path", None)
        if name is None or path is None:
            raise FlowJobError(
                f"the function returned {type(item).__name__}: outputs are {{name: path}}, "
                "objects with .name and .path, a list of them, or None"
            )
        found[str(name)] = str(path)
    if set(found) != set(declared):
        raise FlowJobError(
            f"the function returned outputs {sorted(found)}; the flow declares {sorted(declared)}"
        )
    return found


def package_version(function: Callable[..., Any]) -> tuple[str | None, str | None]:
    """`(distribution, version)` installed for the function's top-level package, as
    far as the worker's environment says."""
    top = (getattr(function, "__module__", None) or "").split(".")[0]
    for distribution in metadata.packages_distributions().get(top, []):
        try:
            return distribution, metadata.version(distribution)
        except metadata.PackageNotFoundError:
            continue
    module = importlib.import_module(top) if top else None
    version = getattr(module, "__version__", None)
    return None, None if version is None else str(version)
