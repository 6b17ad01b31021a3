"""Blocking client for Sluice experiments, extensions and tasks: one method per route.

`sluice.aqueduct` builds pyaqueduct-style objects on top of it. Files travel streamed
both ways (never whole in memory); `progress(done, total)` is called as bytes move.

    with Experiments("http://127.0.0.1:8000") as api:
        record = api.create("Cooldown 3", "Second run of the cryostat")
        api.upload(record["eid"], Path("scan.h5"))
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx

from sluice.core.plan import Call, Document, Plan, expect, segment
from sluice.core.sender import Progress as Progress  # re-exported: callers name it from here
from sluice.core.sender import Sender, file_pieces, get_stream, put_stream


def _file_path(ref: str, name: str) -> str:
    return f"/experiments/{segment(ref)}/files/{segment(name)}"


def _params(**values: Any) -> tuple[tuple[str, str], ...]:
    """Query pairs from keyword values: None dropped, lists repeated, times in ISO 8601."""
    pairs: list[tuple[str, str]] = []
    for key, value in values.items():
        items = value if isinstance(value, list | tuple) else [value]
        for item in items:
            if item is None:
                continue
            pairs.append((key, item.isoformat() if isinstance(item, datetime) else str(item)))
    return tuple(pairs)


def _json(method: str, path: str, what: type[Any], body: Any = None, **query: Any) -> Plan[Any]:
    answer = yield Call(method, path, params=_params(**query) or None, json=body)
    return expect(answer, what, f"a JSON {what.__name__} from {method} {path}")


class Experiments(Sender):
    """Experiments, extensions and tasks of one Sluice server. Arguments as for every
    Sluice client: `base_url` (default `$SLUICE_URL`), `token` (`$SLUICE_TOKEN`),
    `timeout` in seconds per request (a file transfer may take longer in all; the
    timeout bounds each wait for the network)."""

    prefix = ""

    # Experiments
    def create(self, title: str, description: str = "") -> Document:
        body = {"title": title, "description": description}
        return self._run(_json("POST", "/experiments", dict, body))

    def find(
        self,
        search: str | None = None,
        limit: int = 10,
        offset: int = 0,
        tags: Sequence[str] | None = None,
        start_datetime: datetime | None = None,
        end_datetime: datetime | None = None,
    ) -> Document:
        """`{"experiments": [...], "total": n}`, newest first."""
        query = {
            "search": search,
            "limit": limit,
            "offset": offset,
            "tags": list(tags or []),
            "start_datetime": start_datetime,
            "end_datetime": end_datetime,
        }
        return self._run(_json("GET", "/experiments", dict, **query))

    def get(self, ref: str) -> Document:
        """The experiment with this EID or UUID."""
        return self._run(_json("GET", f"/experiments/{segment(ref)}", dict))

    def update(
        self, ref: str, title: str | None = None, description: str | None = None
    ) -> Document:
        body = {k: v for k, v in (("title", title), ("description", description)) if v is not None}
        return self._run(_json("PATCH", f"/experiments/{segment(ref)}", dict, body))

    def remove(self, ref: str) -> bool:
        """Remove the experiment with its files and tasks."""
        return bool(self._run(_json("DELETE", f"/experiments/{segment(ref)}", bool)))

    def add_tags(self, ref: str, tags: Sequence[str]) -> Document:
        body = {"tags": list(tags)}
        return self._run(_json("POST", f"/experiments/{segment(ref)}/tags", dict, body))

    def remove_tag(self, ref: str, tag: str) -> Document:
        path = f"/experiments/{segment(ref)}/tags/{segment(tag)}"
        return self._run(_json("DELETE", path, dict))

    def tags(self) -> list[Document]:
        """Every tag with the number of experiments carrying it."""
        return self._run(_json("GET", "/experiments/tags", list))

    # Files
    def files(self, ref: str) -> list[Document]:
        return self._run(_json("GET", f"/experiments/{segment(ref)}/files", list))

    def remove_files(self, ref: str, names: Sequence[str]) -> list[str]:
        """Remove files, all or nothing (Conflict naming the missing ones)."""
        path = f"/experiments/{segment(ref)}/files"
        answer = self._run(_json("DELETE", path, dict, name=list(names)))
        removed: list[str] = answer.get("removed", [])
        return removed

    def upload(
        self, ref: str, source: Path, name: str | None = None, progress: Progress | None = None
    ) -> Document:
        """Stream the file `source` into the experiment (as `name`, default its own
        name), replacing a file of that name; returns the file's entry."""
        pieces = file_pieces(source, progress)
        path = _file_path(ref, name or source.name)
        return put_stream(self._http, path, pieces, source.stat().st_size)

    def download(
        self, ref: str, name: str, destination_dir: Path, progress: Progress | None = None
    ) -> Path:
        """Stream file `name` to `destination_dir/name` (written under a temporary name,
        checked against the server's checksum, then renamed); returns its path."""
        target = Path(destination_dir) / Path(name).name

        def expected(headers: httpx.Headers) -> str:
            checksum: str = headers.get("x-checksum", "")
            return checksum.removeprefix("sha256:")

        return get_stream(self._http, _file_path(ref, name), target, expected, progress)

    # Extensions and tasks
    def extensions(self) -> Document:
        """`{"extensions": [...], "invalid": [{file, error}]}`, read afresh."""
        return self._run(_json("GET", "/extensions", dict))

    def execute(self, extension: str, action: str, parameters: Mapping[str, Any]) -> Document:
        """Start an action; returns the task."""
        path = f"/extensions/{segment(extension)}/{segment(action)}"
        return self._run(_json("POST", path, dict, {"parameters": dict(parameters)}))

    def task(self, task_id: str) -> Document:
        return self._run(_json("GET", f"/tasks/{segment(task_id)}", dict))

    def tasks(self, limit: int = 10, offset: int = 0, **filters: Any) -> Document:
        """`{"tasks": [...], "total": n}`; filters: extension_name, action_name,
        experiment_uuid, username, status, start_date, end_date."""
        return self._run(_json("GET", "/tasks", dict, limit=limit, offset=offset, **filters))

    def cancel(self, task_id: str) -> Document:
        """Revoke or stop a task (idempotent); returns it."""
        return self._run(_json("POST", f"/tasks/{segment(task_id)}/cancel", dict))
