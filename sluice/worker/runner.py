"""How one work runs: in a child process the worker can watch, heartbeat around and stop.

A work with a `function` runs in a pre-started child (sluice.worker.pool), which
imports the dotted path, calls it with the work's `parameters` (`call`) and hands back
the outcome; its own output goes to the worker's stdout and stderr. A work with a
`command` runs that argv, its output captured and its `parameters` in its environment
(`command_environment`); a one-element command is a shell line, as the `workflow`
client runs it. Exit code 0 is success.

Children run in their own session, so a Ctrl-C at the worker's terminal reaches only
the worker (which then decides whether to wait for the work), and on Linux they are
killed if the worker dies.
"""

from __future__ import annotations

import contextlib
import importlib
import inspect
import os
import subprocess
import threading
import traceback
from abc import ABC, abstractmethod
from collections import deque
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import IO, TYPE_CHECKING, Any, Literal

import orjson

from sluice.worker.groups import PREEXEC, kill_group

if TYPE_CHECKING:
    from sluice.core.plan import Document
    from sluice.worker.pool import Child
    from sluice.worker.staging import Staged

#: Lines of a command's stdout and stderr kept in its results, and of a traceback.
TAIL_LINES = 50
#: Bytes of one such line kept (the rest of a longer line is dropped): a command's kept
#: output stays under TAIL_LINES x LINE_BYTES per stream, however it writes.
LINE_BYTES = 16_384
#: Seconds to wait, once a command ended, for the last of its output.
READER_PATIENCE = 2.0


@dataclass
class Outcome:
    """How a run ended, as the worker reports it."""

    status: Literal["success", "failure"]
    results: Document | None = None
    products: list[str] | None = None
    plots: list[str] | None = None
    #: A failure that another attempt cannot mend (the function cannot be imported or
    #: does not take the parameters): reported with no retry left.
    permanent: bool = False

    @classmethod
    def failed(cls, error: str, **details: Any) -> Outcome:
        """A failure whose `results` say why."""
        return cls("failure", {"error": error, **details})

    @classmethod
    def failed_for_good(cls, error: str, **details: Any) -> Outcome:
        """A permanent failure (see `permanent`); its results say `permanent: true`."""
        return cls("failure", {"error": error, "permanent": True, **details}, permanent=True)


def split_outcome(value: Any) -> tuple[Document | None, list[str] | None, list[str] | None]:
    """`(results, products, plots)` from what a function returned, by the `workflow`
    client's rules: a dict is the results; in a tuple, the first dict is the results,
    the first list the products and the second list the plots. Anything else is
    ignored."""
    if isinstance(value, dict):
        return value, None, None
    results: Document | None = None
    lists: list[list[str]] = []
    if isinstance(value, tuple):
        for item in value:
            if isinstance(item, dict) and results is None:
                results = item
            elif isinstance(item, list):
                lists.append(item)
    return results, (lists[0] if lists else None), (lists[1] if len(lists) > 1 else None)


class Run(ABC):
    """A work running in a child process (a command in `staged.directory`, if set,
    with its staged files' paths in its variables)."""

    def __init__(self, work: Document, staged: Staged | None = None) -> None:
        self.work = work
        self.staged = staged
        self._early: Outcome | None = None
        self._timed_out = False
        self.process: subprocess.Popen[bytes] | None = None
        try:
            self._start()
        except (OSError, ValueError) as exc:  # ValueError: a NUL byte in the argv
            self._early = Outcome.failed(f"cannot start the work: {exc}")

    @abstractmethod
    def _start(self) -> None:
        """Start the child process (set `self.process`)."""

    def wait(self, seconds: float) -> bool:
        """Wait up to `seconds` for the run to end; whether it has."""
        if self.process is None:
            return True
        try:
            self.process.wait(seconds)
        except subprocess.TimeoutExpired:
            return False
        return True

    def stop(self, timed_out: bool = False) -> None:
        """End the run now: SIGTERM to its process group, SIGKILL if it lingers."""
        self._timed_out = self._timed_out or timed_out
        if self.process is not None:
            kill_group(self.process)

    def outcome(self) -> Outcome:
        """How the run ended; call once `wait` says it has."""
        if self._early is not None:
            return self._early
        if self._timed_out:
            return Outcome.failed(f"timed out after {self.work['timeout']} s; stopped")
        return self._outcome()

    @abstractmethod
    def _outcome(self) -> Outcome:
        """How the child process's run ended."""


