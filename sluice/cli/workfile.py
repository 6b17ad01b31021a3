"""`sluice workfile ...`: store, list, read and delete workfiles (`sluice run` runs
them: sluice.cli.runs)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import click
from rich.table import Table

from sluice.cli.connect import connect, console, echo_json, json_flag, utc
from sluice.workfile import Workfile

INFO_FIELDS = ("id", "file_name", "version", "workflow_name", "owner", "size", "modified_at")


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
