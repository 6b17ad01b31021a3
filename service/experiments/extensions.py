"""Extensions: manifests in SLUICE_EXTENSIONS_DIR, and checking an action's parameters.

Each `*.yaml`, `*.yml` or `*.json` file of the directory declares one extension
(`schemas.experiments.Extension`). The directory is read again on every request, so an
admin adds, edits or removes extensions without a restart. A manifest that cannot be
used is reported (`invalid`), never fatal.
"""

from __future__ import annotations

import asyncio
import math
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from schemas.experiments import Action, Extension
from service.db import Document
from service.errors import NotFound, SluiceError, ValidationFailed
from service.experiments.files import check_name
from service.experiments.store import ExperimentStore

SUFFIXES = (".yaml", ".yml", ".json")
#: Largest manifest file read, in bytes: a manifest is a few lines.
MANIFEST_MAX = 1024 * 1024


def _problems(extension: Extension) -> list[str]:
    """What makes a schema-valid manifest unusable."""
    found: list[str] = []
    names = [action.name for action in extension.actions]
    if len(set(names)) != len(names):
        found.append("action names repeat")
    for action in extension.actions:
        params = {p.name: p for p in action.parameters}
        if len(params) != len(action.parameters):
            found.append(f"{action.name}: parameter names repeat")
        for p in action.parameters:
            if p.data_type == "select" and not p.options:
                found.append(f"{action.name}.{p.name}: a select needs options")
        variable = action.experiment_variable_name
        if variable is not None and getattr(params.get(variable), "data_type", None) != (
            "experiment"
        ):
            found.append(f"{action.name}: experiment_variable_name must name an experiment")
        reserved = [p.name for p in action.parameters if p.name.startswith("SLUICE_")]
        if reserved:
            found.append(f"{action.name}: parameter names starting SLUICE_ are reserved")
        if variable is None and action.token:
            found.append(f"{action.name}: token: true needs an experiment_variable_name")
        if variable is None and any(p.data_type == "file" for p in action.parameters):
            found.append(f"{action.name}: file parameters need an experiment_variable_name")
    return found


def _read(path: Path) -> Extension:
    if path.stat().st_size > MANIFEST_MAX:
        raise ValueError(f"larger than {MANIFEST_MAX} bytes")
    extension = Extension.model_validate(yaml.safe_load(path.read_text("utf-8")))
    problems = _problems(extension)
    if problems:
        raise ValueError("; ".join(problems))
    return extension


def _load(directory: str) -> tuple[list[Extension], list[Document]]:
    extensions: list[Extension] = []
    invalid: list[Document] = []
    if not directory:
        return extensions, invalid
    root = Path(directory)
    paths = sorted(p for p in root.iterdir() if p.suffix in SUFFIXES) if root.is_dir() else []
    for path in paths:
        try:
            extension = _read(path)
            if any(e.name == extension.name for e in extensions):
                raise ValueError(f"extension {extension.name!r} is declared twice")
        except (OSError, ValueError, ValidationError, yaml.YAMLError) as exc:
            invalid.append({"file": path.name, "error": str(exc)[:2000]})
            continue
        extensions.append(extension)
    return extensions, invalid


async def load(directory: str) -> tuple[list[Extension], list[Document]]:
    """The valid extensions of `directory` and `{file, error}` for each invalid manifest."""
    return await asyncio.to_thread(_load, directory)


async def find_action(
    directory: str, extension_name: str, action_name: str
) -> tuple[Extension, Action]:
    """The extension and action so named; 404 if either is unknown."""
    extensions, _ = await load(directory)
    for extension in extensions:
        if extension.name == extension_name:
            for action in extension.actions:
                if action.name == action_name:
                    return extension, action
            raise NotFound(
                f"extension {extension_name!r} has no action {action_name!r}",
                {"action": action_name},
            )
    raise NotFound(f"no extension {extension_name!r}", {"extension": extension_name})


def _typed(data_type: str, value: Any, options: list[str] | None) -> Any:
    """`value` as the parameter type wants it; ValueError saying why it is not."""
    if data_type in ("str", "textarea", "select", "experiment", "file"):
        if not isinstance(value, str):
            raise ValueError("must be a string")
        if data_type == "select" and value not in (options or []):
            raise ValueError(f"must be one of {options}")
        return value
    if isinstance(value, bool):
        if data_type == "bool":
            return value
        raise ValueError(f"must be a{'n' if data_type == 'int' else ''} {data_type}")
    if data_type == "int" and isinstance(value, int):
        if not -(2**63) <= value < 2**63:  # what BSON stores
            raise ValueError("must be an int within the signed 64-bit range")
        return value
    if data_type == "float" and isinstance(value, int | float) and math.isfinite(value):
        return float(value)
    raise ValueError(f"must be {'a boolean' if data_type == 'bool' else 'a ' + data_type}")


async def check_parameters(
    action: Action, given: dict[str, Any], experiments: ExperimentStore
) -> tuple[dict[str, Any], Document | None]:
    """The action's parameters as the command gets them (defaults filled in, experiment
    references as EIDs) and the task's experiment record, if the action names one.

    422 listing every problem: unknown or missing keys, wrong types, a select value
    not among its options, an unknown experiment, a file the experiment does not hold.
    """
    errors: list[Document] = []
    declared = {p.name: p for p in action.parameters}
    for key in given:
        if key not in declared:
            errors.append({"loc": [key], "msg": "not a parameter of this action"})
    values: dict[str, Any] = {}
    records: dict[str, Document] = {}
    for name, parameter in declared.items():
        value = given.get(name, parameter.default_value)
        if value is None:
            errors.append({"loc": [name], "msg": "missing"})
            continue
        try:
            values[name] = _typed(parameter.data_type, value, parameter.options)
            if parameter.data_type == "experiment":
                records[name] = await experiments.record(value)
                values[name] = records[name]["eid"]
            elif parameter.data_type == "file":
                check_name(value)
        except ValueError as exc:
            errors.append({"loc": [name], "msg": str(exc)})
        except SluiceError as exc:  # an unknown or malformed experiment reference
            errors.append({"loc": [name], "msg": exc.message})
    variable = action.experiment_variable_name
    experiment = records.get(variable) if variable else None
    if experiment is not None:
        held = {entry["name"] for entry in experiment.get("files", [])}
        for name, parameter in declared.items():
            if parameter.data_type == "file" and name in values and values[name] not in held:
                errors.append({"loc": [name], "msg": f"experiment has no file {values[name]!r}"})
    if errors:
        first = errors[0]
        raise ValidationFailed(
            f"parameters are invalid: {first['loc'][0]}: {first['msg']}; nothing was started",
            {"errors": errors},
        )
    return values, experiment


def environment(values: dict[str, Any]) -> dict[str, str]:
    """Parameters as environment variable values (booleans as `true`/`false`)."""
    return {
        name: ("true" if value else "false") if isinstance(value, bool) else str(value)
        for name, value in values.items()
    }