class FunctionRun(Run):
    """`function(**parameters)` in a pre-started child (sluice.worker.pool), a fresh
    one unless given."""

    def __init__(self, work: Document, staged: Staged | None, child: Child | None) -> None:
        self.child = child
        super().__init__(work, staged)

    def _start(self) -> None:
        if self.child is None:
            from sluice.worker.pool import Child

            self.child = Child()
        self.process = self.child.process
        spec = {"function": self.work["function"], "parameters": self.work["parameters"]}
        if self.staged is not None and self.staged.directory is not None:
            # It runs in its staged directory; its functions still import from ours.
            spec["cwd"] = str(self.staged.directory)
        with contextlib.suppress(OSError):  # the child is gone: its outcome says so
            self.child.send(spec)

    def wait(self, seconds: float) -> bool:
        if self.child is None:
            return True
        return self.child.wait(seconds)

    def stop(self, timed_out: bool = False) -> None:
        self._timed_out = self._timed_out or timed_out
        if self.child is not None:
            self.child.kill()

    def _outcome(self) -> Outcome:
        assert self.child is not None
        saved = self.child.outcome()
        if saved is not None:
            try:
                return Outcome(**saved)
            except TypeError:
                pass
        code = self.child.returncode
        return Outcome.failed(f"the function's process exited with code {code} and no result")


class CommandRun(Run):
    """The work's `command`, stdout and stderr tails kept for its results."""

    def _start(self) -> None:
        # Here, not at the top: a function's child process imports this module, and
        # its start-up time counts against the work's timeout.
        from schemas.experiments import STAGE_PARAMETER
        from sluice.worker.staging import without_secrets

        argv: list[str] = self.work["command"]
        parameters = self.work.get("parameters")
        if isinstance(parameters, dict):
            parameters = {k: v for k, v in parameters.items() if k != STAGE_PARAMETER}
        environment = {
            **without_secrets(os.environ),
            **command_environment(parameters),
            **(self.staged.paths if self.staged else {}),
            **(self.staged.variables if self.staged else {}),
        }
        self.process = subprocess.Popen(
            argv[0] if len(argv) == 1 else argv,
            shell=len(argv) == 1,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            start_new_session=True,
            preexec_fn=PREEXEC,
            env=environment,
            cwd=self.staged.directory if self.staged else None,
        )
        self._tails = {name: deque[str](maxlen=TAIL_LINES) for name in ("stdout", "stderr")}
        # Drain both pipes as the command writes, keeping only their tails.
        self._readers = [
            threading.Thread(target=_drain, args=(stream, self._tails[name]), daemon=True)
            for name, stream in (("stdout", self.process.stdout), ("stderr", self.process.stderr))
        ]
        for reader in self._readers:
            reader.start()

    def _outcome(self) -> Outcome:
        assert self.process is not None
        # What the command left running in its group (a background job) ends with it.
        kill_group(self.process)
        for reader in self._readers:
            # A child that left the group may hold the pipe open long after.
            reader.join(READER_PATIENCE)
        code = self.process.returncode
        output = {
            "args": self.work["command"],
            "returncode": code,
            "stdout": list(self._tails["stdout"]),
            "stderr": list(self._tails["stderr"]),
        }
        if code == 0:
            return Outcome("success", output)
        return Outcome.failed(f"the command exited with code {code}", **output)


