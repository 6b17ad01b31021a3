"""The embedded MongoDB server (SecantusDB), run as a separate process.

SecantusDB is GPL-2.0-only, so it is started as a program (`secantusd-py`) and never
imported. Used by `make run` (persistent data, `--sync-on-commit`) and by the test
suite and benchmarks (a fresh server on a free port).
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from types import TracebackType

from pymongo import MongoClient

_LISTENING = re.compile(r"listening on [\d.]+:(\d+)")


class EmbeddedDatabaseError(RuntimeError):
    """The embedded server could not be started."""


def _server_program() -> str:
    beside_python = Path(sys.executable).parent / "secantusd-py"
    if beside_python.exists():
        return str(beside_python)
    found = shutil.which("secantusd-py")
    if found is None:
        raise EmbeddedDatabaseError(
            "secantusd-py not found: install the embedded extra (pip install 'sluice[embedded]') "
            "or set MONGODB_URI to a MongoDB replica set"
        )
    return found


class EmbeddedDatabase:
    """A SecantusDB process on 127.0.0.1; use as a context manager or start()/stop()."""

    def __init__(
        self,
        storage_path: str = ":memory:",
        port: int = 0,
        sync_on_commit: bool = True,
        log_path: Path | None = None,
    ) -> None:
        self.storage_path = storage_path
        self.requested_port = port
        self.sync_on_commit = sync_on_commit
        self.log_path = log_path
        self.port: int | None = None
        self.process: subprocess.Popen[str] | None = None
        self._ready = threading.Event()

    @property
    def uri(self) -> str:
        """Connection string for this server."""
        if self.port is None:
            raise EmbeddedDatabaseError("the embedded database is not running")
        return f"mongodb://127.0.0.1:{self.port}/?directConnection=true"

    def start(self, timeout: float = 60.0) -> str:
        """Start the server, wait until it answers ping, and return its URI."""
        if self.storage_path != ":memory:":
            Path(self.storage_path).mkdir(parents=True, exist_ok=True)
        self._ready = threading.Event()
        self.port = None
        argv = [
            _server_program(),
            "--host", "127.0.0.1",
            "--port", str(self.requested_port),
            "--storage-path", self.storage_path,
            # INFO: the "listening on" line is how the chosen port is learnt.
            "--log-level", "INFO",
        ]  # fmt: skip
        if self.sync_on_commit:
            argv.append("--sync-on-commit")
        # Its own session: a Ctrl-C in the terminal reaches Sluice, which then stops the
        # database in order, after the last request.
        self.process = subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
            start_new_session=True,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
        threading.Thread(target=self._drain, daemon=True).start()
        deadline = time.monotonic() + timeout
        try:
            while not self._ready.wait(0.05):
                if self.process.poll() is not None or time.monotonic() > deadline:
                    raise EmbeddedDatabaseError(
                        f"secantusd-py did not start (exit code {self.process.returncode}); "
                        f"see {self.log_path or 'its stderr'}"
                    )
            self._wait_for_ping(deadline)
        except BaseException:
            self.stop()
            raise
        return self.uri

    def _drain(self) -> None:
        # The pipe must be read for the server's whole life, or it blocks when it fills.
        assert self.process is not None and self.process.stderr is not None
        log = self.log_path.open("a") if self.log_path else None
        try:
            for line in self.process.stderr:
                if log is not None:
                    log.write(line)
                    log.flush()
                if not self._ready.is_set():
                    match = _LISTENING.search(line)
                    if match:
                        self.port = int(match.group(1))
                        self._ready.set()
        finally:
            if log is not None:
                log.close()

    def _wait_for_ping(self, deadline: float) -> None:
        client: MongoClient[dict[str, object]] = MongoClient(self.uri, serverSelectionTimeoutMS=500)
        try:
            while True:
                try:
                    client.admin.command("ping")
                    return
                except Exception as exc:
                    if time.monotonic() > deadline:
                        raise EmbeddedDatabaseError(
                            f"embedded database never answered: {exc}"
                        ) from exc
                    time.sleep(0.1)
        finally:
            client.close()

    def stop(self, timeout: float = 20.0) -> None:
        """Stop the server: SIGTERM, then SIGKILL if it lingers."""
        process = self.process
        if process is None or process.poll() is not None:
            return
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()

    def kill(self) -> None:
        """Stop the server abruptly (SIGKILL), as a crash would."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait()

    def __enter__(self) -> EmbeddedDatabase:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()
