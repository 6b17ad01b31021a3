"""`sluice workfile ...` (store, list, read, delete workfiles) and `sluice run` (run one,
optionally watching its steps live until it ends)."""

from __future__ import annotations

import contextlib
import sys
from pathlib import Path
from typing import Any

import click
from rich.live import Live
from rich.table import Table

from sluice.cli.connect import connect, console, echo_json, json_flag, utc
from sluice.workfile import Workfile

INFO_FIELDS = ("id", "file_name", "version", "workflow_name", "owner", "size", "modified_at")
STEP_STYLES = {"success": "green", "failure": "red", "running": "yellow", "cancelled": "dim"}


def _info_table(rows: list[dict[str, Any]]) -> Table:
    table = Table()
    for name in INFO_FIELDS:
        table.add_column(name, no_wrap=name == "id")
    for row in rows:
        cells = [utc(row[n]) if n == "modified_at" else str(row.get(n, "")) for n in INFO_FIELDS]
        table.add_row(*cells)
    return table


@click.group()
def workfile() -> None:
    """Workfiles: stored workflow definitions (YAML or JSON)."""


@workfile.command()
@click.argument("workspace")
@click.argument("path", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--name", help="File name to store it as [default: the file's name].")
@json_flag
@click.pass_context
def upload(ctx: click.Context, workspace: str, path: Path, name: str | None, as_json: bool) -> None:
    """Upload the workfile at PATH to WORKSPACE (a known name gets a new version)."""
    stored = connect(ctx, Workfile).upload(workspace, path, file_name=name)
    if as_json:
        echo_json(stored)
    else:
        click.echo(f"{stored['id']} {stored['file_name']} version {stored['version']}")


@workfile.command()
@click.argument("workspace")
@click.option("--per-page", default=100, show_default=True, help="Workfiles fetched per request.")
@json_flag
@click.pass_context
def ls(ctx: click.Context, workspace: str, per_page: int, as_json: bool) -> None:
    """List every workfile of WORKSPACE."""
    found = connect(ctx, Workfile).get_list(workspace, per_page)
    if as_json:
        echo_json(found)
    elif found:
        console().print(_info_table(found))
    else:
        click.echo(f"No workfile in workspace {workspace}.")


@workfile.command()
@click.argument("workfile_id")
@json_flag
@click.pass_context
def get(ctx: click.Context, workfile_id: str, as_json: bool) -> None:
    """Show a workfile's metadata."""
    found = connect(ctx, Workfile).get(workfile_id)
    if as_json:
        echo_json(found)
    else:
        console().print(_info_table([found]))


@workfile.command()
@click.argument("workfile_id")
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path),
              help="Write to this file [default: stdout].")  # fmt: skip
@click.option("--version", type=int, help="Version to fetch [default: the latest].")
@click.pass_context
def download(
    ctx: click.Context, workfile_id: str, output: Path | None, version: int | None
) -> None:
    """Print (or save) a workfile's bytes as uploaded."""
    content = connect(ctx, Workfile).download(workfile_id, version)
    if output is None:
        sys.stdout.buffer.write(content)
        sys.stdout.buffer.flush()
    else:
        output.write_bytes(content)


@workfile.command()
@click.argument("workfile_id")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@click.pass_context
def rm(ctx: click.Context, workfile_id: str, yes: bool) -> None:
    """Delete a workfile and all its versions (runs keep their copy)."""
    client = connect(ctx, Workfile)
    found = client.get(workfile_id)
    if not yes:
        click.confirm(f"Delete workfile {found['file_name']} ({workfile_id})?", abort=True)
    client.delete(workfile_id)
    click.echo(f"Deleted {workfile_id}.")


def _variable(ctx: click.Context, param: click.Parameter, values: tuple[str, ...]) -> list[Any]:
    variables = []
    for value in values:
        name, equals, text = value.partition("=")
        if not equals or not name:
            raise click.BadParameter(f"{value!r} is not NAME=VALUE")
        variables.append({"name": name, "value": text})
    return variables


def steps_table(process: dict[str, Any]) -> Table:
    """The run's steps, one row each, coloured by state."""
    table = Table(title=f"{process['workflow_name']}: {process['status']}")
    for name in ("step", "state", "attempt", "error"):
        table.add_column(name)
    for step in process["steps"]:
        style = STEP_STYLES.get(step["state"], "")
        error = (step["error"] or "")[:80]
        table.add_row(step["name"], step["state"], str(step["attempt"]), error, style=style)
    return table


@click.command()
@click.argument("workfile_ref", metavar="WORKFILE")
@click.option("--workspace", help="WORKFILE is a file name in this workspace, not an id.")
@click.option("--var", "variables", multiple=True, callback=_variable, metavar="NAME=VALUE",
              help="A variable's value (repeatable); values are strings.")  # fmt: skip
@click.option("--wait", is_flag=True, help="Show the steps live until the run ends.")
@click.option("--every", default=1.0, show_default=True, help="Seconds between polls.")
@click.option("--timeout", default=3600.0, show_default=True,
              help="Seconds to wait before stopping the run.")  # fmt: skip
@click.pass_context
def run(
    ctx: click.Context,
    workfile_ref: str,
    workspace: str | None,
    variables: list[Any],
    wait: bool,
    every: float,
    timeout: float,
) -> None:
    """Run WORKFILE (an id) with variables; print the process id, or with --wait the
    steps as they progress. Exits 1 if the run fails or times out (then it is stopped)."""
    client = connect(ctx, Workfile)
    workflow_id = client.get_id(workfile_ref, workspace) if workspace else workfile_ref
    process_id = client.process.run(workflow_id, variables)
    if not wait:
        click.echo(process_id)
        return
    out = console()
    out.print(f"process {process_id}")
    seen: dict[str, Any] = {}
    live = Live(console=out, auto_refresh=False) if out.is_terminal else None

    def show(process: dict[str, Any]) -> None:
        seen.update(process)
        if live is not None:
            live.update(steps_table(process), refresh=True)

    try:
        with live or contextlib.nullcontext():
            status = client.process.wait_until_finished(
                workflow_id, process_id, query_time=every, timeout=timeout, on_poll=show
            )
    finally:
        # Piped output gets the last table only, not one redraw per poll.
        if live is None and seen:
            out.print(steps_table(seen))
    out.print(f"run {process_id}: {status}")
