"""Child program that drives the real CHIME/FRB `workflow` client for the contract tests.

Run as `python -m tests.contract.agent` with HOME already pointing at an isolated home:
the client fixes its workspace path from HOME when it is first imported, so this module
imports it only inside `Agent`. It reads one JSON request per line on stdin and writes one
JSON reply per line on its original stdout; whatever the client logs or prints goes to
stderr instead.

Requests (`op`):
    paths                            -> where the client looks for its active workspace
    connect  {backends: [name]}      -> HTTPContext(backends=...); base URL or null per backend
    work     {fields: {...}}         -> Work(**fields).payload
    parse    {payload: {...}}        -> Work.from_dict(payload).payload (as withdraw parses)
    call     {backend, method, args, kwargs} -> what `context.<backend>.<method>(...)` returned
    withdraw {kwargs}                -> Work.withdraw(**kwargs).payload (or null); the Work
                                        object is kept, by id, for `edit` and `update`
    edit     {id, fields}            -> sets the fields on the kept Work; its payload
    update   {id}                    -> what the kept Work's `update()` returned
    daemon   {name, args}            -> what `workflow <name> <args>` (audit, transfer)
                                        returned, run in this process

Replies are `{"ok": value, "sent": [...]}` or `{"error": {...}, "sent": [...]}`, where
`sent` lists the HTTP requests the client made while serving the request.
"""

from __future__ import annotations

import json
import os
import sys
from typing import Any


def _body(raw: bytes | str | None) -> Any:
    if raw is None:
        return None
    text = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else raw
    try:
        return json.loads(text)
    except ValueError:
        return text


def _qualified(exc: BaseException) -> str:
    return f"{type(exc).__module__}.{type(exc).__qualname__}"


class Agent:
    """Holds the client objects of one process and serves requests against them."""

    def __init__(self) -> None:
        self.backends: dict[str, Any] = {}
        self.works: dict[str, Any] = {}
        self.sent: list[dict[str, Any]] = []

    def _record(self, response: Any, *args: Any, **kwargs: Any) -> Any:
        request = response.request
        self.sent.append(
            {
                "method": request.method,
                "url": request.url,
                "body": _body(request.body),
                "status": response.status_code,
            }
        )
        return response

    def paths(self) -> dict[str, str]:
        """Where the client looks for its active workspace."""
        import workflow

        return {"workspace": str(workflow.DEFAULT_WORKSPACE_PATH)}

    def connect(self, backends: list[str]) -> dict[str, str | None]:
        """Build `HTTPContext(backends=...)`; the base URL of each client created, else None."""
        from workflow.http.context import HTTPContext

        context = HTTPContext(backends=backends)
        created: dict[str, str | None] = {}
        for name in backends:
            client = getattr(context, name)
            created[name] = None if client is None else str(client.baseurl)
            if client is not None:
                self.backends[name] = client
                # The session is a class-level default shared by every client: hook it once.
                if self._record not in client.session.hooks["response"]:
                    client.session.hooks["response"].append(self._record)
        return created

    def work(self, fields: dict[str, Any]) -> dict[str, Any]:
        """The payload of `Work(**fields)`; raises the client's own validation errors."""
        from workflow.definitions.work import Work

        payload: dict[str, Any] = Work(**fields).payload
        return payload

    def parse(self, payload: dict[str, Any]) -> dict[str, Any]:
        """The payload of `Work.from_dict(payload)`, as `Work.withdraw` parses a reply."""
        from workflow.definitions.work import Work

        parsed: dict[str, Any] = Work.from_dict(payload).payload
        return parsed

    def withdraw(self, kwargs: dict[str, Any]) -> dict[str, Any] | None:
        """`Work.withdraw(**kwargs)`, as `workflow run` and admin scripts withdraw."""
        from workflow.definitions.work import Work

        work = Work.withdraw(**kwargs)
        if work is None:
            return None
        self.works[str(work.id)] = work
        payload: dict[str, Any] = work.payload
        return payload

    def edit(self, work_id: str, fields: dict[str, Any]) -> dict[str, Any]:
        """Assign `fields` on the kept Work (the client validates each assignment); a
        dotted name such as `config.archive.results` assigns inside the Work."""
        work = self.works[work_id]
        for name, value in fields.items():
            *path, last = name.split(".")
            target = work
            for part in path:
                target = getattr(target, part)
            setattr(target, last, value)
        payload: dict[str, Any] = work.payload
        return payload

    def update(self, work_id: str) -> Any:
        """The kept Work's `update()`: what `PUT /work` answered, after the client's retries."""
        return self.works[work_id].update()

    def daemon(self, name: str, args: list[str]) -> Any:
        """The return value of a client daemon's command (`--test-mode` returns it)."""
        from workflow.daemons.audit import audit
        from workflow.daemons.transfer import transfer

        command = {"audit": audit, "transfer": transfer}[name]
        return command.main(args=args, standalone_mode=False)

    def call(self, backend: str, method: str, args: list[Any], kwargs: dict[str, Any]) -> Any:
        """What a public method of a connected backend client returns."""
        if backend not in self.backends:
            raise LookupError(f"backend {backend!r} is not connected")
        if method.startswith("_"):
            raise LookupError(f"method {method!r} is private")
        return getattr(self.backends[backend], method)(*args, **kwargs)

    def handle(self, message: dict[str, Any]) -> dict[str, Any]:
        """Serve one request; every exception becomes an error reply."""
        import requests

        self.sent = []
        op = message.get("op")
        try:
            if op == "paths":
                value: Any = self.paths()
            elif op == "connect":
                value = self.connect(message["backends"])
            elif op == "work":
                value = self.work(message["fields"])
            elif op == "parse":
                value = self.parse(message["payload"])
            elif op == "withdraw":
                value = self.withdraw(message["kwargs"])
            elif op == "edit":
                value = self.edit(message["id"], message["fields"])
            elif op == "update":
                value = self.update(message["id"])
            elif op == "daemon":
                value = self.daemon(message["name"], message["args"])
            elif op == "call":
                value = self.call(
                    message["backend"],
                    message["method"],
                    message.get("args", []),
                    message.get("kwargs", {}),
                )
            else:
                raise LookupError(f"unknown op {op!r}")
        except requests.HTTPError as exc:
            response = exc.response
            error: dict[str, Any] = {"type": _qualified(exc), "message": str(exc)}
            if response is not None:
                error.update(
                    status=response.status_code,
                    body=_body(response.content),
                    method=response.request.method,
                    url=response.request.url,
                )
            return {"error": error, "sent": self.sent}
        except Exception as exc:
            return {"error": {"type": _qualified(exc), "message": str(exc)}, "sent": self.sent}
        return {"ok": value, "sent": self.sent}


def main() -> None:
    """Serve requests from stdin until it closes."""
    channel = os.fdopen(os.dup(sys.stdout.fileno()), "w", encoding="utf-8")
    # The client's rich logging writes to stdout; keep the reply channel clean.
    os.dup2(sys.stderr.fileno(), sys.stdout.fileno())
    agent = Agent()
    for line in sys.stdin:
        if not line.strip():
            continue
        reply = agent.handle(json.loads(line))
        channel.write(json.dumps(reply, default=str) + "\n")
        channel.flush()


if __name__ == "__main__":
    main()
