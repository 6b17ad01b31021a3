"""`sluice buckets deposit|show|retry|transfer`: queue works, inspect one, retry, move."""

from __future__ import annotations

import json
from typing import IO, Any

import click
from pydantic import ValidationError
from rich.markup import escape

from sluice.buckets import Buckets
from sluice.cli.connect import connect, console, echo_json, json_flag, utc
from sluice.cli.documents import read_documents
from sluice.plans.buckets import new_work


def _parameter(ctx: click.Context, param: click.Parameter, values: tuple[str, ...]) -> Any:
    parameters: dict[str, Any] = {}
    for value in values:
        name, equals, text = value.partition("=")
        if not equals or not name:
            raise click.BadParameter(f"{value!r} is not NAME=VALUE")
        try:
            parameters[name] = json.loads(text)
        except ValueError:
            parameters[name] = text  # not JSON: the text itself
    return parameters


@click.command()
@click.argument("source", type=click.File("r"), required=False, metavar="[FILE]")
@click.option("--pipeline", help="Pipeline of a work given by flags.")
@click.option("--site", default="local", show_default=True)
@click.option("--user", default="sluice", show_default=True)
@click.option("--function", help="Dotted path of the function to call.")
@click.option("--command", "command_line", help="Shell command line to run instead.")
@click.option("--param", "parameters", multiple=True, callback=_parameter, metavar="NAME=VALUE",
              help="A parameter (repeatable); VALUE is JSON, else text.")  # fmt: skip
@click.option("--tag", "tags", multiple=True)
@click.option("--priority", type=click.IntRange(1, 5), default=3, show_default=True)
@click.option("--retries", type=click.IntRange(0, 5), default=2, show_default=True)
@click.option("--timeout", type=click.IntRange(min=1), default=3600, show_default=True)
@click.option("--count", type=click.IntRange(min=1), default=1, show_default=True,
              help="Queue this many copies of the work given by flags.")  # fmt: skip
@click.pass_context
def deposit(
    ctx: click.Context,
    source: IO[str] | None,
    pipeline: str | None,
    site: str,
    user: str,
    function: str | None,
    command_line: str | None,
    parameters: dict[str, Any],
    tags: tuple[str, ...],
    priority: int,
    retries: int,
    timeout: int,
    count: int,
) -> None:
    """Queue works from FILE (JSON or YAML: a work or a list; `-` is stdin), or one work
    given by flags. Prints the ids, one a line."""
    if source is not None:
        if pipeline:
            raise click.UsageError("give FILE or --pipeline, not both")
        works = read_documents(source)
    elif pipeline:
        if not (function or command_line):
            raise click.UsageError("a work needs --function or --command")
        fields: dict[str, Any] = {
            "function": function,
            "command": [command_line] if command_line else None,
            "parameters": parameters or None,
            "tags": list(tags) or None,
            "priority": priority,
            "retries": retries,
            "timeout": timeout,
        }
        try:
            works = [new_work(pipeline, site, user, **fields) for _ in range(count)]
        except ValidationError as exc:
            raise click.UsageError(str(exc)) from None
    else:
        raise click.UsageError("give FILE (or -) or --pipeline with --function/--command")
    for work_id in connect(ctx, Buckets).deposit(works, return_ids=True):
        click.echo(work_id)


@click.command()
@click.argument("work_id", metavar="ID")
@json_flag
@click.pass_context
def show(ctx: click.Context, work_id: str, as_json: bool) -> None:
    """Show work ID: its state, attempts and, if it failed, its error."""
    found = connect(ctx, Buckets).view({"id": work_id}, limit=1)
    if not found:
        raise click.ClickException(
            f"no work {work_id!r} in Buckets (finished ones move to Results)"
        )
    work = found[0]
    if as_json:
        echo_json(work)
        return
    out = console()
    results = work.get("results") if isinstance(work.get("results"), dict) else {}
    rows = [
        ("id", work.get("id")),
        ("pipeline", work.get("pipeline")),
        ("status", work.get("status")),
        ("attempts", f"{work.get('attempt')} of {1 + int(work.get('retries') or 0)}"),
        ("runs", work.get("function") or " ".join(work.get("command") or [])),
        ("parameters", json.dumps(work.get("parameters"))),
        ("created (UTC)", utc(work.get("creation"))),
        ("started (UTC)", utc(work.get("start"))),
        ("stopped (UTC)", utc(work.get("stop"))),
    ]
    if results and results.get("error") is not None:
        rows.append(("error", str(results["error"])))
        if results.get("permanent"):
            rows.append(("permanent", "yes: not retried"))
    for name, value in rows:
        shown = escape("" if value is None else str(value))
        out.print(f"[bold]{name:>14}[/bold]  {shown}", highlight=False, markup=True)
    traceback = results.get("traceback") if results else None
    if isinstance(traceback, list) and traceback:
        out.print("\n".join(str(line) for line in traceback), highlight=False, markup=False)


@click.command()
@click.argument("ids", nargs=-1, required=True, metavar="ID...")
@click.pass_context
def retry(ctx: click.Context, ids: tuple[str, ...]) -> None:
    """Queue the failed works ID... again now (admin); exit 1 unless every one was."""
    retried = connect(ctx, Buckets).retry(list(ids))
    click.echo(f"Queued {retried} of {len(ids)} works again.")
    if retried < len(ids):
        click.echo("The others are not failed works in Buckets.", err=True)
        ctx.exit(1)


@click.command()
@json_flag
@click.pass_context
def transfer(ctx: click.Context, as_json: bool) -> None:
    """Move finished works from Buckets to Results now (one run of the mover, admin)."""
    tallies = connect(ctx, Buckets).transfer()
    if as_json:
        echo_json(tallies)
    else:
        click.echo(", ".join(f"{name}: {count}" for name, count in tallies.items()))


COMMANDS = [deposit, show, retry, transfer]
