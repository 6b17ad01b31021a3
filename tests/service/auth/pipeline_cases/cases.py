"""The kinds of case the route walk knows, and the checks several surfaces share."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

from tests.service.auth.pipeline_world import EXTENSION, World, workflow

Expect = Literal["forbidden", "hidden", "public", "shared"]
Value = Any | Callable[[World], Any]
Check = Callable[[World, Any], bool]


@dataclass(frozen=True)
class Call:
    path: Value
    arguments: dict[str, Value]

    def build(self, world: World) -> tuple[str, dict[str, Any]]:
        """The path and httpx arguments for `world`."""
        return _resolve(self.path, world), _resolve(self.arguments, world)


def _resolve(value: Value, world: World) -> Any:
    """`value` with every function in it (at any depth of dicts) called on `world`."""
    if callable(value):
        return value(world)
    if isinstance(value, dict):
        return {key: _resolve(item, world) for key, item in value.items()}
    return value


@dataclass(frozen=True)
class Case:
    expect: Expect
    calls: tuple[Call, ...] = ()
    check: Check | None = None
    reason: str = ""


def call(path: Value, **arguments: Value) -> Call:
    return Call(path, arguments)


def forbidden(*calls: Call) -> Case:
    return Case("forbidden", calls)


def hidden(check: Check, *calls: Call) -> Case:
    return Case("hidden", calls, check)


def public() -> Case:
    return Case("public")


def shared(reason: str, *calls: Call) -> Case:
    return Case("shared", calls, reason=reason)


#: Why experiment routes are `shared`.
SHARED_EXPERIMENTS = "experiments are lab records shared by every pipeline (their tasks are not)"


def no_extension(world: World, body: Any) -> bool:
    """True when the extension of pipeline B is absent from a listing."""
    return all(extension["name"] != EXTENSION for extension in body["extensions"])


#: Why workspace routes are `shared`.
SHARED_WORKSPACES = "workspaces name folders shared by every pipeline (their workfiles are not)"


def a_only(world: World) -> bytes:
    """A workflow document naming only pipeline A."""
    return json.dumps(workflow(world.a)).encode()
