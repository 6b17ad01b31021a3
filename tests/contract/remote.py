"""The test side of `tests.contract.agent`: start it, send it requests, raise its errors.

Tests call the real client through `RemoteBackend` as if it were local
(`results.view(pipeline, {...})`); arguments and return values travel as JSON.
"""

from __future__ import annotations

import json
import select
import subprocess
import sys
from collections.abc import Callable, Mapping
from pathlib import Path
from types import TracebackType
from typing import Any

PROJECT_ROOT = Path(__file__).resolve().parents[2]


class ClientError(Exception):
    """The real client raised an exception in the agent; `kind` is its qualified type name."""

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(f"{kind}: {message}")
        self.kind = kind
        self.message = message


class ClientHTTPError(ClientError):
    """`requests` raised HTTPError: Sluice answered `status_code` with `body`."""

    def __init__(
        self, kind: str, message: str, status_code: int, body: Any, method: str, url: str
    ) -> None:
        super().__init__(kind, message)
        self.status_code = status_code
        self.body = body
        self.method = method
        self.url = url


class RemoteBackend:
    """One backend client (`context.results`, `context.buckets`) living in the agent."""

    def __init__(self, agent: WorkflowAgent, name: str, baseurl: str) -> None:
        self.agent = agent
        self.name = name
        self.baseurl = baseurl

    def __getattr__(self, method: str) -> Callable[..., Any]:
        if method.startswith("_"):
            raise AttributeError(method)

        def call(*args: Any, **kwargs: Any) -> Any:
            return self.agent.request(
                {
                    "op": "call",
                    "backend": self.name,
                    "method": method,
                    "args": list(args),
                    "kwargs": kwargs,
                }
            )

        return call


class WorkflowAgent:
    """The agent as a child process whose environment (HOME above all) is `env`."""

    def __init__(self, env: Mapping[str, str], log_path: Path, timeout: float = 60.0) -> None:
        self.env = dict(env)
        self.log_path = log_path
        self.timeout = timeout
        self.process: subprocess.Popen[str] | None = None
        #: The HTTP requests the client sent while serving the last request.
        self.sent: list[dict[str, Any]] = []

    def start(self) -> WorkflowAgent:
        """Start the agent; its stderr (the client's logs) goes to `log_path`."""
        with self.log_path.open("a") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "tests.contract.agent"],
                cwd=PROJECT_ROOT,
                env=self.env,
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=log,
                text=True,
                encoding="utf-8",
            )
        return self

    def stop(self) -> None:
        """Close the agent's stdin and wait for it to exit (kill it after 10 s)."""
        if self.process is None:
            return
        assert self.process.stdin is not None
        self.process.stdin.close()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self.process = None

    def __enter__(self) -> WorkflowAgent:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    def _log_tail(self) -> str:
        return self.log_path.read_text(errors="replace")[-4000:]

    def request(self, message: dict[str, Any]) -> Any:
        """Send one request; its value, or raise ClientHTTPError / ClientError."""
        process = self.process
        assert process is not None and process.stdin is not None and process.stdout is not None
        process.stdin.write(json.dumps(message) + "\n")
        process.stdin.flush()
        ready, _, _ = select.select([process.stdout], [], [], self.timeout)
        line = process.stdout.readline() if ready else ""
        if not line:
            raise RuntimeError(
                f"the workflow agent gave no answer to {message.get('op')!r} "
                f"(exit code {process.poll()}); its log:\n{self._log_tail()}"
            )
        reply: dict[str, Any] = json.loads(line)
        self.sent = reply["sent"]
        if "error" not in reply:
            return reply["ok"]
        error = reply["error"]
        if "status" in error:
            raise ClientHTTPError(
                error["type"],
                error["message"],
                error["status"],
                error["body"],
                error["method"],
                error["url"],
            )
        raise ClientError(error["type"], error["message"])

    def default_workspace(self) -> Path:
        """The active workspace file the client reads (computed from HOME at import)."""
        return Path(self.request({"op": "paths"})["workspace"])

    def connect(self, backend: str) -> RemoteBackend:
        """`HTTPContext(backends=[backend])`; fails unless the client object was created."""
        created = self.request({"op": "connect", "backends": [backend]})
        baseurl = created[backend]
        if baseurl is None:
            raise RuntimeError(
                f"the workflow client could not create its {backend} client "
                f"(HEAD {{baseurl}}/version failed?); its log:\n{self._log_tail()}"
            )
        return RemoteBackend(self, backend, baseurl)

    def work(self, **fields: Any) -> dict[str, Any]:
        """The payload of the client's own `Work(**fields)`."""
        payload: dict[str, Any] = self.request({"op": "work", "fields": fields})
        return payload

    def parse(self, payload: dict[str, Any]) -> dict[str, Any]:
        """The payload of the client's `Work.from_dict(payload)`; raises if it refuses it."""
        parsed: dict[str, Any] = self.request({"op": "parse", "payload": payload})
        return parsed

    def withdraw_work(self, **kwargs: Any) -> dict[str, Any] | None:
        """The payload of the client's `Work.withdraw(**kwargs)`; the agent keeps the Work."""
        payload: dict[str, Any] | None = self.request({"op": "withdraw", "kwargs": kwargs})
        return payload

    def edit_work(self, work_id: str, **fields: Any) -> dict[str, Any]:
        """Assign `fields` on the kept Work, as a script edits it; its payload after."""
        payload: dict[str, Any] = self.request({"op": "edit", "id": work_id, "fields": fields})
        return payload

    def update_work(self, work_id: str) -> Any:
        """What the kept Work's `update()` returns."""
        return self.request({"op": "update", "id": work_id})

    def daemon(self, name: str, *args: str) -> Any:
        """What `workflow <name> <args>` returns (with `--test-mode`), run in the agent."""
        return self.request({"op": "daemon", "name": name, "args": list(args)})
