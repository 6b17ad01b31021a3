"""An experiments client shaped like pyaqueduct: `API`, `Experiment`, `Extension`,
`ExtensionAction` and `Task`, over Sluice's routes (sluice.experiments).

    api = API("http://127.0.0.1:8000", timeout=10)
    experiment = api.create_experiment("Cooldown 3", "Second run of the cryostat")
    experiment.add_tags(["cryo", "run:3"])
    experiment.upload_file("scan.h5")
    action = api.get_extensions()[0].actions[0]
    task = action.execute({"experiment": experiment.eid})
    task.wait()

`Experiment` properties are live: each read asks the server, each assignment writes.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from types import TracebackType
from typing import Any, Self, TypeVar
from uuid import UUID

from schemas.experiments import ACTIVE_STATUSES, Parameter
from sluice.core.plan import Document
from sluice.errors import SluiceError
from sluice.experiments import Experiments, Progress

T = TypeVar("T")


class Found(list[T]):
    """A page of results that also knows how many match in all (`total`)."""

    def __init__(self, items: Sequence[T], total: int) -> None:
        super().__init__(items)
        self.total = total


def _time(value: Any) -> datetime | None:
    return datetime.fromisoformat(value) if isinstance(value, str) else None


class API:
    """Experiments of the Sluice server at `url` (its root; default `$SLUICE_URL`).
    `timeout` is in seconds per request; `token` defaults to `$SLUICE_TOKEN`."""

    def __init__(self, url: str | None = None, timeout: float = 30, token: str | None = None):
        self.client = Experiments(url, token, timeout)

    def close(self) -> None:
        self.client.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def create_experiment(self, title: str, description: str) -> Experiment:
        return Experiment(self, self.client.create(title, description))

    def find_experiments(
        self,
        search: str | None = None,
        limit: int = 10,
        offset: int = 0,
        tags: list[str] | None = None,
        start_datetime: datetime | None = None,
        end_datetime: datetime | None = None,
    ) -> Found[Experiment]:
        """Experiments whose title or EID contains `search` (case-insensitive), with
        any of `tags`, created between the datetimes; newest first; `.total` of all."""
        page = self.client.find(search, limit, offset, tags, start_datetime, end_datetime)
        return Found([Experiment(self, r) for r in page["experiments"]], page["total"])

    def get_experiment_by_eid(self, eid: str) -> Experiment:
        return Experiment(self, self.client.get(eid))

    def get_experiment_by_uuid(self, uuid: UUID | str) -> Experiment:
        return Experiment(self, self.client.get(str(uuid)))

    def remove_experiment_by_eid(self, eid: str) -> None:
        """Remove the experiment, its files and its tasks."""
        self.client.remove(eid)

    def get_extensions(self) -> list[Extension]:
        """The extensions the server declares now (they change without restarts)."""
        listing = self.client.extensions()
        return [Extension(self, declared) for declared in listing["extensions"]]

    def get_task(self, task_id: str) -> Task:
        return Task(self, self.client.task(task_id))

    def get_tasks(
        self,
        limit: int = 10,
        offset: int = 0,
        extension_name: str | None = None,
        experiment_uuid: UUID | str | None = None,
        action_name: str | None = None,
        username: str | None = None,
        start_date: datetime | None = None,
        end_date: datetime | None = None,
    ) -> Found[Task]:
        """Tasks matching the filters, newest first; `.total` of all matching."""
        page = self.client.tasks(
            limit,
            offset,
            extension_name=extension_name,
            experiment_uuid=None if experiment_uuid is None else str(experiment_uuid),
            action_name=action_name,
            username=username,
            start_date=start_date,
            end_date=end_date,
        )
        return Found([Task(self, t) for t in page["tasks"]], page["total"])


class Experiment:
    """One experiment; `eid`, `uuid` and `created_at` are fixed, the rest is read live."""

    def __init__(self, api: API, record: Document) -> None:
        self._api = api
        self.eid: str = record["eid"]
        self.uuid = UUID(record["uuid"])
        self.created_at = datetime.fromisoformat(record["created_at"])

    def __repr__(self) -> str:
        return f"Experiment(eid={self.eid!r}, uuid={str(self.uuid)!r})"

    def _record(self) -> Document:
        return self._api.client.get(str(self.uuid))

    @property
    def title(self) -> str:
        return str(self._record()["title"])

    @title.setter
    def title(self, value: str) -> None:
        self._api.client.update(str(self.uuid), title=value)

    @property
    def description(self) -> str:
        return str(self._record()["description"])

    @description.setter
    def description(self, value: str) -> None:
        self._api.client.update(str(self.uuid), description=value)

    @property
    def tags(self) -> list[str]:
        return list(self._record()["tags"])

    @property
    def updated_at(self) -> datetime:
        return datetime.fromisoformat(self._record()["updated_at"])

    @property
    def files(self) -> list[tuple[str, datetime]]:
        """`(name, modified_at)` of each file."""
        entries = self._api.client.files(str(self.uuid))
        return [(e["name"], datetime.fromisoformat(e["modified_at"])) for e in entries]

    @property
    def file_details(self) -> list[Document]:
        """Each file's name, size, modified_at and checksum."""
        return self._api.client.files(str(self.uuid))

    def add_tags(self, tags: list[str]) -> None:
        self._api.client.add_tags(str(self.uuid), tags)

    def remove_tag(self, tag: str) -> None:
        """Remove a tag; NotFound if the experiment does not carry it."""
        self._api.client.remove_tag(str(self.uuid), tag)

    def upload_file(self, file: str | Path, progress: Progress | None = None) -> None:
        """Upload (streamed); a file of the same name is replaced atomically."""
        self._api.client.upload(str(self.uuid), Path(file), progress=progress)

    def download_file(
        self, file_name: str, destination_dir: str | Path, progress: Progress | None = None
    ) -> Path:
        """Stream the file into `destination_dir`; returns its path."""
        return self._api.client.download(str(self.uuid), file_name, Path(destination_dir), progress)

    def remove_files(self, files: list[str]) -> None:
        """Remove files, all or nothing: Conflict naming any missing one."""
        self._api.client.remove_files(str(self.uuid), files)


