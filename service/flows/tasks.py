"""Runs of a flow with several tasks (`tasks`: one kwargs object each): one work per task.

Such a run is the flow's one pending run, as any; each of its tasks is a part, a run
document of its own (id `<run id>:<task index>`, `parent` the run) with its own copy of
the task's kwargs and the run's input versions. A part is what its work carries out, so
the worker's side is that of any run: its task, outputs, commit (its own provenance
record) and failure. The run itself has no work: it ends when its last part does,
`failed` if any part failed, else `committed` if any committed, else `unchanged`.
"""

from __future__ import annotations

import copy

from service.db import Document


def work_ids(run: Document) -> list[str]:
    """The ids of the works carrying out `run`: its own, or one per task."""
    tasks = run.get("tasks")
    if not tasks:
        return [run["_id"]]
    return [part_id(run["_id"], index) for index in range(len(tasks))]


def part_id(run_id: str, index: int) -> str:
    return f"{run_id}:{index}"


def parts(run: Document) -> list[Document]:
    """The part run documents of a run with tasks (independent copies of each task's
    kwargs and of the inputs)."""
    made = []
    for index, kwargs in enumerate(run["tasks"]):
        part = copy.deepcopy({key: value for key, value in run.items() if key != "tasks"})
        part.update(
            {"_id": part_id(run["_id"], index), "parent": run["_id"], "task": index,
             "kwargs": copy.deepcopy(kwargs), "tasks": None, "deposited": False}
        )  # fmt: skip
        made.append(part)
    return made


def settled(found: list[Document]) -> tuple[str, str | None]:
    """How a run ends once all its parts (`found`: their statuses and errors) ended."""
    failed = [part for part in found if part["status"] == "failed"]
    if failed:
        first = min(failed, key=lambda part: part["task"])
        return "failed", f"task {first['task']}: {first['error']}"
    if any(part["status"] == "committed" for part in found):
        return "committed", None
    return "unchanged", None


def recorded(found: list[Document]) -> list[str]:
    """The provenance ids of a run's ended parts (`found`), in task order."""
    ordered = sorted(found, key=lambda part: part["task"])
    return [part["provenance_id"] for part in ordered if part["provenance_id"] is not None]


def provenance_ids(run: Document) -> list[str]:
    """The ids of the run's provenance records: its own, or (a run of tasks, once it
    ended) its parts' in task order."""
    if run.get("tasks"):
        ids: list[str] = run.get("provenance_ids") or []
        return ids
    return [] if run["provenance_id"] is None else [run["provenance_id"]]
