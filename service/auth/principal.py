"""Who is calling: the `Principal` a request was admitted as, and what it may touch.

`principal(request)` is the caller of any route. Handlers and stores call
`check_pipelines` (or `check_filter`) wherever the pipelines a request touches are known,
and `require` for an action that needs more than the route's scope (clearing a lock).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from fnmatch import fnmatchcase
from typing import Any

from starlette.requests import Request

from service.errors import Forbidden
from service.stores import stores


@dataclass(frozen=True)
class Principal:
    """The caller: token name and owner (None when auth is off), scopes, the fnmatch
    patterns of the pipelines it may touch (empty: every pipeline), and, for an
    extension task's token, the one experiment it is bound to (its UUID and EID)."""

    name: str | None
    owner: str | None
    scopes: frozenset[str]
    patterns: tuple[str, ...] = ()
    experiment: tuple[str, str] | None = None

    @property
    def who(self) -> str:
        """'<name> (<owner>)' for a token, 'anonymous' without one."""
        return "anonymous" if self.name is None else f"{self.name} ({self.owner})"

    def has(self, scope: str) -> bool:
        """Whether the caller holds `scope` (admin holds every scope)."""
        return "admin" in self.scopes or scope in self.scopes

    def require(self, scope: str, action: str | None = None) -> None:
        """403 unless the caller holds `scope`; `action` names what needed it."""
        if not self.has(scope):
            doing = action or "this route"
            raise Forbidden(
                f"{doing} needs a token with scope {scope!r}; token {self.name!r} has "
                f"{', '.join(sorted(self.scopes)) or 'no scopes'}",
                {"scope": scope, "token": self.name},
            )

    def check_route(self, route_experiment: str | None, ref: Any) -> None:
        """For a caller bound to one experiment, 403 unless the route is one such a
        token may use (`route_experiment`, the name of its path parameter naming the
        experiment, is set) and `ref`, that parameter's value, names its experiment."""
        if self.experiment is None:
            return
        if route_experiment is None:
            raise Forbidden(
                f"token {self.name!r} is limited to experiment {self.experiment[1]}: "
                "it may only read it and its files and upload files to it",
                {"experiment": self.experiment[0]},
            )
        if _canonical(ref) not in self.experiment:
            raise Forbidden(
                f"token {self.name!r} is limited to experiment {self.experiment[1]}",
                {"experiment": self.experiment[0], "requested": str(ref)},
            )

    def allows(self, pipeline: Any) -> bool:
        """Whether the caller may touch `pipeline`."""
        if not self.patterns:
            return True
        return isinstance(pipeline, str) and any(fnmatchcase(pipeline, p) for p in self.patterns)

    @property
    def restricted(self) -> bool:
        """Whether pipeline patterns limit the caller."""
        return bool(self.patterns)

    def visible(self, names: Iterable[Any]) -> list[Any]:
        """The pipelines of `names` the caller may touch, in their order."""
        return [name for name in names if self.allows(name)]

    def covers(self, patterns: Iterable[str]) -> bool:
        """Whether every pipeline `patterns` can match is one the caller may touch
        (see `pattern_within`); an empty list (every pipeline) is covered only by an
        unrestricted caller."""
        if not self.patterns:
            return True
        wanted = list(patterns)
        return bool(wanted) and all(
            any(pattern_within(p, mine) for mine in self.patterns) for p in wanted
        )

    def require_unrestricted(self, action: str) -> None:
        """403 for a pipeline-limited caller: `action` spans every pipeline."""
        if self.patterns:
            raise Forbidden(
                f"{action} spans every pipeline: token {self.name!r} is limited to "
                f"{', '.join(self.patterns)}",
                {"allowed": list(self.patterns)},
            )

    def check_pipelines(self, names: Iterable[Any]) -> None:
        """403 naming the pipelines outside the caller's patterns, if any."""
        if not self.patterns:
            return
        outside = sorted({str(name) for name in names if not self.allows(name)})
        if outside:
            raise Forbidden(
                f"token {self.name!r} may not touch pipeline(s) {', '.join(outside)} "
                f"(allowed: {', '.join(self.patterns)})",
                {"pipelines": outside, "allowed": list(self.patterns)},
            )

    def check_filter(self, query: Any, where: str = "query") -> None:
        """For a pipeline-restricted caller, 403 unless the filter `query` names its
        pipelines at the top level, as a string or `{"$in": [...]}` (or `{"$eq": ...}`),
        all of them allowed."""
        if not self.patterns:
            return
        named = named_pipelines(query)
        if named is None:
            raise Forbidden(
                f"token {self.name!r} is limited to pipelines {', '.join(self.patterns)}: "
                f'{where} must name them as "pipeline": "<name>" or {{"$in": [...]}}',
                {"allowed": list(self.patterns)},
            )
        self.check_pipelines(named)


def _canonical(ref: Any) -> Any:
    """`ref` as experiments store it: a UUID in any accepted spelling as its hyphenated
    lower-case form; anything else (an EID) unchanged."""
    try:
        return str(uuid.UUID(ref))
    except (TypeError, ValueError, AttributeError):
        return ref


#: Characters that make a pipeline pattern match more than one name.
WILDCARDS = frozenset("*?[]!")


def pattern_within(inner: str, outer: str) -> bool:
    """Whether every name the fnmatch pattern `inner` matches is matched by `outer`.

    Decided soundly for what tokens use: `inner` equal to `outer`, a plain name that
    `outer` matches, or any pattern starting with the literal prefix of an `outer` of
    the form `<prefix>*`. Anything else counts as not within.
    """
    if inner == outer:
        return True
    if not WILDCARDS & set(inner):
        return fnmatchcase(inner, outer)
    prefix = outer[:-1]
    return outer.endswith("*") and not WILDCARDS & set(prefix) and inner.startswith(prefix)


def named_pipelines(query: Any) -> list[Any] | None:
    """The pipelines the filter `query` names at the top level (a string, `{"$eq"}` or
    a non-empty `{"$in"}`), or None when it names none that way."""
    if not isinstance(query, dict) or "pipeline" not in query:
        return None
    value = query["pipeline"]
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict) and len(value) == 1:
        if isinstance(value.get("$eq"), str):
            return [value["$eq"]]
        if isinstance(value.get("$in"), list) and value["$in"]:
            return list(value["$in"])
    return None


#: The caller when auth is off: anyone may do anything, recorded as "anonymous".
ANONYMOUS = Principal(None, None, frozenset({"admin"}))
#: The caller of a public route when auth is required: no scope at all.
NOBODY = Principal(None, None, frozenset())


def caller_name(request: Request) -> str:
    """Who the caller of `request` is, as recorded on what it creates (workfiles, runs,
    tasks): its token's owner, else the token's name, else "anonymous"."""
    caller = principal(request)
    return caller.owner or caller.name or "anonymous"


def principal(request: Request) -> Principal:
    """The caller of `request`, as the route's guard admitted it."""
    admitted = getattr(request.state, "principal", None)
    if isinstance(admitted, Principal):
        return admitted
    return ANONYMOUS if stores(request).settings.auth == "off" else NOBODY
