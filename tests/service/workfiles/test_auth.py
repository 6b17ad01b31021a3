"""Workfile routes with tokens required: each route's scope, pipeline limits at run
time, the owner recorded, and stops in the audit trail."""

from __future__ import annotations

from pathlib import Path

import httpx

from service.testing import SluiceProcess
from tests.service.auth.helpers import ADMIN_SECRET, create_token, secure_env, token_header
from tests.service.workfiles.helpers import as_yaml, diamond
from tests.service.workfiles.test_workfiles import error_of


def test_scopes_and_pipelines_are_enforced(
    sluice_env: dict[str, str], tmp_path: Path, workspace: str, pipeline: str
) -> None:
    with SluiceProcess(secure_env(sluice_env), log_path=tmp_path / "sluice.log") as server:

        def client(secret: str) -> httpx.Client:
            return httpx.Client(base_url=server.url, headers=token_header(secret), timeout=30)

        reader = client(create_token(server.url, ["read"]))
        depositor = client(create_token(server.url, ["deposit", "read"], owner="ana"))
        limited = client(create_token(server.url, ["deposit"], pipelines=["other-*"]))
        worker = client(create_token(server.url, ["work"]))
        admin = client(ADMIN_SECRET)
        params = {"workspace": workspace, "file_name": "d.yaml"}
        content = as_yaml(diamond(pipeline))
        error_of(reader.post("/workfiles", params=params, content=content), 403)
        error_of(httpx.get(f"{server.url}/workfiles", params={"workspace": workspace}), 401)
        stored = depositor.post("/workfiles", params=params, content=content).json()
        assert stored["owner"] == "ana"
        assert reader.get(f"/workfiles/{stored['id']}").status_code == 200
        runs = f"/workfiles/{stored['id']}/processes"
        error = error_of(limited.post(runs, json={}), 403)
        assert pipeline in str(error["message"])
        process = depositor.post(runs, json={}).json()
        assert process["user"] == "ana"
        stop = f"/workfiles/processes/{process['process_id']}/stop"
        error_of(depositor.post(stop), 403)
        assert worker.post(stop).json()["status"] == "STOPPED"
        # A later version in the token's own pipeline: the workfile still names the
        # first one's, so running it needs that too (as reading it does).
        other = as_yaml(diamond("other-mine"))
        again = admin.post("/workfiles", params=params, content=other).json()
        assert again["id"] == stored["id"]
        error_of(limited.get(f"/workfiles/{stored['id']}"), 403)
        assert pipeline in str(error_of(limited.post(runs, json={}), 403)["message"])
        error_of(depositor.delete(f"/workfiles/{stored['id']}"), 403)
        assert admin.delete(f"/workfiles/{stored['id']}").json() is True
        trail = admin.get("/admin/audit").json()
        actions = {(entry["action"], entry["target"]) for entry in trail}
        assert ("workfiles.stop", process["process_id"]) in actions
        assert ("workfiles.delete", stored["id"]) in actions
        for each in (reader, depositor, limited, worker, admin):
            each.close()
