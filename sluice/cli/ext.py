"""`sluice ext ...`: list extensions, run an action and follow its task."""

from __future__ import annotations

import time
from typing import Any

import click
from rich.table import Table

from schemas.experiments import ACTIVE_STATUSES
from sluice.cli.connect import connect, console, echo_json, json_flag
from sluice.core.plan import Document
from sluice.experiments import Experiments

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}


@click.group()
def ext() -> None:
    """Extensions: admin-declared actions run against experiments as tasks."""


@ext.command()
@json_flag
@click.pass_context
def ls(ctx: click.Context, as_json: bool) -> None:
    """List extensions, their actions and parameters."""
    listing = connect(ctx, Experiments).extensions()
    if as_json:
        echo_json(listing)
        return
    table = Table()
    for name in ("extension", "action", "parameters", "description"):
        table.add_column(name)
    for extension in listing["extensions"]:
        for action in extension["actions"]:
            params = ", ".join(_describe(p) for p in action["parameters"])
            table.add_row(extension["name"], action["name"], params, action["description"])
    console().print(table)
    for invalid in listing["invalid"]:
        click.echo(f"invalid manifest {invalid['file']}: {invalid['error']}", err=True)


def _describe(parameter: Document) -> str:
    kind = parameter["data_type"]
    if kind == "select":
        kind = "|".join(parameter.get("options") or [])
    default = parameter.get("default_value")
    return f"{parameter['name']}:{kind}" + ("" if default is None else f"={default}")


def _typed(kind: str | None, name: str, raw: str) -> Any:
    """A `-p name=value` value as the parameter's type wants it."""
    try:
        if kind == "int":
            return int(raw)
        if kind == "float":
            return float(raw)
    except ValueError:
        raise click.BadParameter(f"{name} must be a{'n' if kind == 'int' else ''} {kind}") from None
    if kind == "bool":
        if raw.lower() in _TRUE | _FALSE:
            return raw.lower() in _TRUE
        raise click.BadParameter(f"{name} must be true or false")
    return raw


def _find_action(listing: Document, extension: str, action: str) -> Document:
    for declared in listing["extensions"]:
        if declared["name"] == extension:
            for candidate in declared["actions"]:
                if candidate["name"] == action:
                    found: Document = candidate
                    return found
    raise click.UsageError(f"no action {action!r} in extension {extension!r} (see `sluice ext ls`)")


@ext.command()
@click.argument("extension")
@click.argument("action")
@click.option(
    "--param",
    "-p",
    "params",
    multiple=True,
    metavar="NAME=VALUE",
    help="A parameter of the action; repeat for each.",
)
@click.option("--wait", is_flag=True, help="Wait for the task to end; exit 1 unless SUCCESS.")
@click.option(
    "--poll",
    type=click.FloatRange(min=0.1),
    default=1.0,
    show_default=True,
    help="Seconds between looks at the task with --wait.",
)
@json_flag
@click.pass_context
def run(
    ctx: click.Context,
    extension: str,
    action: str,
    params: tuple[str, ...],
    wait: bool,
    poll: float,
    as_json: bool,
) -> None:
    """Run ACTION of EXTENSION; prints the task id (or, with --wait, its output)."""
    client = connect(ctx, Experiments)
    declared = _find_action(client.extensions(), extension, action)
    kinds = {p["name"]: p["data_type"] for p in declared["parameters"]}
    parameters: dict[str, Any] = {}
    for item in params:
        name, sep, raw = item.partition("=")
        if not sep:
            raise click.BadParameter(f"{item!r} is not NAME=VALUE", param_hint="--param")
        parameters[name] = _typed(kinds.get(name), name, raw)
    task = client.execute(extension, action, parameters)
    if wait:
        while task["status"] in ACTIVE_STATUSES:
            time.sleep(poll)
            task = client.task(task["task_id"])
    if as_json:
        echo_json(task)
    elif wait:
        click.echo(f"{task['task_id']} {task['status']} (exit code {task['result_code']})")
        if task["stdout"]:
            click.echo(task["stdout"])
        if task["stderr"]:
            click.echo(task["stderr"], err=True)
    else:
        click.echo(task["task_id"])
    if wait and task["status"] != "SUCCESS":
        ctx.exit(1)
