"""Reading a workfile: YAML or JSON text to a checked workflow, and resolving references.

Inside `parameters` (and each element of a `command`), a whole string value is a
reference:

- `"@name"`: the run's value of declared variable `@name` (its default if not given);
- `"$op"` / `"$op.key.sub"`: the output (a work's `results`) of operator `op`, or a
  path inside it; `op` must be one the operator depends on, directly or not;
- `"@@..."` and `"$$..."` stand for the literal strings `"@..."` and `"$..."`.

A value that is not a whole-string reference is passed as it is.
"""

from __future__ import annotations

import math
from collections import deque
from typing import Any, Literal

import orjson
import yaml
from pydantic import ValidationError

from schemas.workfiles import Operator, WorkflowFile
from service.errors import BadRequest, ValidationFailed
from service.validation import parse_model

FileType = Literal["yaml", "json"]


class InvalidWorkfile(ValidationFailed):
    """A workfile whose content is not a valid workflow (422, offending name in details)."""

    code = "invalid_workfile"


class UnknownVariable(BadRequest):
    """A run named a variable its workflow does not declare."""

    code = "unknown_variable"


def file_type(file_name: str) -> FileType:
    """The format a file name announces: `.json` is JSON, anything else YAML."""
    return "json" if file_name.lower().endswith(".json") else "yaml"


class _Loader(yaml.SafeLoader):
    """The safe loader without aliases: `*ref` repeats a subtree, so a few hundred
    bytes of aliases can stand for gigabytes once walked (the "billion laughs")."""

    def compose_node(self, parent: yaml.Node | None, index: Any) -> yaml.Node | None:
        if self.check_event(yaml.AliasEvent):
            mark = self.peek_event().start_mark  # type: ignore[no-untyped-call]
            raise yaml.composer.ComposerError(None, None, "aliases (*name) are not allowed", mark)
        return super().compose_node(parent, index)


#: A 64-bit signed integer: what BSON and JSON clients hold.
_INT64 = range(-(2**63), 2**63)


def check_values(value: Any, max_depth: int) -> None:
    """InvalidWorkfile unless `value` is JSON-compatible and nests at most `max_depth`
    deep: mappings with string keys (no NUL), lists, strings, 64-bit integers, finite
    numbers, booleans and nulls. YAML can also hold sets, dates, binary data and
    non-string keys, which no run could store or send; they are refused at upload."""
    stack: list[tuple[Any, int, str]] = [(value, 0, "")]
    while stack:
        item, level, where = stack.pop()
        if isinstance(item, dict | list):
            level += 1
            if level > max_depth:
                raise InvalidWorkfile(
                    f"the workfile nests deeper than SLUICE_MAX_WORKFILE_DEPTH ({max_depth})",
                    {"limit": "SLUICE_MAX_WORKFILE_DEPTH", "max_depth": max_depth},
                )
            if isinstance(item, list):
                stack.extend((child, level, f"{where}[{i}]") for i, child in enumerate(item))
                continue
            for key, child in item.items():
                if not isinstance(key, str) or "\x00" in key:
                    raise _fault(
                        f"the workfile has a key {_show(key)} at {where or 'the top'}: keys must "
                        "be strings without NUL characters",
                        name=where or "(top)",
                    )
                stack.append((child, level, f"{where}.{key}" if where else key))
        elif isinstance(item, bool) or item is None or isinstance(item, str):
            continue
        elif isinstance(item, int) and item not in _INT64:
            raise _fault(f"{where}: integer {item} is outside the 64-bit range", name=where)
        elif isinstance(item, float) and not math.isfinite(item):
            raise _fault(f"{where}: {item} is not a finite number", name=where)
        elif not isinstance(item, int | float):
            raise _fault(
                f"{where or 'the workfile'}: a YAML {type(item).__name__} is not a JSON value "
                "(use strings, numbers, booleans, null, lists and mappings; quote dates)",
                name=where,
            )


def _show(key: Any) -> str:
    text = repr(key).replace("\x00", "\\x00")
    return text if len(text) <= 80 else text[:80] + "..."


def parse(content: bytes, kind: FileType, max_depth: int, max_steps: int) -> WorkflowFile:
    """The workflow in `content`, checked whole; InvalidWorkfile naming the fault.
    Values nesting deeper than `max_depth` (SLUICE_MAX_WORKFILE_DEPTH), values JSON
    cannot hold, and more than `max_steps` operators (SLUICE_MAX_WORKFILE_STEPS) are
    refused. CPU-bound (YAML parsing is pure Python): call it off the event loop."""
    raw = load(content, kind, max_depth, max_steps)
    if not isinstance(raw, dict):
        raise InvalidWorkfile("the workfile must hold a mapping (name, variables, operators)")
    operators = raw.get("operators")
    if isinstance(operators, list) and len(operators) > max_steps:
        raise InvalidWorkfile(
            f"the workfile has {len(operators)} operators, more than "
            f"SLUICE_MAX_WORKFILE_STEPS ({max_steps})",
            {"limit": "SLUICE_MAX_WORKFILE_STEPS", "max_steps": max_steps},
        )
    try:
        workflow = WorkflowFile.model_validate(raw)
    except ValidationError:
        parse_model(WorkflowFile, raw, "workfile")  # raises the 422 listing each error
        raise
    order(workflow)
    return workflow


