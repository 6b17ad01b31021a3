"""Real `sluice worker` child processes for the tests that need them."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SLUICE = str(Path(sys.executable).parent / "sluice")


class Workers:
    """Starts `sluice --url URL worker PIPELINE --site local ARGS...` from the project
    root, so that test job modules are importable; `close()` kills those still running."""

    def __init__(self) -> None:
        self.started: list[subprocess.Popen[str]] = []

    def start(self, url: str, pipeline: str, *args: str) -> subprocess.Popen[str]:
        argv = [SLUICE, "--url", url, "worker", pipeline, "--site", "local", *args]
        process = subprocess.Popen(
            argv, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        self.started.append(process)
        return process

    def close(self) -> None:
        for process in self.started:
            if process.poll() is None:
                process.kill()
            process.communicate()
