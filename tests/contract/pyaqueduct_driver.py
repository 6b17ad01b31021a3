"""Runs calls of the unmodified pyaqueduct client for the contract tests.

Started by tests/contract/aqueduct.py under the interpreter of the client's own venv
(pyaqueduct pins httpx<0.25, which Sluice's venv cannot hold), so it imports nothing
of this repository. It reads one JSON request per line on stdin and answers one JSON
line each on stdout:

    {"op": "connect", "url": ..., "timeout": ..., "token": ...}  -> a new API
    {"op": "get" | "set" | "call", "target": <handle>, "name": ..., ...}

Values other than JSON ones travel as {"$uuid": ...}, {"$datetime": ...} and, for any
other object (an API, an Experiment...), {"$handle": id, "type": name}. A raised
exception is answered as {"error": class name, "module": ..., "message": ...}.
"""

from __future__ import annotations

import datetime
import importlib.metadata
import json
import os
import sys
import uuid
from typing import Any

handles: dict[str, Any] = {}


def encode(value: Any) -> Any:
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, uuid.UUID):
        return {"$uuid": str(value)}
    if isinstance(value, datetime.datetime):
        return {"$datetime": value.isoformat()}
    if isinstance(value, list | tuple):
        return [encode(item) for item in value]
    handle = f"h{len(handles)}"
    handles[handle] = value
    return {"$handle": handle, "type": type(value).__name__}


def decode(value: Any) -> Any:
    if isinstance(value, dict):
        if "$handle" in value:
            return handles[value["$handle"]]
        if "$datetime" in value:
            return datetime.datetime.fromisoformat(value["$datetime"])
        if "$uuid" in value:
            return uuid.UUID(value["$uuid"])
        return {key: decode(item) for key, item in value.items()}
    if isinstance(value, list):
        return [decode(item) for item in value]
    return value


def run(request: dict[str, Any]) -> Any:
    op = request["op"]
    if op == "version":
        return importlib.metadata.version("pyaqueduct")
    if op == "connect":
        # pyaqueduct reads API_TOKEN from the environment when an API is made.
        if request.get("token"):
            os.environ["API_TOKEN"] = request["token"]
        else:
            os.environ.pop("API_TOKEN", None)
        from pyaqueduct import API

        return API(request["url"], timeout=request["timeout"])
    target = decode(request["target"])
    if op == "get":
        return getattr(target, request["name"])
    if op == "set":
        setattr(target, request["name"], decode(request["value"]))
        return None
    method = getattr(target, request["name"])
    return method(*decode(request.get("args", [])), **decode(request.get("kwargs", {})))


def main() -> None:
    for line in sys.stdin:
        try:
            answer = {"ok": encode(run(json.loads(line)))}
        except Exception as exc:
            kind = type(exc)
            answer = {"error": kind.__name__, "module": kind.__module__, "message": str(exc)}
        sys.stdout.write(json.dumps(answer) + "\n")
        sys.stdout.flush()


if __name__ == "__main__":
    main()