def load(content: bytes, kind: FileType, max_depth: int, max_steps: int) -> Any:
    """The JSON-compatible value in YAML or JSON `content`, with the limits and checks
    of `parse` (InvalidWorkfile); `operators` at the top counts against `max_steps`."""
    try:
        raw = orjson.loads(content) if kind == "json" else _load_yaml(content, max_depth, max_steps)
    except (orjson.JSONDecodeError, yaml.YAMLError, UnicodeDecodeError, RecursionError) as exc:
        reason = "it nests too deeply" if isinstance(exc, RecursionError) else str(exc)
        raise InvalidWorkfile(f"the file is not valid {kind.upper()}: {reason}") from None
    check_values(raw, max_depth)
    return raw


#: libyaml's loader when installed (several times faster), else the pure-Python one.
_FAST_LOADER: Any = getattr(yaml, "CSafeLoader", None)


def _load_yaml(content: bytes, max_depth: int, max_steps: int) -> Any:
    """YAML `content` loaded, after a scan of its events (cheap next to building it)
    that refuses aliases, nesting past `max_depth` and more than `max_steps` operators
    before anything is built."""
    loader = _FAST_LOADER or _Loader
    stack: list[list[Any]] = []  # [kind, expecting a key, is the operators list]
    operators_next = False
    steps = 0
    for event in yaml.parse(content, Loader=loader):
        if isinstance(event, yaml.AliasEvent):
            raise InvalidWorkfile("the workfile is not valid YAML: aliases (*name) are not allowed")
        if isinstance(event, yaml.CollectionEndEvent):
            stack.pop()
            continue
        if not isinstance(event, yaml.ScalarEvent | yaml.CollectionStartEvent):
            continue
        is_operators = False
        if stack:
            parent = stack[-1]
            if parent[0] == "seq" and parent[2]:
                steps += 1
                if steps > max_steps:
                    raise InvalidWorkfile(
                        f"the workfile has more than SLUICE_MAX_WORKFILE_STEPS ({max_steps}) "
                        "operators",
                        {"limit": "SLUICE_MAX_WORKFILE_STEPS", "max_steps": max_steps},
                    )
            elif parent[0] == "map":
                if parent[1]:
                    key = getattr(event, "value", None)
                    operators_next = len(stack) == 1 and key == "operators"
                else:
                    is_operators = operators_next
                parent[1] = not parent[1]
        if isinstance(event, yaml.CollectionStartEvent):
            if len(stack) >= max_depth:
                raise InvalidWorkfile(
                    f"the workfile nests deeper than SLUICE_MAX_WORKFILE_DEPTH ({max_depth})",
                    {"limit": "SLUICE_MAX_WORKFILE_DEPTH", "max_depth": max_depth},
                )
            kind = "map" if isinstance(event, yaml.MappingStartEvent) else "seq"
            stack.append([kind, True, is_operators])
    return yaml.load(content, Loader=loader)


def _fault(message: str, **details: Any) -> InvalidWorkfile:
    return InvalidWorkfile(message, details)


