"""The embedded MongoDB server (SecantusDB), run as a separate process.

SecantusDB is GPL-2.0-only, so it is started as a program (`secantusd-py`) and never
imported. Used by `make run` (persistent data, `--sync-on-commit`) and by the test
suite and benchmarks (a fresh server on a free port).

On Linux the server is asked to stop (SIGTERM) when the process that started it dies,
even by SIGKILL. `stop_leftover()` (what `make run` calls first) stops a server still
running on the same data directory, e.g. one an older Sluice left behind; off Linux it
names the pid `<data directory>.pid` recorded and says to kill it. Either way a port
taken by anything else is named in one line.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from types import TracebackType

from pymongo import MongoClient

_LISTENING = re.compile(r"listening on [\d.]+:(\d+)")
#: prctl(2) option: the signal the calling process gets when its parent thread dies.
_PR_SET_PDEATHSIG = 1
_PROC = Path("/proc")
#: Seconds a leftover server gets to stop on SIGTERM before it is killed.
LEFTOVER_STOP_TIMEOUT = 20.0
#: Oplog entries an in-memory server keeps (its own default is 100,000 whole documents).
MEMORY_OPLOG_ENTRIES = 2000


class EmbeddedDatabaseError(RuntimeError):
    """The embedded server could not be started."""


def _parent_death_signal() -> Callable[[], None] | None:
    """A function for the child between fork and exec, on Linux: it asks for SIGTERM when
    the parent dies (kept across exec), and stops at once if the parent is already gone.
    None elsewhere. prctl is looked up here, in the parent: after a fork in a process
    with threads the child must not load libraries."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        prctl = ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None
    parent = os.getpid()

    def in_child() -> None:
        prctl(_PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)
        if os.getppid() != parent:
            os.kill(os.getpid(), signal.SIGTERM)

    return in_child


def _port_taken(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(1)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def _command_line(pid: int) -> list[str] | None:
    """The argv of process `pid`; None if it is not running, has exited (a zombie has
    none) or cannot be read (off Linux)."""
    try:
        raw = (_PROC / str(pid) / "cmdline").read_bytes()
    except OSError:
        return None
    return [part.decode(errors="replace") for part in raw.split(b"\0") if part] or None


def _processes() -> list[int]:
    """The pids of the running processes (Linux)."""
    return [int(entry.name) for entry in _PROC.iterdir() if entry.name.isdigit()]


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


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
    def pid_file(self) -> Path | None:
        """Where a server on a data directory records its pid (None in memory)."""
        if self.storage_path == ":memory:":
            return None
        data = Path(self.storage_path).resolve()
        return data.with_name(data.name + ".pid")

    def stop_leftover(self) -> int | None:
        """Stop a server still running on this data directory; return its pid, or None
        when there was none. On Linux it is found among the running processes; elsewhere
        the pid `pid_file` records can only be named: EmbeddedDatabaseError in one line
        saying what to run, as when the port is taken by anything else."""
        stopped = None
        if _PROC.is_dir():
            for pid in _processes():
                argv = _command_line(pid)
                if argv is not None and self._is_ours(pid, argv):
                    self._terminate(pid)
                    stopped = pid
        else:
            recorded = self._recorded_pid()
            if recorded is not None and _alive(recorded):
                raise EmbeddedDatabaseError(
                    f"an embedded database from an earlier run may still hold "
                    f"{self.storage_path} (pid {recorded}): run `kill {recorded}` and start again"
                )
        if self.requested_port and _port_taken(self.requested_port):
            raise EmbeddedDatabaseError(
                f"port {self.requested_port} is in use by another program (not the embedded "
                f"database of {self.storage_path}): stop it, or set SLUICE_EMBEDDED_PORT to a "
                "free port"
            )
        return stopped

    def _recorded_pid(self) -> int | None:
        if self.pid_file is None:
            return None
        try:
            return int(self.pid_file.read_text().split()[0])
        except (OSError, ValueError, IndexError):
            return None

    def _is_ours(self, pid: int, argv: list[str]) -> bool:
        """Whether `argv` (of process `pid`) is a SecantusDB server on this directory; a
        relative --storage-path is taken from that process's working directory."""
        if self.storage_path == ":memory:" or pid == os.getpid():
            return False
        if not any(Path(part).name == "secantusd-py" for part in argv[:2]):
            return False
        try:
            path = Path(argv[argv.index("--storage-path") + 1])
            if not path.is_absolute():
                path = Path(os.readlink(_PROC / str(pid) / "cwd")) / path
        except (ValueError, IndexError, OSError):
            return False
        return path.resolve() == Path(self.storage_path).resolve()

    def _terminate(self, pid: int) -> None:
        try:
            os.kill(pid, signal.SIGTERM)
        except PermissionError:
            raise EmbeddedDatabaseError(
                f"another user's embedded database (pid {pid}) holds {self.storage_path}: "
                f"have it stopped (`kill {pid}`), or set SLUICE_EMBEDDED_PATH"
            ) from None
        deadline = time.monotonic() + LEFTOVER_STOP_TIMEOUT
        while _command_line(pid) is not None:
            if time.monotonic() > deadline:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
                break
            time.sleep(0.1)

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
        if self.storage_path == ":memory:":
            # Nothing reads the oplog (Sluice opens no change stream), and a server in
            # memory slowed down as its oplog filled: about half the slowdown after
            # 50,000 writes was gone with it capped.
            argv += ["--oplog-max-entries", str(MEMORY_OPLOG_ENTRIES)]
        # Its own session: a Ctrl-C in the terminal reaches Sluice, which then stops the
        # database in order, after the last request. If Sluice dies instead, Linux stops it.
        self.process = subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
            start_new_session=True,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
            preexec_fn=_parent_death_signal(),
        )
        if self.pid_file is not None:
            self.pid_file.write_text(f"{self.process.pid}\n")
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
        """Stop the server: SIGTERM, then SIGKILL if it lingers. An in-memory server is
        killed at once: it has nothing to keep, and its orderly shutdown took seconds
        after a large test."""
        process = self.process
        if process is None or process.poll() is not None:
            return
        if self.storage_path != ":memory:":
            process.send_signal(signal.SIGTERM)
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(timeout)
        self.kill()
        self._forget()

    def _forget(self) -> None:
        process, pid_file = self.process, self.pid_file
        if pid_file is not None and process is not None and self._recorded_pid() == process.pid:
            pid_file.unlink(missing_ok=True)

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
