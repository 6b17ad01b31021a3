"""A run's arguments checked against its template's parameters.

Arguments arrive as the client sent them, `[{"name", "value"}]`; a file argument's
value is `{"fileId", "targetPath"?}` (flowServ wraps it as `{"type": "$file", "value":
{...}}`, accepted too). Refused with 400, nothing started: an unknown parameter, a
repeated argument, a missing required parameter, a value of the wrong type, a select
value not among the choices, a number outside the parameter's range, an unsafe target
path. A parameter without an argument takes its default.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from typing import Any

from schemas.workfiles import safe_path
from service.db import Document
from service.errors import BadRequest


class InvalidArgument(BadRequest):
    code = "invalid_argument"


@dataclass
class FileArgument:
    """A file argument: the group's upload and where the steps find it."""

    parameter: str
    file_id: str
    target: str


@dataclass
class Checked:
    """What a run starts with: every parameter's value (a file: its target path) and
    the files to stage."""

    values: dict[str, Any] = field(default_factory=dict)
    files: list[FileArgument] = field(default_factory=list)


_RANGE = re.compile(r"^\s*([\[(])\s*([^,\s]*)\s*,\s*([^\])\s]*)\s*([\])])\s*$")


def _fault(message: str, name: str) -> InvalidArgument:
    return InvalidArgument(message, {"name": name})


def _in_range(value: float, spec: str, name: str) -> None:
    match = _RANGE.match(spec)
    if match is None:
        return  # checked at install; an unparsable range bounds nothing
    opening, low, high, closing = match.groups()
    try:
        if low and (value < float(low) or (opening == "(" and value == float(low))):
            raise _fault(f"{name}: {value} is outside {spec}", name)
        if high and (value > float(high) or (closing == ")" and value == float(high))):
            raise _fault(f"{name}: {value} is outside {spec}", name)
    except ValueError:
        return


def _scalar(dtype: str, value: Any, name: str) -> Any:
    """`value` as a value of `dtype` (bool, int, float, string); InvalidArgument."""
    if dtype == "bool" and isinstance(value, bool):
        return value
    if dtype == "int" and isinstance(value, int) and not isinstance(value, bool):
        return value
    if dtype == "int" and isinstance(value, float) and value.is_integer():
        return int(value)
    number = isinstance(value, int | float) and not isinstance(value, bool)
    if dtype == "float" and number and math.isfinite(value):
        return float(value)
    if dtype == "string" and isinstance(value, str):
        return value
    raise _fault(f"{name}: {value!r} is not a valid {dtype}", name)


def value_of(parameter: Document, value: Any) -> Any:
    """`value` checked as a value of `parameter` (not a file); InvalidArgument."""
    name, dtype = parameter["name"], parameter["dtype"]
    if dtype in ("bool", "int", "float", "string"):
        checked = _scalar(dtype, value, name)
        if dtype in ("int", "float") and parameter.get("range"):
            _in_range(checked, parameter["range"], name)
        return checked
    if dtype == "select":
        choices = [choice["value"] for choice in parameter["values"]]
        if not any(type(value) is type(choice) and value == choice for choice in choices):
            raise _fault(f"{name}: {value!r} is not one of its choices", name)
        return value
    if dtype == "list":
        if not isinstance(value, list):
            raise _fault(f"{name}: a list is expected", name)
        items = parameter.get("items")
        if items in ("bool", "int", "float", "string"):
            return [_scalar(items, item, f"{name}[{i}]") for i, item in enumerate(value)]
        return value
    if dtype == "record":
        if not isinstance(value, dict):
            raise _fault(f"{name}: an object of its fields is expected", name)
        fields = {f["name"]: f for f in parameter["fields"]}
        unknown = sorted(set(value) - set(fields))
        if unknown:
            raise _fault(f"{name}: unknown field(s) {', '.join(unknown)}", name)
        record = {}
        for key, spec in fields.items():
            if key in value:
                record[key] = value_of(spec, value[key])
            elif spec.get("isRequired"):
                raise _fault(f"{name}: field {key!r} is required", name)
        return record
    raise _fault(f"{name}: parameters of type {dtype} take no value here", name)


def _file(parameter: Document, value: Any) -> FileArgument:
    name = parameter["name"]
    if isinstance(value, dict) and value.get("type") == "$file":
        value = value.get("value")
    if not isinstance(value, dict) or not isinstance(value.get("fileId"), str):
        raise _fault(f"{name}: a file argument is {{'fileId': ..., 'targetPath': ...}}", name)
    target = value.get("targetPath") or parameter.get("target") or name
    if not isinstance(target, str):
        raise _fault(f"{name}: targetPath must be a string", name)
    try:
        target = safe_path(target)
    except ValueError as exc:
        raise _fault(f"{name}: {exc}", name) from None
    return FileArgument(name, value["fileId"], target)


def check(parameters: list[Document], arguments: list[Document]) -> Checked:
    """Every parameter's value for a run with `arguments`; InvalidArgument (400)."""
    by_name = {parameter["name"]: parameter for parameter in parameters}
    given: dict[str, Any] = {}
    for argument in arguments:
        name = argument.get("name")
        if not isinstance(name, str) or "value" not in argument:
            raise InvalidArgument("an argument is {'name': ..., 'value': ...}", {"argument": name})
        if name not in by_name:
            raise InvalidArgument(
                f"unknown parameter {name[:128]!r}",
                {"name": name[:128], "parameters": sorted(by_name)},
            )
        if name in given:
            raise _fault(f"parameter {name!r} is given twice", name)
        given[name] = argument["value"]
    checked = Checked()
    for name, parameter in by_name.items():
        if name not in given:
            if parameter.get("isRequired") and parameter.get("defaultValue") is None:
                raise _fault(f"parameter {name!r} is required", name)
            checked.values[name] = parameter.get("defaultValue")
            continue
        if parameter["dtype"] == "file":
            staged = _file(parameter, given[name])
            checked.files.append(staged)
            checked.values[name] = staged.target
        else:
            checked.values[name] = value_of(parameter, given[name])
    return checked
