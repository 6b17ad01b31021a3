"""`python -m service` (the launcher) stops within SLUICE_SHUTDOWN_GRACE_SECONDS of a
SIGTERM even while a request is still open, and refuses a grace it cannot use."""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from service.testing import GRACE_VARIABLE, LauncherProcess

#: The grace the launcher is started with here: short, to keep the test fast.
GRACE = 1
#: Seconds past the grace the stop may take (closing the database client, the periodic
#: jobs and the interpreter): a liveness bound, far below "never".
MARGIN = 10


@pytest.fixture
def launcher(sluice_env: dict[str, str], tmp_path: Path) -> Iterator[LauncherProcess]:
    """A started `python -m service` on the test database, logging to `sluice.log`."""
    env = {
        **sluice_env,
        GRACE_VARIABLE: str(GRACE),
        # No handler deadline: only the grace may end the request left open below.
        "SLUICE_REQUEST_TIMEOUT": "0",
        "SLUICE_LOG_LEVEL": "warning",
    }
    with LauncherProcess(env, log_path=tmp_path / "sluice.log") as process:
        yield process


def open_upload(port: int) -> socket.socket:
    """A deposit whose body never arrives, once Sluice's handler is waiting for it."""
    connection = socket.create_connection(("127.0.0.1", port), timeout=30)
    connection.sendall(
        b"POST /results/results HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        b"Content-Type: application/json\r\nContent-Length: 1000\r\n"
        b"Expect: 100-continue\r\n\r\n"
    )
    # The server answers 100 Continue when the handler starts reading the body.
    assert connection.recv(1024).startswith(b"HTTP/1.1 100 Continue")
    connection.sendall(b'[{"pipeline": ')
    return connection


def test_a_sigterm_ends_the_launcher_within_the_grace_despite_an_open_request(
    launcher: LauncherProcess, tmp_path: Path
) -> None:
    assert launcher.process is not None
    process = launcher.process
    with open_upload(launcher.port):
        started = time.monotonic()
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(GRACE + MARGIN)
        except subprocess.TimeoutExpired:
            pytest.fail(f"python -m service still ran {GRACE + MARGIN} s after SIGTERM")
        took = time.monotonic() - started
    assert process.returncode == 0
    assert took >= GRACE  # the open request was given its grace
    assert "timeout graceful shutdown exceeded" in (tmp_path / "sluice.log").read_text()


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("0", f"{GRACE_VARIABLE} must be at least 1"),
        ("-5", f"{GRACE_VARIABLE} must be at least 1"),
        ("2.5", f"{GRACE_VARIABLE}='2.5': expected a whole number"),
        ("soon", f"{GRACE_VARIABLE}='soon': expected a whole number"),
    ],
)
def test_the_launcher_refuses_a_grace_it_cannot_use(value: str, message: str) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "service"],
        env={GRACE_VARIABLE: value, "PATH": ""},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert f"configuration error: {message}" in result.stderr
