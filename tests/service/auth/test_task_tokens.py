"""An extension action declaring `token: true`: its command, run by a real `sluice
worker`, gets SLUICE_URL and a short-lived token of its own (never the worker's) that
reads its experiment and its files and uploads files to it, and gets 403 everywhere
else; the token stops working after SLUICE_TASK_TOKEN_TTL and is revoked when the task
ends."""

from __future__ import annotations

import hashlib
import json
import re
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from service.testing import SluiceProcess
from tests.service.auth.helpers import ADMIN_SECRET, create_token, secure_env, token_header
from tests.service.auth.test_pipeline_walk import route_table
from tests.workers import Workers

TTL = 6.0
PROBE = Path(__file__).with_name("task_probe.py")
#: The routes a task token may use (`Endpoint.experiment`), on its own experiment.
BOUND_ROUTES = {
    ("GET", "/experiments/{ref}"),
    ("GET", "/experiments/{ref}/files"),
    ("PUT", "/experiments/{ref}/files/{name:path}"),
    ("GET", "/experiments/{ref}/files/{name:path}"),
}


def manifest(pipeline: str, routes: Path) -> dict[str, Any]:
    exp = {"name": "EXP", "data_type": "experiment"}
    return {
        "name": "probe",
        "pipeline": pipeline,
        "actions": [
            {
                "name": name,
                "experiment_variable_name": "EXP",
                "command": [sys.executable, str(PROBE), str(routes), str(TTL + 1)],
                "parameters": [exp, {"name": "OTHER", "data_type": "str"}],
                "token": token,
            }
            for name, token in (("with-token", True), ("without-token", False))
        ],
    }


def concrete(path: str) -> str:
    """`path` with every path parameter filled in."""
    return re.sub(r"\{[^}]+\}", "x", path)


def test_every_route_bound_tokens_may_use_is_known() -> None:
    """Adding a route a task token may use is a deliberate change of this list."""
    from service.app import create_app
    from service.routing import EndpointRoute, walk
    from service.settings import Settings

    app = create_app(Settings(mongodb_uri="mongodb://127.0.0.1:1", auth="off"))
    bound = {
        (method, path)
        for path, route in walk(list(app.routes))
        if isinstance(route, EndpointRoute) and route.spec.experiment
        for method in route.spec.methods
        if method != "HEAD"
    }
    assert bound == BOUND_ROUTES


def run_task(
    admin: httpx.Client, server: SluiceProcess, pipeline: str, action: str, mine: str, other: str
) -> dict[str, Any]:
    started = admin.post(
        f"/extensions/probe/{action}", json={"parameters": {"EXP": mine, "OTHER": other}}
    )
    assert started.status_code == 201, started.text
    task_id = started.json()["task_id"]
    deadline = time.monotonic() + 90
    while (task := admin.get(f"/tasks/{task_id}").json())["status"] not in ("SUCCESS", "FAILURE"):
        assert time.monotonic() < deadline, task
        time.sleep(0.2)
    assert task["status"] == "SUCCESS", task
    seen: dict[str, Any] = json.loads(task["stdout"].splitlines()[-1])
    return {**seen, "task_id": task_id}


def test_task_token_is_bound_to_its_experiment(
    sluice_env: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pipeline = "probe-tasks"
    table = route_table()
    walked = sorted(
        (method, path)
        for (method, path), scope in table.items()
        if scope not in ("public", "undeclared") and (method, path) not in BOUND_ROUTES
    )
    routes = tmp_path / "routes.json"
    routes.write_text(json.dumps([[method, concrete(path)] for method, path in walked]))
    extensions = tmp_path / "extensions"
    extensions.mkdir()
    (extensions / "probe.json").write_text(json.dumps(manifest(pipeline, routes)))
    env = {
        # A database of its own: its tasks and tokens are no other test's business.
        **secure_env(sluice_env),
        "SLUICE_EXTENSIONS_DIR": str(extensions),
        "SLUICE_TASK_INTERVAL": "0.3",
        "SLUICE_TASK_TOKEN_TTL": str(TTL),
    }
    workers = Workers()
    with (
        SluiceProcess(env, log_path=tmp_path / "sluice.log") as server,
        httpx.Client(base_url=server.url, headers=token_header(ADMIN_SECRET), timeout=30) as admin,
    ):
        worker_secret = create_token(server.url, ["work", "read", "deposit"], [pipeline])
        monkeypatch.setenv("SLUICE_TOKEN", worker_secret)
        mine = admin.post("/experiments", json={"title": "mine", "description": ""}).json()
        other = admin.post("/experiments", json={"title": "other", "description": ""}).json()
        admin.put(f"/experiments/{other['eid']}/files/in.txt", content=b"theirs")
        worker = workers.start(server.url, pipeline, "--lives", "2", "--sleep", "0.2")
        try:
            seen = run_task(admin, server, pipeline, "with-token", mine["eid"], other["eid"])
            plain = run_task(admin, server, pipeline, "without-token", mine["eid"], other["eid"])
            worker.communicate(timeout=30)
        finally:
            workers.close()

        assert seen["url"] == server.url
        assert seen["token_sha256"] != hashlib.sha256(worker_secret.encode()).hexdigest()
        assert seen["admin_token"] is False
        # Its own experiment: read, upload, list and download.
        assert seen["read"] == 200 and seen["upload"] == 200
        assert "out.txt" in seen["files"] and seen["download"] == "made"
        stored = admin.get(f"/experiments/{mine['eid']}/files/out.txt")
        assert stored.content == b"made"
        # Another experiment, and every other route of the table: 403.
        assert seen["other"] == {"read": 403, "files": 403, "upload": 403, "download": 403}
        assert len(seen["walk"]) == len(walked) > 50
        allowed = {route: code for route, code in seen["walk"].items() if code != 403}
        assert not allowed, f"a task token reached: {allowed}"
        assert admin.get(f"/experiments/{other['eid']}/files").json()[0]["name"] == "in.txt"
        assert len(admin.get(f"/experiments/{other['eid']}/files").json()) == 1
        # Past SLUICE_TASK_TOKEN_TTL the token no longer works.
        assert seen["after_ttl"] == 401

        # Without `token: true` the command gets no token at all.
        assert plain["token_sha256"] == hashlib.sha256(b"").hexdigest()

        # The token was minted by the server for that task, and revoked once it ended.
        tokens = admin.get("/admin/tokens").json()
        minted = [t for t in tokens if t.get("task") == seen["task_id"]]
        assert len(minted) == 1, tokens
        assert minted[0]["experiment"] == {"uuid": mine["uuid"], "eid": mine["eid"]}
        assert minted[0]["revoked"] is not None
        assert minted[0]["expires"] - minted[0]["created"] == pytest.approx(TTL)
        assert not [t for t in tokens if t.get("task") == plain["task_id"]]
        # The secret is stored nowhere a query reaches: not in the work, not in the task.
        works = admin.post("/buckets/view", json={"query": {"pipeline": pipeline}})
        assert works.status_code == 200, works.text
        assert "slc_" not in works.text
        assert "slc_" not in json.dumps(admin.get(f"/tasks/{seen['task_id']}").json())
