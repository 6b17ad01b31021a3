"""Sources are shared by every pipeline, but one a live flow produces is written only
through that flow's pipeline: another's version, ingestion or change of its URL would
feed the flow's runs."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx

from service.testing import SluiceProcess
from tests.service.auth.helpers import ADMIN_SECRET, create_token, secure_env, token_header

AERO = "/osprey/api/v1.0"


def test_a_flows_output_is_written_by_its_pipeline_only(
    sluice_env: dict[str, str], tmp_path: Path
) -> None:
    env = secure_env(sluice_env, SLUICE_AERO_INGEST_HOSTS="feeds.example,evil.example")
    with SluiceProcess(env, log_path=tmp_path / "sluice.log") as server:
        admin = httpx.Client(base_url=server.url, headers=token_header(ADMIN_SECRET), timeout=30)
        mine = create_token(server.url, ["deposit", "read"], ["feed-a"])
        other = create_token(server.url, ["deposit", "read"], ["feed-b"])
        made = admin.post("/aero/flows", json={
            "site": "local", "policy": "INGESTION_EVENT", "pipeline": "feed-a",
            "outputs": {"feed": {"url": "http://feeds.example/cases.csv"}},
        })  # fmt: skip
        assert made.status_code == 201, made.text
        produced = made.json()["outputs"]["feed"]["data_id"]
        shared = admin.post("/aero/data", json={"name": "shared"}).json()["id"]
        writes: list[tuple[str, str, dict[str, Any]]] = [
            ("PATCH", f"/aero/data/{produced}", {"json": {"url": "http://evil.example/x.csv"}}),
            ("POST", f"/aero/data/{produced}/versions", {"content": b"forged"}),
            ("POST", f"/aero/data/{produced}/ingest", {"json": {}}),
            ("POST", f"{AERO}/data/{produced}/new-version",
             {"json": {"file": "x.csv", "checksum": "c0ffee", "size": 1}}),
        ]  # fmt: skip
        with httpx.Client(base_url=server.url, headers=token_header(other), timeout=30) as them:
            for method, path, body in writes:
                answer = them.request(method, path, **body)
                assert answer.status_code == 403, (path, answer.text)
            assert them.post(f"/aero/data/{shared}/versions", content=b"fine").status_code == 201
        stored = admin.get(f"/aero/data/{produced}").json()
        assert stored["url"] == "http://feeds.example/cases.csv"
        assert admin.get(f"/aero/data/{produced}/versions").json()["total"] == 0
        with httpx.Client(base_url=server.url, headers=token_header(mine), timeout=30) as owner:
            answer = owner.patch(f"/aero/data/{produced}", json={"description": "ours"})
            assert answer.status_code == 200, answer.text
        admin.close()
