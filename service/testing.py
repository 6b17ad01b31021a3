"""Test harness: run Sluice as a child process on a free loopback port (used by the
tests, the benchmarks and the fault drills; never by the service itself)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Mapping
from pathlib import Path
from types import TracebackType
from typing import Self

import httpx

from service.settings import Settings, env_name

#: The setting that bounds how long a stopping Sluice gives the requests still open.
GRACE_VARIABLE = env_name("shutdown_grace_seconds")
#: Its value for a test's Sluice unless the test's `env` sets it: a request a test left
#: open (a stream, a watch) must not hold the stop up (`stop` waits 15 s, then kills).
TEST_GRACE_SECONDS = "3"


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class SluiceProcess:
    """`uvicorn service.app:create_app` in a child process, configured by `env`
    (SLUICE_SHUTDOWN_GRACE_SECONDS is `TEST_GRACE_SECONDS` unless `env` sets it)."""

    def __init__(
        self,
        env: Mapping[str, str],
        port: int | None = None,
        log_path: Path | None = None,
        app: str = "service.app:create_app",
    ) -> None:
        self.env = {GRACE_VARIABLE: TEST_GRACE_SECONDS, **env}
        self.port = port or free_port()
        self.log_path = log_path
        self.app = app
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def argv(self) -> list[str]:
        """The command that serves Sluice on `port`."""
        grace = Settings.from_env({GRACE_VARIABLE: self.env[GRACE_VARIABLE]})
        trusted = "FORWARDED_ALLOW_IPS" in {**os.environ, **self.env}
        return [
            sys.executable, "-m", "uvicorn", self.app, "--factory",
            "--host", "127.0.0.1", "--port", str(self.port),
            "--log-level", "warning", "--no-access-log",
            "--timeout-graceful-shutdown", str(grace.shutdown_grace_seconds),
            # As `python -m service` serves: X-Forwarded-For only from a trusted proxy.
            *([] if trusted else ["--no-proxy-headers"]),
        ]  # fmt: skip

    def start(self, timeout: float = 60.0) -> Self:
        """Start the server and wait until /healthz answers."""
        output = self.log_path.open("ab") if self.log_path else subprocess.DEVNULL
        try:
            self.process = subprocess.Popen(
                self.argv(),
                env={**os.environ, **self.env},
                stdin=subprocess.DEVNULL,
                stdout=output,
                stderr=output,
            )
        finally:
            if not isinstance(output, int):
                output.close()  # the child has its own copy
        deadline = time.monotonic() + timeout
        while True:
            if self.process.poll() is not None:
                raise RuntimeError(
                    f"sluice exited with code {self.process.returncode} at start "
                    f"(log: {self.log_path})"
                )
            try:
                if httpx.get(f"{self.url}/healthz", timeout=1).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"sluice did not answer within {timeout}s")
            time.sleep(0.05)

    def stop(self, timeout: float = 15.0) -> None:
        """Stop gracefully (SIGTERM), then SIGKILL if it lingers."""
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()

    def kill(self) -> None:
        """Stop abruptly (SIGKILL), as a crash would."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()


class LauncherProcess(SluiceProcess):
    """`python -m service`, the product launcher (what `make run` runs), in a child
    process on `port`, configured by `env` (with MONGODB_URI in it, it starts no
    database; SLUICE_HOST and SLUICE_PORT are set for it)."""

    def __init__(
        self, env: Mapping[str, str], port: int | None = None, log_path: Path | None = None
    ) -> None:
        super().__init__(env, port, log_path)
        self.env.update(SLUICE_HOST="127.0.0.1", SLUICE_PORT=str(self.port))

    def argv(self) -> list[str]:
        return [sys.executable, "-m", "service"]


class SluiceStarter:
    """Starts Sluice processes, each on a database of its own (unless the overrides name
    one) and logging to a file of its own under `logs`; `stop_all()` ends every one.

    `start(name, **overrides)`: a started Sluice with `env` and the overrides (such as
    SLUICE_REAPER_INTERVAL="0.2"); `name` labels its database and log file. As a
    context manager, it stops them all on exit.
    """

    def __init__(self, env: Mapping[str, str], logs: Path) -> None:
        self.env = dict(env)
        self.logs = logs
        self.started: list[SluiceProcess] = []

    def start(self, name: str = "sluice", **overrides: str) -> SluiceProcess:
        tag = f"{name}-{len(self.started)}"
        env = {
            **self.env,
            "SLUICE_DB_NAME": f"sluice_{tag.replace('-', '_')}_{uuid.uuid4().hex[:8]}",
        }
        process = SluiceProcess({**env, **overrides}, log_path=self.logs / f"{tag}.log")
        self.started.append(process)
        return process.start()

    __call__ = start

    def stop_all(self) -> None:
        """Stop every Sluice this starter started (a killed one is already stopped)."""
        for process in self.started:
            process.stop()

    def __enter__(self) -> SluiceStarter:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop_all()