def command_environment(parameters: Any) -> dict[str, str]:
    """A command work's `parameters` as environment variables: each key whose value is a
    string, number or boolean (`true`/`false`); other values are not passed."""
    if not isinstance(parameters, dict):
        return {}
    env: dict[str, str] = {}
    for name, value in parameters.items():
        if not name or "=" in name or "\x00" in name:
            continue  # not a name the environment can hold
        if isinstance(value, bool):
            env[name] = "true" if value else "false"
        elif isinstance(value, str | int | float):
            env[name] = str(value)
    return env


def _drain(stream: IO[bytes] | None, tail: deque[str]) -> None:
    assert stream is not None
    with stream:
        # Bounded reads: one line of gigabytes must not be held whole.
        continuing = False
        while piece := stream.readline(LINE_BYTES):
            if not continuing:  # the rest of a longer line is dropped, up to its end
                tail.append(piece.decode("utf-8", "replace").rstrip("\r\n"))
            continuing = not piece.endswith(b"\n")


class _Unrunnable(Run):
    def _start(self) -> None:
        self._early = self._outcome()

    def _outcome(self) -> Outcome:
        return Outcome.failed_for_good("the work has neither a function nor a command")


class NotStarted(Run):
    """A work that could not start (its files could not be staged): failed with `why`."""

    def __init__(self, work: Document, why: str) -> None:
        self.why = why
        super().__init__(work)

    def _start(self) -> None:
        self._early = self._outcome()

    def _outcome(self) -> Outcome:
        return Outcome.failed(self.why)


def start(work: Document, staged: Staged | None = None, child: Child | None = None) -> Run:
    """Start `work` (its function, else its command) in a child process: a function in
    `child` if given (sluice.worker.pool), else in a child started for it."""
    if work.get("function"):
        return FunctionRun(work, staged, child)
    if work.get("command"):
        return CommandRun(work, staged)
    return _Unrunnable(work, staged)


def call(spec: Document) -> Outcome:
    """Import `spec["function"]` and call it with `spec["parameters"]`: how it ended
    (run in a pool child, never in the worker itself)."""
    parameters = spec["parameters"] or {}
    try:
        module_name, _, name = str(spec["function"]).rpartition(".")
        function = getattr(importlib.import_module(module_name), name)
        if not callable(function):
            raise TypeError(f"{spec['function']} is not callable")
        _check_parameters(function, parameters)
    except BaseException as exc:
        # Importing or binding fails the same way every time: no retry can help.
        return Outcome.failed_for_good(_said(exc), traceback=_tail())
    try:
        results, products, plots = split_outcome(function(**parameters))
        outcome = Outcome("success", results, products, plots)
        orjson.dumps(asdict(outcome))  # a result that is not JSON is a failure here
        return outcome
    except BaseException as exc:
        return Outcome.failed(_said(exc), traceback=_tail())


def _said(exc: BaseException) -> str:
    """`Type: message` of `exc` as text that encodes: a message that cannot be made
    (its __str__ raises) or holds a lone surrogate would crash the child."""
    try:
        message = str(exc)
    except BaseException:
        message = "(its message could not be made)"
    return _text(f"{type(exc).__name__}: {message}")


def _text(value: str) -> str:
    return value.encode("utf-8", "backslashreplace").decode("utf-8")


def _tail() -> list[str]:
    try:
        lines = traceback.format_exc().splitlines()
    except BaseException:
        lines = ["(the traceback could not be formatted)"]
    return [_text(line) for line in lines[-TAIL_LINES:]]


def _check_parameters(function: Callable[..., Any], parameters: Any) -> None:
    """Raise TypeError if `function` cannot be called with `parameters` as keywords."""
    if not isinstance(parameters, dict):
        raise TypeError(f"parameters must be an object, not {type(parameters).__name__}")
    try:
        signature = inspect.signature(function)
    except (TypeError, ValueError):
        return  # a builtin without a signature: let the call say
    signature.bind(**parameters)