class Extension:
    """An extension: a named collection of actions."""

    def __init__(self, api: API, declared: Document) -> None:
        self.name: str = declared["name"]
        self.description: str = declared.get("description", "")
        self.authors: str = declared.get("authors", "")
        self.actions = [ExtensionAction(api, self, action) for action in declared["actions"]]

    def __repr__(self) -> str:
        return f"Extension({self.name!r})"


class ExtensionAction:
    """An action of an extension, with the parameters it expects."""

    def __init__(self, api: API, extension: Extension, declared: Document) -> None:
        self._api = api
        self.extension = extension
        self.name: str = declared["name"]
        self.description: str = declared.get("description", "")
        self.experiment_variable_name: str | None = declared.get("experiment_variable_name")
        self.parameters = [Parameter.model_validate(p) for p in declared["parameters"]]

    def __repr__(self) -> str:
        return f"ExtensionAction({self.extension.name!r}, {self.name!r})"

    def execute(self, parameters: dict[str, Any]) -> Task:
        """Start the action with these parameters (checked by the server); the task."""
        started = self._api.client.execute(self.extension.name, self.name, parameters)
        return Task(self._api, started)


class Task:
    """A run of an extension action. `refresh()` reads its state again."""

    def __init__(self, api: API, record: Document) -> None:
        self._api = api
        self.task_id: str = record["task_id"]
        self._update(record)

    def __repr__(self) -> str:
        return f"Task({self.task_id!r}, status={self.status!r})"

    def _update(self, record: Document) -> None:
        self.record = record
        self.status: str = record["status"]
        self.result_code: int | None = record.get("result_code")
        self.stdout: str = record.get("stdout", "")
        self.stderr: str = record.get("stderr", "")
        self.ended_at = _time(record.get("ended_at"))
        self.created_at = _time(record.get("created_at"))
        self.parameters: dict[str, Any] = record.get("parameters", {})
        self.experiment_eid: str | None = record.get("experiment_eid")
        self.username: str = record.get("username", "")

    def refresh(self) -> Task:
        self._update(self._api.client.task(self.task_id))
        return self

    def cancel(self) -> Task:
        """Revoke it if queued, stop it if running; calling again changes nothing."""
        self._update(self._api.client.cancel(self.task_id))
        return self

    def wait(self, timeout: float = 3600, poll: float = 1.0) -> Task:
        """Poll until the task ended (SUCCESS, FAILURE or REVOKED); TimeoutError past
        `timeout` seconds."""
        deadline = time.monotonic() + timeout
        while self.refresh().status in ACTIVE_STATUSES:
            if time.monotonic() > deadline:
                raise TimeoutError(f"task {self.task_id} still {self.status} after {timeout} s")
            time.sleep(poll)
        return self


__all__ = ["API", "Experiment", "Extension", "ExtensionAction", "Found", "SluiceError", "Task"]
