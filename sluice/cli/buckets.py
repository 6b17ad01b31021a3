"""`sluice buckets ...`: list pipelines, inspect one, remove works."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import click
from rich.console import Console, Group, RenderableType
from rich.live import Live
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from sluice.buckets import Buckets
from sluice.cli.connect import connect, console, echo_json, json_flag, utc
from sluice.cli.documents import pipeline_check
from sluice.plans.buckets import DELETE_BATCH, delete_query

STATUSES = ("created", "queued", "running", "success", "failure")
COUNTS = ("total", "queued", "running", "success", "failure")
#: Running works `ps` lists at most.
PS_LIMIT = 100
PS_FIELDS = ("id", "site", "user", "attempt", "retries", "start", "timeout", "priority")


@click.group()
def buckets() -> None:
    """Buckets: the work queue."""


def _counts_table(rows: dict[str, dict[str, int]]) -> Table:
    table = Table(show_footer=len(rows) > 1)
    table.add_column("pipeline", footer="all", no_wrap=True)
    for name in COUNTS:
        total = sum(row.get(name, 0) for row in rows.values())
        table.add_column(name, footer=str(total), justify="right")
    for pipeline, row in rows.items():
        table.add_row(pipeline, *(str(row.get(name, 0)) for name in COUNTS))
    return table


watch_option = click.option(
    "--watch", type=click.FloatRange(min=0.2), metavar="SECONDS",
    help="Redraw every SECONDS until Ctrl-C.",
)  # fmt: skip


def show(draw: Callable[[], RenderableType], watch: float | None) -> None:
    """Print `draw()` once, or with `watch` redraw it every `watch` seconds (in place
    on a terminal, one after the other when piped) until Ctrl-C."""
    out = console()
    if watch is None:
        out.print(draw())
        return
    try:
        if out.is_terminal:
            with Live(draw(), console=out, auto_refresh=False) as live:
                while True:
                    time.sleep(watch)
                    live.update(draw(), refresh=True)
        while True:
            out.print(draw())
            out.file.flush()
            time.sleep(watch)
    except KeyboardInterrupt:
        return


@buckets.command()
@watch_option
@json_flag
@click.pass_context
def ls(ctx: click.Context, watch: float | None, as_json: bool) -> None:
    """List the pipelines holding work, with their counts by status."""
    client = connect(ctx, Buckets)

    def rows() -> dict[str, dict[str, int]]:
        return {pipeline: client.details(pipeline) for pipeline in client.pipelines()}

    if as_json:
        echo_json(rows())
        return

    def draw() -> RenderableType:
        found = rows()
        return _counts_table(found) if found else "No pipeline holds work."

    show(draw, watch)


def _running_table(works: list[dict[str, Any]]) -> Table:
    table = Table(title=f"running: {len(works)}", title_justify="left")
    for name in ("id", "site", "user", "attempt", "started (UTC)", "timeout", "priority"):
        table.add_column(name, no_wrap=name in ("id", "started (UTC)"))
    for work in works:
        attempt = f"{work.get('attempt')}/{work.get('retries')}"
        table.add_row(
            str(work.get("id") or ""),
            str(work.get("site") or ""),
            str(work.get("user") or ""),
            attempt,
            utc(work.get("start")),
            f"{work.get('timeout')}s",
            str(work.get("priority")),
        )
    return table


@buckets.command()
@click.argument("pipeline")
@watch_option
@json_flag
@click.pass_context
def ps(ctx: click.Context, pipeline: str, watch: float | None, as_json: bool) -> None:
    """Show PIPELINE's counts by status and its running works."""
    client = connect(ctx, Buckets)
    details = client.details(pipeline)
    if not details.get("total"):
        pipeline_check(pipeline, client.pipelines())
    query = {"pipeline": pipeline, "status": "running"}
    if as_json:
        running = client.view(query, dict.fromkeys(PS_FIELDS, True), limit=PS_LIMIT)
        echo_json({"details": details, "running": running})
        return

    def draw() -> RenderableType:
        works = client.view(query, dict.fromkeys(PS_FIELDS, True), limit=PS_LIMIT)
        counts = _counts_table({pipeline: client.details(pipeline)})
        return Group(counts, _running_table(works)) if works else counts

    show(draw, watch)


@buckets.command()
@click.argument("pipeline")
@click.option("--status", type=click.Choice(STATUSES), help="Only works with this status.")
@click.option("--event", "events", type=int, multiple=True, help="Only works of this event.")
@click.option("--tag", "tags", multiple=True, help="Only works with this tag.")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@click.pass_context
def rm(
    ctx: click.Context,
    pipeline: str,
    status: str | None,
    events: tuple[int, ...],
    tags: tuple[str, ...],
    yes: bool,
) -> None:
    """Delete works of PIPELINE, whatever their state (all of them, or those matching
    the options)."""
    client = connect(ctx, Buckets)
    # An option not given is an empty tuple: no filter, not "match nothing".
    ids = client.matching_ids(delete_query(pipeline, status, events or None, tags or None))
    which = f"{status} works" if status else "works"
    if not ids:
        click.echo(f"No {which} to delete in {pipeline}.")
        return
    if not yes:
        click.confirm(f"Delete {len(ids)} {which} from {pipeline}?", abort=True)
    if len(ids) <= DELETE_BATCH:
        client.delete_ids(ids)
    else:
        columns = (TextColumn("deleting"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn())
        with Progress(*columns, console=Console(stderr=True)) as progress:
            task = progress.add_task("delete", total=len(ids))
            client.delete_ids(ids, lambda done, total: progress.update(task, completed=done))
    click.echo(f"Deleted {len(ids)} {which} from {pipeline}.")


@buckets.command()
@click.option("--pipeline", help="Only workers serving this pipeline.")
@click.option("--site", help="Only workers at this site.")
@json_flag
@click.pass_context
def workers(ctx: click.Context, pipeline: str | None, site: str | None, as_json: bool) -> None:
    """List the live workers: where they run, what they serve, what they run now."""
    found = connect(ctx, Buckets).workers(pipeline, site)
    if as_json:
        echo_json(found)
        return
    if not found:
        click.echo("No live worker.")
        return
    table = Table(title=f"live workers: {len(found)}", title_justify="left")
    for name in ("name", "host", "pid", "site", "pipelines", "running", "last seen (UTC)"):
        table.add_column(name, no_wrap=name in ("name", "running"))
    for worker in found:
        current = worker.get("current") or {}
        table.add_row(
            str(worker.get("name")),
            str(worker.get("host")),
            str(worker.get("pid")),
            str(worker.get("site") or ""),
            ", ".join(worker.get("pipelines") or []),
            f"{current['id']} ({current['pipeline']})" if current else "idle",
            utc(worker.get("seen")),
        )
    console().print(table)
