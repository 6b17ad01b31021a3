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


def depth(value: Any) -> int:
    """How deeply objects and arrays nest in `value` (a scalar is 0), without recursion."""
    deepest = 0
    stack = [(value, 0)]
    while stack:
        item, level = stack.pop()
        if isinstance(item, dict | list):
            level += 1
            deepest = max(deepest, level)
            stack.extend(
                (child, level) for child in (item.values() if isinstance(item, dict) else item)
            )
    return deepest


def parse(content: bytes, kind: FileType, max_depth: int) -> WorkflowFile:
    """The workflow in `content`, checked whole; InvalidWorkfile naming the fault.
    Values nesting deeper than `max_depth` (SLUICE_MAX_WORKFILE_DEPTH) are refused."""
    try:
        raw = orjson.loads(content) if kind == "json" else yaml.load(content, Loader=_Loader)
    except (orjson.JSONDecodeError, yaml.YAMLError, UnicodeDecodeError, RecursionError) as exc:
        reason = "it nests too deeply" if isinstance(exc, RecursionError) else str(exc)
        raise InvalidWorkfile(f"the workfile is not valid {kind.upper()}: {reason}") from None
    if depth(raw) > max_depth:
        raise InvalidWorkfile(
            f"the workfile nests deeper than SLUICE_MAX_WORKFILE_DEPTH ({max_depth})",
            {"limit": "SLUICE_MAX_WORKFILE_DEPTH", "max_depth": max_depth},
        )
    if not isinstance(raw, dict):
        raise InvalidWorkfile("the workfile must hold a mapping (name, variables, operators)")
    try:
        workflow = WorkflowFile.model_validate(raw)
    except ValidationError:
        parse_model(WorkflowFile, raw, "workfile")  # raises the 422 listing each error
        raise
    order(workflow)
    return workflow


def _fault(message: str, **details: Any) -> InvalidWorkfile:
    return InvalidWorkfile(message, details)


def order(workflow: WorkflowFile) -> list[Operator]:
    """Operators in dependency order (file order among equals); every reference checked.

    Raises InvalidWorkfile for a repeated or unknown operator name, a cycle, an
    undeclared variable, a reference to an operator not upstream, or a step without
    a pipeline or site.
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
    for operator in workflow.operators:
        for upstream in operator.depends_on:
            if upstream not in by_name:
                raise _fault(
                    f"operator {operator.name!r} depends on unknown operator {upstream!r}",
                    name=upstream,
                )
    ordered: list[Operator] = []
    placed: set[str] = set()
    pending = list(workflow.operators)
    while pending:
        ready = [op for op in pending if set(op.depends_on) <= placed]
        if not ready:
            cycle = _cycle({op.name: op.depends_on for op in pending})
            raise _fault(
                f"operators depend on each other in a cycle: {' -> '.join([*cycle, cycle[0]])}",
                name=cycle[0],
                cycle=cycle,
            )
        ordered.extend(ready)
        placed.update(op.name for op in ready)
        pending = [op for op in pending if op.name not in placed]
    ancestors: dict[str, set[str]] = {}
    for operator in ordered:
        ancestors[operator.name] = set(operator.depends_on).union(
            *(ancestors[up] for up in operator.depends_on)
        )
        for value in _leaves([operator.parameters, operator.command or []]):
            _check_reference(workflow, operator.name, ancestors[operator.name], value)
    return ordered


def _cycle(blocked: dict[str, list[str]]) -> list[str]:
    """One cycle among operators none of which can run: follow unmet dependencies
    from the first until a name repeats."""
    path = [next(iter(blocked))]
    while True:
        upstream = next(name for name in blocked[path[-1]] if name in blocked)
        if upstream in path:
            return path[path.index(upstream) :]
        path.append(upstream)


def _leaves(value: Any) -> list[Any]:
    if isinstance(value, dict):
        return [leaf for item in value.values() for leaf in _leaves(item)]
    if isinstance(value, list):
        return [leaf for item in value for leaf in _leaves(item)]
    return [value]


def _check_reference(workflow: WorkflowFile, where: str, upstream: set[str], value: Any) -> None:
    if not isinstance(value, str) or value[:2] in ("@@", "$$"):
        return
    if value.startswith("@") and value not in workflow.variables:
        raise _fault(f"operator {where!r} uses undeclared variable {value!r}", name=value)
    if value.startswith("$"):
        name = value[1:].split(".", 1)[0]
        if name not in upstream:
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
