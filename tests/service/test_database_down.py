"""When the database goes away Sluice answers 503, and recovers when it is back."""

from __future__ import annotations

import time
import uuid
from pathlib import Path

import httpx

from service.embedded import EmbeddedDatabase
from service.testing import SluiceProcess
from tests.service.factories import work


def test_503_while_the_database_is_down_then_recovery(tmp_path: Path) -> None:
    data = tmp_path / "db"
    database = EmbeddedDatabase(storage_path=str(data), sync_on_commit=True)
    database.start()
    env = {
        "MONGODB_URI": database.uri,
        "SLUICE_DB_NAME": f"down_{uuid.uuid4().hex[:6]}",
        "SLUICE_SERVER_SELECTION_TIMEOUT_MS": "1000",
        "SLUICE_AUTH": "off",
        "SLUICE_REAPER_INTERVAL": "0.2",
    }
    try:
        with SluiceProcess(env, log_path=tmp_path / "sluice.log") as server:
            client = httpx.Client(base_url=server.url, timeout=30)
            sent = work("downtime")
            assert client.post("/results/results", json=[sent]).status_code == 200

            port = database.port or 0
            database.kill()
            ready = client.get("/readyz")
            assert ready.status_code == 503
            assert ready.json()["error"]["code"] == "database_unavailable"
            lost = client.post("/results/view/count", json={"query": {"pipeline": "downtime"}})
            assert lost.status_code == 503
            assert lost.json()["error"]["code"] == "database_unavailable"
            assert client.get("/healthz").status_code == 200
            time.sleep(2.5)  # the background loops fail a few passes meanwhile

            # Same data directory, same port: the acknowledged write is still there.
            database.requested_port = port
            database.start()
            deadline = time.monotonic() + 30
            while client.get("/readyz").status_code != 200:
                assert time.monotonic() < deadline, "Sluice did not recover"
                time.sleep(0.2)
            stored = client.post("/results/view", json={"query": {"pipeline": "downtime"}}).json()
            assert [d["id"] for d in stored] == [sent["id"]]
            errors = {
                line.split('source="')[1].split('"')[0]: float(line.rsplit(" ", 1)[1])
                for line in client.get("/metrics").text.splitlines()
                if line.startswith("sluice_database_errors_total{")
            }
            assert errors["request"] >= 2 and errors["reaper"] >= 1
        # Each failed background pass is one short line, never a traceback.
        log = (tmp_path / "sluice.log").read_text()
        assert "Traceback" not in log
        failures = [line for line in log.splitlines() if "reaper pass failed" in line]
        assert failures and all(len(line) < 500 for line in failures)
    finally:
        database.stop()
