"""`sluice exp ...`: experiments, their tags and files."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

import click
from rich.console import Console
from rich.markup import escape
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    TextColumn,
    TimeRemainingColumn,
    TransferSpeedColumn,
)
from rich.table import Table

from sluice.cli.connect import connect, console, echo_json, join, json_flag
from sluice.experiments import Experiments
from sluice.experiments import Progress as ProgressCallback


@contextmanager
def transfer_bar(label: str) -> Iterator[ProgressCallback]:
    """A progress bar on stderr; yields the `progress(done, total)` callback."""
    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        DownloadColumn(),
        TransferSpeedColumn(),
        TimeRemainingColumn(),
    )
    with Progress(*columns, console=Console(stderr=True), transient=False) as bar:
        task = bar.add_task(label, total=None)

        def update(done: int, total: int | None) -> None:
            bar.update(task, completed=done, total=total)

        yield update


def _local(value: str) -> str:
    return datetime.fromisoformat(value).strftime("%Y-%m-%d %H:%M:%S")


def _experiments_table(records: list[dict[str, Any]], total: int) -> Table:
    table = Table(title=f"{len(records)} of {total}", title_justify="left")
    for name in ("eid", "title", "tags", "files", "created (UTC)"):
        table.add_column(name, no_wrap=name in ("eid", "created (UTC)"))
    for r in records:
        table.add_row(r["eid"], r["title"], join(r["tags"]), str(len(r["files"])),
                      _local(r["created_at"]))  # fmt: skip
    return table


@click.group()
def exp() -> None:
    """Experiments: records with tags and files."""


@exp.command()
@click.argument("title")
@click.option("--description", "-d", default="", help="Description (at most 5000 characters).")
@json_flag
@click.pass_context
def create(ctx: click.Context, title: str, description: str, as_json: bool) -> None:
    """Create an experiment; prints its EID."""
    record = connect(ctx, Experiments).create(title, description)
    echo_json(record) if as_json else click.echo(record["eid"])


@exp.command()
@click.argument("search", required=False)
@click.option("--tag", "tags", multiple=True, help="With any of these tags.")
@click.option("--since", type=click.DateTime(), help="Created at or after (UTC).")
@click.option("--until", type=click.DateTime(), help="Created at or before (UTC).")
@click.option("--limit", type=click.IntRange(1, 500), default=20, show_default=True)
@click.option("--offset", type=click.IntRange(min=0), default=0, show_default=True)
@json_flag
@click.pass_context
def find(
    ctx: click.Context,
    search: str | None,
    tags: tuple[str, ...],
    since: datetime | None,
    until: datetime | None,
    limit: int,
    offset: int,
    as_json: bool,
) -> None:
    """Find experiments whose title or EID contains SEARCH, newest first."""
    page = connect(ctx, Experiments).find(search, limit, offset, tags, since, until)
    if as_json:
        echo_json(page)
    else:
        console().print(_experiments_table(page["experiments"], page["total"]))


@exp.command()
@click.argument("ref")
@json_flag
@click.pass_context
def show(ctx: click.Context, ref: str, as_json: bool) -> None:
    """Show an experiment (REF: EID or UUID) and its files."""
    r = connect(ctx, Experiments).get(ref)
    if as_json:
        echo_json(r)
        return
    out = console()
    out.print(
        f"[bold]{escape(str(r['eid']))}[/bold]  {escape(str(r['title']))}\nuuid {r['uuid']}",
        markup=True,
    )
    out.print(f"created {_local(r['created_at'])}, updated {_local(r['updated_at'])} (UTC)")
    out.print(f"tags: {join(r['tags']) or '-'}")
    if r["description"]:
        out.print(r["description"])
    files = Table(title=f"files: {len(r['files'])}", title_justify="left")
    for name in ("name", "size", "modified (UTC)", "checksum"):
        files.add_column(name)
    for f in r["files"]:
        files.add_row(f["name"], str(f["size"]), _local(f["modified_at"]), f["checksum"])
    out.print(files)


@exp.command()
@click.argument("ref")
@click.argument("tags", nargs=-1, required=True)
@click.pass_context
def tag(ctx: click.Context, ref: str, tags: tuple[str, ...]) -> None:
    """Add TAGS to an experiment."""
    click.echo(join(connect(ctx, Experiments).add_tags(ref, tags)["tags"]))


@exp.command()
@click.argument("ref")
@click.argument("tag_name", metavar="TAG")
@click.pass_context
def untag(ctx: click.Context, ref: str, tag_name: str) -> None:
    """Remove TAG from an experiment (an error if it does not carry it)."""
    click.echo(join(connect(ctx, Experiments).remove_tag(ref, tag_name)["tags"]))


@exp.command()
@click.argument("ref")
@click.argument("files", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False))
@click.option("--quiet", "-q", is_flag=True, help="No progress bar.")
@click.pass_context
def upload(ctx: click.Context, ref: str, files: tuple[str, ...], quiet: bool) -> None:
    """Upload FILES to an experiment (a file of the same name is replaced)."""
    client = connect(ctx, Experiments)
    for name in files:
        path = Path(name)
        if quiet:
            entry = client.upload(ref, path)
        else:
            with transfer_bar(path.name) as progress:
                entry = client.upload(ref, path, progress=progress)
        click.echo(f"{entry['name']}\t{entry['size']}\t{entry['checksum']}")


@exp.command()
@click.argument("ref")
@click.argument("names", nargs=-1, required=True)
@click.option("--output", "-o", type=click.Path(file_okay=False), default=".", show_default=True)
@click.option("--quiet", "-q", is_flag=True, help="No progress bar.")
@click.pass_context
def download(
    ctx: click.Context, ref: str, names: tuple[str, ...], output: str, quiet: bool
) -> None:
    """Download files of an experiment into --output."""
    client = connect(ctx, Experiments)
    Path(output).mkdir(parents=True, exist_ok=True)
    for name in names:
        if quiet:
            path = client.download(ref, name, Path(output))
        else:
            with transfer_bar(name) as progress:
                path = client.download(ref, name, Path(output), progress)
        click.echo(str(path))


@exp.command()
@click.argument("ref")
@click.option("--file", "files", multiple=True, help="Remove only these files (all or none).")
@click.option("--yes", "-y", is_flag=True, help="Do not ask before removing an experiment.")
@click.pass_context
def rm(ctx: click.Context, ref: str, files: tuple[str, ...], yes: bool) -> None:
    """Remove an experiment with its files and tasks, or only --file files of it."""
    client = connect(ctx, Experiments)
    if files:
        click.echo("\n".join(client.remove_files(ref, files)))
        return
    if not yes:
        click.confirm(f"Remove experiment {ref} with all its files and tasks?", abort=True)
    client.remove(ref)
    click.echo(f"removed {ref}")
