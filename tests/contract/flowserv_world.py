"""A Sluice serving a seeded "Hello World" leaderboard to the real flowServ client: auth
on, registration open, runs and leaderboards advancing every 0.2 s, the template
installed through Sluice's admin route, and a real `sluice worker` of its pipeline."""

from __future__ import annotations

import os
import subprocess
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx

from service.testing import SluiceProcess, SluiceStarter
from tests.service.auth.helpers import ADMIN_SECRET, create_token, secure_env, token_header
from tests.service.leaderboards.helpers import as_yaml, hello_template
from tests.workers import ROOT, SLUICE

#: Settings of the scenario's Sluice besides auth: runs, leaderboards and the reaper fast.
FAST = {
    "SLUICE_RUN_INTERVAL": "0.2",
    "SLUICE_REAPER_INTERVAL": "0.5",
    "SLUICE_LEADERBOARD_INTERVAL": "0.2",
    "SLUICE_FLOWSERV_REGISTER": "1",
}


def start_server(
    sluice_env: dict[str, str], starter: SluiceStarter, name: str, **overrides: str
) -> SluiceProcess:
    return starter(name, **secure_env(sluice_env, **FAST, **overrides))


def install(url: str, pipeline: str, **changes: Any) -> dict[str, Any]:
    """Install the Hello World template (of `pipeline`) with the admin route; its info."""
    answer = httpx.post(
        f"{url}/leaderboards/workflows",
        params={"file_name": "hello.yaml"},
        content=as_yaml(hello_template(pipeline, **changes)),
        headers=token_header(ADMIN_SECRET),
        timeout=30,
    )
    assert answer.status_code == 201, answer.text
    info: dict[str, Any] = answer.json()
    return info


@contextmanager
def worker(url: str, pipeline: str) -> Iterator[subprocess.Popen[str]]:
    """A real `sluice worker` of `pipeline` (its token: scope work on that pipeline),
    started from the project root so the steps' module is importable."""
    token = create_token(url, ["work"], [pipeline], name=f"worker-{uuid.uuid4().hex[:8]}")
    process = subprocess.Popen(
        [SLUICE, "--url", url, "worker", pipeline, "--site", "local"],
        cwd=ROOT,
        env={**os.environ, "SLUICE_TOKEN": token},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        yield process
    finally:
        process.kill()
        process.communicate()
