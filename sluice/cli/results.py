"""`sluice results ...`: read, count, lock and unlock stored results."""

from __future__ import annotations

import json
from typing import IO, Any

import click
from rich.table import Table

from sluice.cli.connect import (
    connect,
    console,
    echo_json,
    join,
    json_flag,
    json_object,
    query_option,
    utc,
)
from sluice.cli.documents import pipeline_check, read_documents
from sluice.results import Results

UNLOCK_WARNING = "Unlocking results will allow them to be deleted or updated."


@click.group()
def results() -> None:
    """Results: finished works, stored per pipeline."""


def _locked(document: dict[str, Any]) -> str:
    stored = document.get("results")
    return "yes" if isinstance(stored, dict) and stored.get("locked") is True else ""


def _dotted(document: Any, path: str) -> Any:
    for part in path.split("."):
        if not isinstance(document, dict):
            return None
        document = document.get(part)
    return document


def _cell(value: Any) -> str:
    if value is None:
        return ""
    return value if isinstance(value, str) else json.dumps(value)[:60]


def _table(pipeline: str, documents: list[dict[str, Any]], columns: list[str], total: int) -> Table:
    shown = f"showing {len(documents)} of {total}" if total > len(documents) else str(total)
    table = Table(title=f"{pipeline}: {shown} results", title_justify="left")
    table.add_column("id", no_wrap=True)
    table.add_column("status")
    table.add_column("event")
    table.add_column("tags")
    table.add_column("created (UTC)", no_wrap=True)
    table.add_column("locked")
    for column in columns:
        table.add_column(column)
    for document in documents:
        table.add_row(
            str(document.get("id") or ""),
            str(document.get("status") or ""),
            join(document.get("event")),
            join(document.get("tags")),
            utc(document.get("creation")),
            _locked(document),
            *(_cell(_dotted(document, column)) for column in columns),
        )
    if total > len(documents):
        table.caption = f"showing {len(documents)} of {total}; page with --skip/--limit"
    return table


def _columns(ctx: click.Context, param: click.Parameter, value: str) -> list[str]:
    return [name.strip() for name in value.split(",") if name.strip()]


@results.command()
@click.argument("pipeline")
@query_option
@click.option(
    "--projection", callback=json_object, default="{}", metavar="JSON", help="MongoDB projection."
)
@click.option("--skip", type=click.IntRange(min=0), default=0, show_default=True)
@click.option(
    "--limit", type=click.IntRange(min=-1), default=100, show_default=True, help="-1: no limit."
)
@click.option("--columns", callback=_columns, default="", metavar="FIELD,...",
              help="Extra columns: dotted fields such as results.snr,parameters.dm.")  # fmt: skip
@json_flag
@click.pass_context
def view(
    ctx: click.Context,
    pipeline: str,
    query: dict[str, Any],
    projection: dict[str, Any],
    skip: int,
    limit: int,
    columns: list[str],
    as_json: bool,
) -> None:
    """Show the results of PIPELINE that match --query ("showing 100 of 501" when
    there are more than --limit)."""
    client = connect(ctx, Results)
    documents = client.view(pipeline, query, projection, skip, limit)
    if not documents:
        pipeline_check(pipeline, list(client.status()))
    if as_json:
        echo_json(documents)
        return
    total = len(documents)
    if limit != -1 and len(documents) >= limit:
        total = client.count(pipeline, query) - skip
    console().print(_table(pipeline, documents, columns, total))


@results.command()
@click.argument("pipeline")
@query_option
@json_flag
@click.pass_context
def count(ctx: click.Context, pipeline: str, query: dict[str, Any], as_json: bool) -> None:
    """Count the results of PIPELINE that match --query."""
    number = connect(ctx, Results).count(pipeline, query)
    if as_json:
        echo_json(number)
    else:
        click.echo(f"{number} results in {pipeline}")


@results.command()
@json_flag
@click.pass_context
def status(ctx: click.Context, as_json: bool) -> None:
    """Count the results of every pipeline."""
    counts = connect(ctx, Results).status()
    if as_json:
        echo_json(counts)
        return
    table = Table(show_footer=True)
    table.add_column("pipeline", footer="total", no_wrap=True)
    table.add_column("results", footer=str(sum(counts.values())), justify="right")
    for pipeline, number in sorted(counts.items()):
        table.add_row(pipeline, str(number))
    console().print(table)


@results.command()
@click.argument("pipeline")
@click.argument("ids", nargs=-1, required=True)
@click.pass_context
def lock(ctx: click.Context, pipeline: str, ids: tuple[str, ...]) -> None:
    """Lock results of PIPELINE by id so they cannot be changed or deleted."""
    connect(ctx, Results).lock(pipeline, list(ids))
    click.echo(f"Locked {len(set(ids))} results in {pipeline}.")


@results.command()
@click.argument("pipeline")
@click.argument("ids", nargs=-1, required=True)
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@click.pass_context
def unlock(ctx: click.Context, pipeline: str, ids: tuple[str, ...], yes: bool) -> None:
    """Unlock results of PIPELINE by id."""
    if not yes:
        click.confirm(f"{UNLOCK_WARNING} Unlock {len(set(ids))} results?", abort=True)
    connect(ctx, Results).unlock(pipeline, list(ids), force=True)
    click.echo(f"Unlocked {len(set(ids))} results in {pipeline}.")


@results.command()
@click.argument("source", type=click.File("r"), metavar="FILE")
@click.pass_context
def deposit(ctx: click.Context, source: IO[str]) -> None:
    """Store finished works from FILE (JSON or YAML: a work or a list; `-` is stdin),
    several pipelines at once; all or nothing."""
    documents = read_documents(source)
    stored = connect(ctx, Results).deposit(documents)
    for pipeline in sorted(stored):
        count = sum(1 for d in documents if d.get("pipeline") == pipeline)
        click.echo(f"Stored {count} results in {pipeline}.")
