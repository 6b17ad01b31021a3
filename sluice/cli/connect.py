"""What every `sluice` subcommand module shares: the client, JSON options and output."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TypeVar

import click
from rich.console import Console

from sluice.core.sender import Sender

S = TypeVar("S", bound=Sender)

#: Width of tables when stdout is not a terminal, so piped ids are never cut.
PIPE_WIDTH = 160


@dataclass
class Connection:
    """The global `--url` and `--token`; `None` lets the client read its defaults."""

    url: str | None = None
    token: str | None = None


def connect(ctx: click.Context, kind: type[S]) -> S:
    """A `kind` client (`Results`, `Buckets`, `Admin`...) for this invocation, on the
    global `--url` and `--token`, closed when the command ends."""
    connection = ctx.find_object(Connection) or Connection()
    client = kind(connection.url, connection.token)
    ctx.with_resource(client)  # entering a client returns it; it is closed with `ctx`
    return client


def json_object(ctx: click.Context, param: click.Parameter, value: str) -> dict[str, Any]:
    """Option callback: parse a JSON object such as `--query '{"status": "success"}'`."""
    try:
        parsed = json.loads(value)
    except ValueError as exc:
        raise click.BadParameter(f"not valid JSON: {exc}") from None
    if not isinstance(parsed, dict):
        raise click.BadParameter('must be a JSON object, like \'{"status": "success"}\'')
    return parsed


query_option = click.option(
    "--query", callback=json_object, default="{}", metavar="JSON", help="MongoDB filter."
)

json_flag = click.option("--json", "as_json", is_flag=True, help="Print machine-readable JSON.")


def echo_json(value: Any) -> None:
    """Print `value` as indented JSON on stdout."""
    click.echo(json.dumps(value, indent=2))


def console() -> Console:
    """A rich console on stdout; wide when piped. Markup is off: the values printed
    (tags, parameters, errors) are stored data, and `[/b]` in one would raise; a line
    that styles its own text says so (`markup=True`, the data escaped)."""
    out = Console(markup=False)
    if not out.is_terminal:
        out = Console(width=PIPE_WIDTH, markup=False)
    return out


def utc(timestamp: Any) -> str:
    """Unix seconds as 'YYYY-MM-DD HH:MM:SS' UTC; '' when absent."""
    if not isinstance(timestamp, int | float) or isinstance(timestamp, bool):
        return ""
    return datetime.fromtimestamp(timestamp, UTC).strftime("%Y-%m-%d %H:%M:%S")


def join(values: Any) -> str:
    """A list as 'a, b'; '' for null."""
    if isinstance(values, list):
        return ", ".join(str(value) for value in values)
    return "" if values is None else str(values)
