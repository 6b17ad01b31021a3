"""`python -m service`, what `make run` runs, with the embedded database on a data
directory: a Sluice killed by SIGKILL takes its database with it (Linux), and the next
start serves on the same data; a database left running on that directory is stopped;
a port taken by another program is named in one line."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from service.embedded import EmbeddedDatabase
from service.testing import free_port

pytestmark = pytest.mark.slow
#: Seconds `python -m service` may take to serve (it starts the database first).
START_TIMEOUT = 90


@dataclass
class MakeRun:
    """`python -m service` in `root`, as `make run` starts it, on free ports."""

    root: Path
    port: int
    embedded_port: int
    process: subprocess.Popen[str] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def data(self) -> Path:
        """The default data directory, ./var/db, which it is run with."""
        return self.root / "var" / "db"

    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("SLUICE_", "MONGODB_"))}
        env.update(
            SLUICE_PORT=str(self.port),
            SLUICE_EMBEDDED_PORT=str(self.embedded_port),
            SLUICE_LOG_LEVEL="warning",
        )
        return env

    def start(self) -> subprocess.Popen[str]:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "service"],
            cwd=self.root,
            env=self.env(),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        return self.process

    def serve(self) -> None:
        """Start and wait until it is ready (the database answers)."""
        process = self.start()
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            if process.poll() is not None:
                pytest.fail(f"python -m service exited {process.returncode}: {self.stderr()}")
            try:
                if httpx.get(f"{self.url}/readyz", timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, "python -m service did not become ready"
            time.sleep(0.2)

    def stderr(self) -> str:
        assert self.process is not None and self.process.stderr is not None
        if self.process.poll() is None:
            self.process.terminate()
        return self.process.communicate(timeout=30)[1]

    def database_pid(self) -> int:
        return int(self.data.with_name("db.pid").read_text())


@pytest.fixture
def make_run(tmp_path: Path) -> Iterator[MakeRun]:
    run = MakeRun(tmp_path, free_port(), free_port())
    yield run
    if run.process is not None and run.process.poll() is None:
        run.process.terminate()
        run.process.communicate(timeout=60)


def gone(pid: int, within: float) -> bool:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        time.sleep(0.1)
    return False


def deposit(url: str, pipeline: str) -> str:
    work = {"pipeline": pipeline, "site": "local", "user": "t", "status": "success"}
    answer = httpx.post(f"{url}/results/results", json=[work], timeout=30)
    assert answer.status_code == 200, answer.text
    found = httpx.post(f"{url}/results/view", json={"query": {"pipeline": pipeline}}, timeout=30)
    work_id: str = found.json()[0]["id"]
    return work_id


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="parent-death signal")
def test_sigkilled_sluice_takes_its_database_and_restarts_on_the_same_data(
    make_run: MakeRun,
) -> None:
    make_run.serve()
    pipeline = f"t-{uuid.uuid4().hex[:8]}"
    work_id = deposit(make_run.url, pipeline)
    database = make_run.database_pid()
    assert make_run.process is not None
    make_run.process.send_signal(signal.SIGKILL)
    make_run.process.wait()
    assert gone(database, 30), "the embedded database outlived its Sluice"

    make_run.serve()
    found = httpx.post(f"{make_run.url}/results/view", json={"query": {"pipeline": pipeline}})
    assert [work["id"] for work in found.json()] == [work_id]


@pytest.mark.parametrize("pid_file", ["kept", "none (an older Sluice)"])
def test_a_leftover_database_on_the_data_directory_is_stopped(
    make_run: MakeRun, pid_file: str
) -> None:
    # As a Sluice killed where no parent-death signal exists would leave it.
    leftover = EmbeddedDatabase(str(make_run.data), port=make_run.embedded_port)
    leftover.start()
    if pid_file != "kept":
        make_run.data.with_name("db.pid").unlink()
    try:
        make_run.serve()
        assert leftover.process is not None and leftover.process.poll() is not None
        deposit(make_run.url, f"t-{uuid.uuid4().hex[:8]}")
        make_run.process.terminate()  # type: ignore[union-attr]
        stderr = make_run.stderr()
        assert "stopped the embedded database left running on var/db" in stderr
        assert not make_run.data.with_name("db.pid").exists()  # a clean stop forgets it
    finally:
        leftover.stop()


def test_a_port_taken_by_another_program_is_named_in_one_line(make_run: MakeRun) -> None:
    with socket.socket() as other:
        other.bind(("127.0.0.1", make_run.embedded_port))
        other.listen()
        process = make_run.start()
        assert process.wait(60) == 1
        lines = [line for line in make_run.stderr().splitlines() if "SLUICE_EMBEDDED_PORT" in line]
    assert len(lines) == 1
    assert f"port {make_run.embedded_port} is in use by another program" in lines[0]


def test_a_database_of_another_directory_is_left_alone(
    make_run: MakeRun, tmp_path_factory: pytest.TempPathFactory
) -> None:
    # Another clone's `make run`: the same relative ./var/db, another working directory.
    other = tmp_path_factory.mktemp("other-clone")
    server = subprocess.Popen(
        [str(Path(sys.executable).parent / "secantusd-py"), "--host", "127.0.0.1",
         "--port", "0", "--storage-path", "./var/db"],
        cwd=other, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        make_run.serve()
        assert server.poll() is None, "the other directory's database was stopped"
        assert "left running" not in make_run.stderr()
    finally:
        server.terminate()
        server.wait(30)
