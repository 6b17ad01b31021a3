"""The real pyaqueduct 0.1.0, driven from the tests through tests/contract/pyaqueduct_driver.py
in the client's own venv (`make install` builds it at .venv/pyaqueduct)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

DRIVER = Path(__file__).with_name("pyaqueduct_driver.py")
#: The client's venv, next to the one running the tests.
PYTHON = Path(sys.prefix) / "pyaqueduct" / "bin" / "python"


class ClientError(Exception):
    """An exception the client raised: `kind` is its class name (`RemoteOperationError`,
    `UnAuthorizedError`...)."""

    def __init__(self, kind: str, module: str, message: str) -> None:
        super().__init__(f"{module}.{kind}: {message}")
        self.kind = kind
        self.module = module
        self.message = message


class Handle:
    """An object living in the driver (an API, an Experiment...)."""

    def __init__(self, driver: Driver, ref: dict[str, str]) -> None:
        self.driver = driver
        self.ref = ref
        self.type = ref["type"]

    def call(self, name: str, *args: Any, **kwargs: Any) -> Any:
        return self.driver.send(
            {"op": "call", "target": self.ref, "name": name, "args": args, "kwargs": kwargs}
        )

    def get(self, name: str) -> Any:
        return self.driver.send({"op": "get", "target": self.ref, "name": name})

    def set(self, name: str, value: Any) -> None:
        self.driver.send({"op": "set", "target": self.ref, "name": name, "value": value})


class Driver:
    """One driver process; `connect()` makes `pyaqueduct.API(url, timeout)` objects."""

    def __init__(self, log: Path) -> None:
        if not PYTHON.exists():
            raise RuntimeError(f"{PYTHON} is missing: `make install` builds the client's venv")
        self.stderr = log.open("ab")
        self.process = subprocess.Popen(
            [str(PYTHON), str(DRIVER)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self.stderr,
            text=True,
        )

    def send(self, request: dict[str, Any]) -> Any:
        assert self.process.stdin is not None and self.process.stdout is not None
        self.process.stdin.write(json.dumps(request, default=_encode) + "\n")
        self.process.stdin.flush()
        line = self.process.stdout.readline()
        if not line:
            raise RuntimeError("the pyaqueduct driver exited")
        answer = json.loads(line)
        if "error" in answer:
            raise ClientError(answer["error"], answer["module"], answer["message"])
        return self._decode(answer["ok"])

    def _decode(self, value: Any) -> Any:
        if isinstance(value, list):
            return [self._decode(item) for item in value]
        if isinstance(value, dict):
            if "$handle" in value:
                return Handle(self, value)
            if "$uuid" in value:
                return value["$uuid"]
            if "$datetime" in value:
                from datetime import datetime

                return datetime.fromisoformat(value["$datetime"])
        return value

    def connect(self, url: str, timeout: float, token: str | None = None) -> Handle:
        api = self.send({"op": "connect", "url": url, "timeout": timeout, "token": token})
        assert isinstance(api, Handle)
        return api

    def version(self) -> str:
        version: str = self.send({"op": "version"})
        return version

    def close(self) -> None:
        if self.process.stdin is not None:
            self.process.stdin.close()
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        if self.process.stdout is not None:
            self.process.stdout.close()
        self.stderr.close()


def _encode(value: Any) -> Any:
    from datetime import datetime

    if isinstance(value, Handle):
        return value.ref
    if isinstance(value, datetime):
        return {"$datetime": value.isoformat()}
    raise TypeError(f"cannot send {type(value).__name__}")
