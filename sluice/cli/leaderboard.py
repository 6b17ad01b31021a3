"""`sluice leaderboard ...`: install workflow templates, list and show them, print the
leaderboard (with the schema's labels), download the post-processing archive."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click
from rich.markup import escape
from rich.table import Table

from sluice.cli.connect import connect, console, echo_json, json_flag, utc
from sluice.leaderboards import Leaderboards


@click.group()
def leaderboard() -> None:
    """Leaderboards of reproducible benchmarks (flowServ workflows)."""


@leaderboard.command()
@click.argument("template", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@json_flag
@click.pass_context
def install(ctx: click.Context, template: Path, as_json: bool) -> None:
    """Install the workflow TEMPLATE (YAML, or JSON for .json); needs an admin token."""
    installed = connect(ctx, Leaderboards).install(template)
    if as_json:
        echo_json(installed)
    else:
        click.echo(f"{installed['id']} {installed['name']}")


@leaderboard.command()
@json_flag
@click.pass_context
def ls(ctx: click.Context, as_json: bool) -> None:
    """List the installed workflows."""
    found = connect(ctx, Leaderboards).list_workflows()["workflows"]
    if as_json:
        echo_json(found)
        return
    table = Table()
    for name in ("id", "name", "description", "installed"):
        table.add_column(name, no_wrap=name == "id")
    for workflow in found:
        table.add_row(workflow["id"], workflow["name"], workflow["description"] or "",
                      utc(workflow["created_at"]))  # fmt: skip
    console().print(table)


@leaderboard.command()
@click.argument("workflow_id")
@json_flag
@click.pass_context
def show(ctx: click.Context, workflow_id: str, as_json: bool) -> None:
    """Show a workflow: its parameters, result columns and post-processing."""
    workflow = connect(ctx, Leaderboards).get_workflow(workflow_id)
    if as_json:
        echo_json(workflow)
        return
    out = console()
    out.print(f"[bold]{escape(str(workflow['name']))}[/bold] ({workflow['id']})", markup=True)
    if workflow["description"]:
        out.print(workflow["description"])
    table = Table(title="parameters")
    for name in ("name", "type", "label", "required", "default"):
        table.add_column(name)
    for parameter in workflow["parameters"]:
        table.add_row(parameter["name"], parameter["dtype"], parameter.get("label", ""),
                      "yes" if parameter.get("isRequired") else "",
                      _cell(parameter.get("defaultValue")))  # fmt: skip
    out.print(table)
    if workflow["results"]:
        columns = ", ".join(f"{c['label']} ({c['dtype']})" for c in workflow["results"]["schema"])
        out.print(f"results: {workflow['results']['file']}: {columns}")
    postproc = workflow["postproc"]
    if postproc:
        run = postproc["run"]
        state = "none yet" if run is None else f"{run['state']} ({run['id']})"
        out.print(f"post-processing: {', '.join(postproc['outputs'])}; latest run: {state}")


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


@leaderboard.command()
@click.argument("workflow_id")
@click.option(
    "--order-by",
    "order_by",
    multiple=True,
    metavar="COL[:ASC|DESC]",
    help="Sort by these result columns (repeat; default: the schema's order).",
)
@click.option("--all", "include_all", is_flag=True, help="Every run, not the best per group.")
@click.option("--page", default=1, show_default=True)
@click.option("--per-page", default=100, show_default=True)
@json_flag
@click.pass_context
def rank(
    ctx: click.Context,
    workflow_id: str,
    order_by: tuple[str, ...],
    include_all: bool,
    page: int,
    per_page: int,
    as_json: bool,
) -> None:
    """Print the leaderboard of WORKFLOW_ID, best first, with the schema's labels."""
    board = connect(ctx, Leaderboards).get_ranking(
        workflow_id, list(order_by), include_all, page, per_page
    )
    if as_json:
        echo_json(board)
        return
    table = Table()
    for name in ("#", "group", "run"):
        table.add_column(name, no_wrap=name == "run")
    for column in board["schema"]:
        table.add_column(
            column["label"], justify="left" if column["dtype"] == "string" else "right"
        )
    first = (page - 1) * per_page
    for number, row in enumerate(board["ranking"], start=first + 1):
        values = row["results"] or {}
        table.add_row(str(number), row["group"]["name"] or row["group"]["id"], row["run"]["id"],
                      *(_cell(values.get(c["name"])) for c in board["schema"]))  # fmt: skip
    console().print(table)


@leaderboard.command()
@click.argument("workflow_id")
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Where to write it [default: WORKFLOW_ID.tar.gz].",
)
@click.pass_context
def archive(ctx: click.Context, workflow_id: str, output: Path | None) -> None:
    """Download the tar.gz of the latest post-processing outputs of WORKFLOW_ID."""
    target = output or Path(f"{workflow_id}.tar.gz")
    connect(ctx, Leaderboards).save_result_archive(workflow_id, target)
    click.echo(f"{target} ({target.stat().st_size} bytes)")
