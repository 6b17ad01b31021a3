"""`sluice data ...`: versioned data sources (AERO): list, show, create, upload,
download, ingest and search them, and register the functions flows run."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import click
from rich.table import Table

from sluice.cli.connect import connect, console, echo_json, join, json_flag
from sluice.data import Data

SOURCE_FIELDS = ("id", "name", "available_versions", "latest_version", "url", "tags")
VERSION_FIELDS = ("version", "created_at", "size", "sha256", "file_name", "run_id")


def _table(rows: list[dict[str, Any]], fields: tuple[str, ...]) -> Table:
    table = Table()
    for name in fields:
        table.add_column(name, no_wrap=name in ("id", "sha256"))
    for row in rows:
        table.add_row(*(join(row.get(name)) for name in fields))
    return table


def _version_row(version: dict[str, Any]) -> dict[str, Any]:
    return {**version, "file_name": (version.get("data_file") or {}).get("file_name")}


@click.group()
def data() -> None:
    """Versioned data sources: every distinct content is a numbered version."""


@data.command()
@click.option("--kind", type=click.Choice(["source", "derived"]), help="Only this kind.")
@json_flag
@click.pass_context
def ls(ctx: click.Context, kind: str | None, as_json: bool) -> None:
    """List data sources and flow outputs, newest first."""
    found = [item for page in connect(ctx, Data).list_metadata("data") for item in page]
    found = [item for item in found if kind is None or item.get("kind") == kind]
    if as_json:
        echo_json(found)
    elif found:
        console().print(_table(found, SOURCE_FIELDS))
    else:
        click.echo("No data.")


@data.command()
@click.argument("data_id")
@json_flag
@click.pass_context
def show(ctx: click.Context, data_id: str, as_json: bool) -> None:
    """Show one data source."""
    found = connect(ctx, Data).get_source(data_id)
    if as_json:
        echo_json(found)
    else:
        for name, value in found.items():
            click.echo(f"{name}: {join(value)}")


@data.command()
@click.argument("name")
@click.option("--url", help="Where ingestion fetches it (http or https).")
@click.option("--description", default="", help="What it holds.")
@click.option("--tag", "tags", multiple=True, help="A tag (repeatable).")
@json_flag
@click.pass_context
def create(
    ctx: click.Context, name: str, url: str | None, description: str, tags: tuple[str, ...],
    as_json: bool,
) -> None:  # fmt: skip
    """Create a data source NAME; prints its id."""
    made = connect(ctx, Data).create_source(name, url, description, tags)
    if as_json:
        echo_json(made)
    else:
        click.echo(made["id"])


@data.command()
@click.argument("data_id")
@json_flag
@click.pass_context
def versions(ctx: click.Context, data_id: str, as_json: bool) -> None:
    """List the versions of DATA_ID, oldest first."""
    found = connect(ctx, Data).list_versions(data_id)
    if as_json:
        echo_json(found)
    elif found:
        console().print(_table([_version_row(v) for v in found], VERSION_FIELDS))
    else:
        click.echo(f"No version of {data_id} yet.")


@data.command()
@click.argument("data_id")
@click.argument("path", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--type", "file_type", default="application/octet-stream", show_default=True,
              help="MIME type to record.")  # fmt: skip
@json_flag
@click.pass_context
def upload(ctx: click.Context, data_id: str, path: Path, file_type: str, as_json: bool) -> None:
    """Commit the file at PATH as a version of DATA_ID (nothing new if unchanged)."""
    answer = connect(ctx, Data).upload_version(data_id, path, file_type=file_type)
    if as_json:
        echo_json(answer)
    else:
        made = "created" if answer["created"] else "unchanged, latest is"
        click.echo(f"{made} version {answer['version']['version']}")


@data.command()
@click.argument("data_id")
@click.option("--version", type=int, help="Version number [default: the latest].")
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path),
              help="File to write [default: stdout].")  # fmt: skip
@click.pass_context
def download(ctx: click.Context, data_id: str, version: int | None, output: Path | None) -> None:
    """Write a version's bytes to OUTPUT (streamed, checked against its sha256) or stdout."""
    if output is None:
        sys.stdout.buffer.write(connect(ctx, Data).download(data_id, version))
    else:
        connect(ctx, Data).download_to(data_id, output, version)


