"""`python -m service` (the launcher) stops within SLUICE_SHUTDOWN_GRACE_SECONDS of a
SIGTERM even while a request is still open, answers a request it cuts off before its
answer 503 `shutting_down` (in its surface's error shape), ends a download under way
short, logs neither as a traceback (and in JSON logs uvicorn's lines as JSON too), and
refuses a grace it cannot use."""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest

from service.testing import GRACE_VARIABLE, LauncherProcess

#: The grace the launcher is started with here: short, to keep the test fast.
GRACE = 1
#: Seconds past the grace the stop may take (closing the database client, the periodic
#: jobs and the interpreter): a liveness bound, far below "never".
MARGIN = 10


@pytest.fixture
def launcher(
    sluice_env: dict[str, str], tmp_path: Path, request: pytest.FixtureRequest
) -> Iterator[LauncherProcess]:
    """A started `python -m service` on the test database, logging to `sluice.log` in
    the SLUICE_LOG_FORMAT the test is parametrised with (indirectly), else text."""
    env = {
        **sluice_env,
        GRACE_VARIABLE: str(GRACE),
        # No handler deadline: only the grace may end the request left open below.
        "SLUICE_REQUEST_TIMEOUT": "0",
        "SLUICE_LOG_LEVEL": "warning",
        "SLUICE_LOG_FORMAT": getattr(request, "param", "text"),
    }
    with LauncherProcess(env, log_path=tmp_path / "sluice.log") as process:
        yield process


def open_upload(port: int, path: str = "/results/results") -> socket.socket:
    """A POST to `path` whose body never arrives, once Sluice's handler is waiting for it."""
    connection = socket.create_connection(("127.0.0.1", port), timeout=30)
    connection.sendall(
        f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n".encode()
        + b"Content-Type: application/json\r\nContent-Length: 1000\r\n"
        b"Expect: 100-continue\r\n\r\n"
    )
    # The server answers 100 Continue when the handler starts reading the body.
    assert connection.recv(1024).startswith(b"HTTP/1.1 100 Continue")
    connection.sendall(b'[{"pipeline": ')
    return connection


def read_to_end(connection: socket.socket, received: bytes = b"") -> bytes:
    """Everything the server sends on `connection` until it closes it."""
    while True:
        try:
            chunk = connection.recv(1 << 16)
        except ConnectionResetError:
            return received
        if not chunk:
            return received
        received += chunk


def split_answer(raw: bytes) -> tuple[int, dict[str, str], bytes]:
    """An HTTP/1.1 answer's status, headers (names in lower case) and body."""
    head, _, body = raw.partition(b"\r\n\r\n")
    status_line, *lines = head.decode("latin-1").split("\r\n")
    headers = {}
    for line in lines:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    return int(status_line.split()[1]), headers, body


def stop_within_grace(launcher: LauncherProcess) -> float:
    """SIGTERM the launcher and wait for it to end; the seconds it took."""
    assert launcher.process is not None
    process = launcher.process
    started = time.monotonic()
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(GRACE + MARGIN)
    except subprocess.TimeoutExpired:
        pytest.fail(f"python -m service still ran {GRACE + MARGIN} s after SIGTERM")
    assert process.returncode == 0
    return time.monotonic() - started


def assert_no_traceback(log: str) -> None:
    assert "timeout graceful shutdown exceeded" in log  # the request was cut off
    assert "Traceback" not in log
    assert "Exception in ASGI application" not in log


def native(body: dict[str, Any]) -> dict[str, Any]:
    assert set(body) == {"error"}
    error: dict[str, Any] = body["error"]
    return error


def aero(body: dict[str, Any]) -> dict[str, Any]:
    # AERO's client reads the status and message at the top level.
    assert body["code"] == 503 and body["message"] == body["error"]["message"]
    error: dict[str, Any] = body["error"]
    return error


def flowserv(body: dict[str, Any]) -> dict[str, Any]:
    # flowServ's client reads the message at the top level.
    assert set(body) == {"message", "error"} and body["message"] == body["error"]["message"]
    error: dict[str, Any] = body["error"]
    return error


@pytest.mark.parametrize(
    ("path", "shape"),
    [
        ("/results/results", native),
        ("/osprey/api/v1.0/data", aero),
        ("/flowserv/api/v1/users/login", flowserv),
    ],
)
def test_a_sigterm_ends_the_launcher_within_the_grace_answering_the_open_request_503(
    launcher: LauncherProcess, tmp_path: Path, path: str, shape: Any
) -> None:
    with open_upload(launcher.port, path) as connection:
        took = stop_within_grace(launcher)
        answer = read_to_end(connection)
    assert took >= GRACE  # the open request was given its grace
    status, headers, body = split_answer(answer)
    assert status == 503, answer
    assert headers["retry-after"] == "1"
    assert headers["content-type"] == "application/json"
    error = shape(orjson.loads(body))
    assert error["code"] == "shutting_down"
    assert error["details"] == {"limit": GRACE_VARIABLE}
    assert "stopping" in error["message"]
    assert "may or may not have been applied" in error["message"]
    log = (tmp_path / "sluice.log").read_text()
    assert_no_traceback(log)
    assert f"POST {path} 503" in log
    assert "(cut off by the stopping server: answered 503)" in log


@pytest.mark.parametrize("launcher", ["json"], indirect=True)
def test_in_json_the_cut_off_is_logged_as_json_lines(
    launcher: LauncherProcess, tmp_path: Path
) -> None:
    with open_upload(launcher.port):
        stop_within_grace(launcher)
    log = (tmp_path / "sluice.log").read_text()
    assert_no_traceback(log)
    # The launcher's own lines (the warning that auth is off) are printed, not logged.
    records = [orjson.loads(line) for line in log.splitlines() if not line.startswith("sluice: ")]
    (server,) = [record for record in records if record["logger"] == "uvicorn.error"]
    assert "timeout graceful shutdown exceeded" in server["message"]
    (line,) = [record for record in records if record["logger"] == "sluice.http"]
    assert line["level"] == "warning"
    assert line["http"]["status"] == 503 and line["http"]["cut_off"] is True


#: Size of the file downloaded below: far more than the socket buffers between the two
#: processes hold (the kernel's send buffer grows to 4 MiB by default on Linux).
DOWNLOAD_BYTES = 16 << 20


def test_a_download_under_way_ends_short_without_a_traceback(
    launcher: LauncherProcess, tmp_path: Path
) -> None:
    with httpx.Client(base_url=launcher.url, timeout=60) as http:
        eid = http.post("/experiments", json={"title": "shutdown"}).json()["eid"]
        path = f"/experiments/{eid}/files/big.bin"
        assert http.put(path, content=bytes(DOWNLOAD_BYTES)).status_code == 200
    with socket.socket() as connection:
        # A small receive window: the server's writes stall once the buffers are full.
        connection.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        connection.settimeout(30)
        connection.connect(("127.0.0.1", launcher.port))
        connection.sendall(f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".encode())
        first = connection.recv(1024)
        assert first.startswith(b"HTTP/1.1 200 OK")
        stop_within_grace(launcher)
        answer = read_to_end(connection, first)
    status, headers, body = split_answer(answer)
    assert status == 200 and headers["content-length"] == str(DOWNLOAD_BYTES)
    assert len(body) < DOWNLOAD_BYTES  # ended short: no 503 could follow a 200
    log = (tmp_path / "sluice.log").read_text()
    assert_no_traceback(log)
    assert f"GET {path} 200" in log
    assert "(cut off by the stopping server: the answer ended short)" in log


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