def order(workflow: WorkflowFile) -> list[Operator]:
    """Operators in dependency order (file order among equals); every reference checked.

    Raises InvalidWorkfile for a repeated or unknown operator name, a cycle, an
    undeclared variable, a reference to an operator not upstream, or a step without
    a pipeline or site. Linear in the operators and their dependencies (Kahn's
    algorithm), so a large workfile cannot hold the caller for long.
    """
    by_name: dict[str, Operator] = {}
    for operator in workflow.operators:
        if operator.name in by_name:
            raise _fault(f"operator {operator.name!r} is defined twice", name=operator.name)
        by_name[operator.name] = operator
        if not (operator.pipeline or workflow.pipeline):
            raise _fault(f"operator {operator.name!r} has no pipeline", name=operator.name)
        if not (operator.site or workflow.site):
            raise _fault(f"operator {operator.name!r} has no site", name=operator.name)
    waiting: dict[str, int] = {}
    dependents: dict[str, list[str]] = {name: [] for name in by_name}
    for operator in workflow.operators:
        upstream = set(operator.depends_on)
        for name in upstream:
            if name not in by_name:
                raise _fault(
                    f"operator {operator.name!r} depends on unknown operator {name!r}",
                    name=name,
                )
            dependents[name].append(operator.name)
        waiting[operator.name] = len(upstream)
    # An operator's level is one more than its deepest dependency's; sorting by level
    # (stably) is the order of rounds "everything whose dependencies are placed".
    level = dict.fromkeys(by_name, 0)
    ready = deque(op.name for op in workflow.operators if not waiting[op.name])
    placed = 0
    while ready:
        name = ready.popleft()
        placed += 1
        for dependent in dependents[name]:
            level[dependent] = max(level[dependent], level[name] + 1)
            waiting[dependent] -= 1
            if not waiting[dependent]:
                ready.append(dependent)
    if placed < len(by_name):
        blocked = {op.name: op.depends_on for op in workflow.operators if waiting[op.name]}
        cycle = _cycle(blocked)
        raise _fault(
            f"operators depend on each other in a cycle: {' -> '.join([*cycle, cycle[0]])}",
            name=cycle[0],
            cycle=cycle,
        )
    ordered = sorted(workflow.operators, key=lambda op: level[op.name])
    ancestors = _Ancestors(ordered)
    for operator in ordered:
        for value in _leaves([operator.parameters, operator.command or []]):
            _check_reference(workflow, operator, ancestors, value)
    return ordered


class _Ancestors:
    """Whether one operator is upstream of another: each operator's ancestors as one
    integer's bits, built once in dependency order from its distinct dependencies' (so
    a dependency listed many times, or a dense graph, costs one bit-or per edge)."""

    def __init__(self, ordered: list[Operator]) -> None:
        self.bit = {operator.name: 1 << index for index, operator in enumerate(ordered)}
        self.reach: dict[str, int] = {}
        for operator in ordered:
            bits = 0
            for name in set(operator.depends_on):
                bits |= self.reach[name] | self.bit[name]
            self.reach[operator.name] = bits

    def upstream(self, operator: Operator, name: str) -> bool:
        return bool(self.reach[operator.name] & self.bit.get(name, 0))


def _cycle(blocked: dict[str, list[str]]) -> list[str]:
    """One cycle among operators none of which can run: follow unmet dependencies
    from the first until a name repeats."""
    path = [next(iter(blocked))]
    position = {path[0]: 0}
    while True:
        upstream = next(name for name in blocked[path[-1]] if name in blocked)
        if upstream in position:
            return path[position[upstream] :]
        position[upstream] = len(path)
        path.append(upstream)


def _leaves(value: Any) -> list[Any]:
    if isinstance(value, dict):
        return [leaf for item in value.values() for leaf in _leaves(item)]
    if isinstance(value, list):
        return [leaf for item in value for leaf in _leaves(item)]
    return [value]


def _check_reference(
    workflow: WorkflowFile, operator: Operator, ancestors: _Ancestors, value: Any
) -> None:
    if not isinstance(value, str) or value[:2] in ("@@", "$$"):
        return
    where = operator.name
    if value.startswith("@") and value not in workflow.variables:
        raise _fault(f"operator {where!r} uses undeclared variable {value!r}", name=value)
    if value.startswith("$"):
        name = value[1:].split(".", 1)[0]
        if not ancestors.upstream(operator, name):
            raise _fault(
                f"operator {where!r} uses the output of {name!r}, which is not upstream of it",
                name=name,
            )


def run_variables(workflow: WorkflowFile, given: list[tuple[str, Any]]) -> dict[str, Any]:
    """Every declared variable's value for a run: `given` (name, value) pairs over the
    defaults. A name may omit its '@'. UnknownVariable for an undeclared name."""
    values = dict(workflow.variables)
    for name, value in given:
        key = name if name.startswith("@") else f"@{name}"
        if key not in values:
            raise UnknownVariable(
                f"variable {name!r} is not declared by workflow {workflow.name!r}",
                {"name": name, "declared": sorted(values)},
            )
        values[key] = value
    return values


def resolve(value: Any, variables: dict[str, Any], outputs: dict[str, Any]) -> Any:
    """`value` with every reference replaced (see the module docstring); `outputs` maps
    operator names to their results. A path missing from an output resolves to None."""
    if isinstance(value, dict):
        return {key: resolve(item, variables, outputs) for key, item in value.items()}
    if isinstance(value, list):
        return [resolve(item, variables, outputs) for item in value]
    if not isinstance(value, str) or value[:1] not in ("@", "$"):
        return value
    if value[:2] in ("@@", "$$"):
        return value[1:]
    if value.startswith("@"):
        return variables[value]
    name, *path = value[1:].split(".")
    found = outputs.get(name)
    for key in path:
        found = found.get(key) if isinstance(found, dict) else None
    return found