@data.command()
@click.argument("data_id")
@click.option("--force", is_flag=True, help="Fetch even if the upstream says unchanged.")
@json_flag
@click.pass_context
def ingest(ctx: click.Context, data_id: str, force: bool, as_json: bool) -> None:
    """Fetch DATA_ID's URL now; a new version only if the content changed. Exits 1
    when the fetch failed."""
    result = connect(ctx, Data).ingest(data_id, force)
    if as_json:
        echo_json(result)
    elif result["status"] == "failed":
        click.echo(f"failed: {result['error']['message']}", err=True)
    else:
        click.echo(f"{result['status']}: version {result['version']['version']}")
    if result["status"] == "failed":
        ctx.exit(1)


@data.command()
@click.argument("data_id")
@click.option("--etag", help="The upstream's new ETag, if known (kept on the run).")
@click.option("--size", type=click.IntRange(min=0), help="Its size in bytes, if known.")
@click.option("--url", help="The URL that changed (must be the source's own).")
@json_flag
@click.pass_context
def notify(
    ctx: click.Context, data_id: str, etag: str | None, size: int | None, url: str | None,
    as_json: bool,
) -> None:  # fmt: skip
    """Say DATA_ID's upstream changed: the INGESTION_EVENT flow producing it fetches it
    once; prints the run queued."""
    run = connect(ctx, Data).notify(data_id, etag, size, url)
    if as_json:
        echo_json(run)
    elif run.get("coalesced"):
        click.echo(f"coalesced: flow {run['flow_id']} has a run in flight")
    else:
        click.echo(f"queued run {run['id']} of flow {run['flow_id']}")


@data.command()
@click.argument("query")
@click.option("--limit", default=10, show_default=True, help="Most hits (at most 100).")
@click.option("--latest-only", is_flag=True, help="Only each source's latest version.")
@json_flag
@click.pass_context
def search(ctx: click.Context, query: str, limit: int, latest_only: bool, as_json: bool) -> None:
    """Search versions: terms, "phrases", field:value, AND/OR/NOT, ranges."""
    found = connect(ctx, Data).search_sources(query, limit, latest_only=latest_only)
    if as_json:
        echo_json(found)
        return
    for hit in found:
        click.echo(f"{hit['data']['id']} {hit['data']['name']} version {hit['version']}")
    if not found:
        click.echo("No match.")


@data.group()
def function() -> None:
    """Functions flows may run, registered by dotted import path."""


@function.command("register")
@click.argument("path")
@click.option("--description", default="", help="What it does.")
@click.pass_context
def register(ctx: click.Context, path: str, description: str) -> None:
    """Register the function at dotted PATH (e.g. mypkg.transforms.clean); prints its id."""
    click.echo(connect(ctx, Data).register_function(path, description))


@data.command()
@click.argument("data_id")
@click.option("--version", type=click.IntRange(min=1), help="Version [default: the latest].")
@click.option("--down", is_flag=True, help="What was derived from it, instead of what it "
              "was derived from.")  # fmt: skip
@click.option("--depth", type=click.IntRange(min=1), help="Most steps walked.")
@json_flag
@click.pass_context
def lineage(
    ctx: click.Context, data_id: str, version: int | None, down: bool, depth: int | None,
    as_json: bool,
) -> None:  # fmt: skip
    """The provenance of a version of DATA_ID: one line per flow run reached, its input
    versions -> the versions it created (or reproduced)."""
    from sluice.flows import Flows

    client = connect(ctx, Flows)
    if version is None:
        version = client.get_source(data_id)["latest_version"]
        if version is None:
            raise click.ClickException(f"{data_id} has no version yet")
    found = client.lineage(data_id, version, "down" if down else "up", depth)
    if as_json:
        echo_json(found)
        return
    for record in found["records"]:
        given = ", ".join(f"{name}={i['data_id']}@{i['version']}"
                          for name, i in record["inputs"].items())  # fmt: skip
        made = ", ".join(f"{name}={o['data_id']}@{o['version']}"
                         + ("" if o["created"] else " (reproduced)")
                         for name, o in record["outputs"].items())  # fmt: skip
        click.echo(f"run {record['run_id']}: {given or '-'} -> {made or '-'}")
    if not found["records"]:
        click.echo("No provenance.")
