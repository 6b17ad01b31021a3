"""An extension run queues a work of the extension's pipeline: token patterns apply."""

from __future__ import annotations

import json
from pathlib import Path

import httpx

from service.testing import SluiceProcess
from tests.service.auth.helpers import ADMIN_SECRET, create_token, token_header

MANIFEST = {
    "name": "probe",
    "description": "a probe",
    "pipeline": "lab-extensions",
    "actions": [
        {
            "name": "ping",
            "experiment_variable_name": "exp",
            "command": ["true"],
            "parameters": [{"name": "exp", "data_type": "experiment"}],
        }
    ],
}


def test_extension_runs_respect_pipeline_patterns(
    secure_env_vars: dict[str, str], tmp_path: Path
) -> None:
    extensions = tmp_path / "extensions"
    extensions.mkdir()
    (extensions / "probe.json").write_text(json.dumps(MANIFEST))
    env = {**secure_env_vars, "SLUICE_EXTENSIONS_DIR": str(extensions)}
    with SluiceProcess(env, log_path=tmp_path / "sluice.log") as server:
        admin = httpx.Client(base_url=server.url, headers=token_header(ADMIN_SECRET))
        eid = admin.post("/experiments", json={"title": "t", "description": ""}).json()["eid"]
        body = {"parameters": {"exp": eid}}

        elsewhere = create_token(server.url, ["deposit", "read"], pipelines=["frb-*"])
        refused = httpx.post(
            f"{server.url}/extensions/probe/ping", json=body, headers=token_header(elsewhere)
        )
        assert refused.status_code == 403, refused.text
        assert "lab-extensions" in refused.json()["error"]["message"]
        tasks = admin.get("/tasks").json()
        assert tasks["total"] == 0

        allowed = create_token(server.url, ["deposit", "read"], pipelines=["lab-*"])
        started = httpx.post(
            f"{server.url}/extensions/probe/ping", json=body, headers=token_header(allowed)
        )
        assert started.status_code == 201, started.text
        admin.close()
