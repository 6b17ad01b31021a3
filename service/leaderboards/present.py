"""What leaderboard objects look like on Sluice's own routes (`/leaderboards/...`)."""

from __future__ import annotations

from service.db import Document


def template_info(template: Document, postproc: Document | None = None) -> Document:
    """An installed template; `postproc`: its latest post-processing run, if any."""
    info = {
        "id": template["_id"],
        "name": template["name"],
        "description": template["description"],
        "instructions": template["instructions"],
        "pipeline": template["pipeline"],
        "parameters": template["parameters"],
        "parameterGroups": template["parameterGroups"],
        "results": template["results"],
        "postproc": None,
        "created_at": template["created_at"],
    }
    if template["postproc"] is not None:
        info["postproc"] = {
            "outputs": template["postproc"]["outputs"],
            "run": None if postproc is None else run_info(postproc),
        }
    return info


def run_info(run: Document) -> Document:
    """A leaderboard run (a post-processing run has no group)."""
    return {
        "id": run["_id"],
        "workflow_id": run["workflow_id"],
        "group_id": run["group_id"],
        "state": run["state"],
        "created_at": run["created_at"],
        "started_at": run["started_at"],
        "finished_at": run["finished_at"],
        "arguments": run["arguments"],
        "messages": run["messages"],
        "files": run["files"],
        "results": run["results"],
    }


def ranking_row(run: Document, names: dict[str, str]) -> Document:
    """One leaderboard row: the run, its group (with its current name) and values."""
    return {
        "run": {key: run[key] for key in ("created_at", "started_at", "finished_at")}
        | {"id": run["_id"]},
        "group": {"id": run["group_id"], "name": names.get(run["group_id"])},
        "results": run["results"],
    }
