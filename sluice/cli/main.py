"""The `sluice` command line.

Each family of commands is a click group in its own `sluice/cli/<name>.py` module,
registered in `SUBCOMMANDS`. A failed call prints the service's message on one line
of stderr and exits 1; usage mistakes exit 2.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

import click
import httpx

from sluice.cli.buckets import buckets
from sluice.cli.connect import Connection
from sluice.cli.data import data
from sluice.cli.exp import exp
from sluice.cli.ext import ext
from sluice.cli.flow import flow
from sluice.cli.leaderboard import leaderboard
from sluice.cli.queue import COMMANDS as QUEUE_COMMANDS
from sluice.cli.results import results
from sluice.cli.runs import run
from sluice.cli.token import audit, token
from sluice.cli.user import user
from sluice.cli.worker import worker
from sluice.cli.workfile import workfile
from sluice.core.sender import default_url
from sluice.errors import NotFound, SluiceError

SUBCOMMANDS: list[click.Command] = [
    results, buckets, worker, workfile, run, token, user, audit, exp, ext, data, flow,
    leaderboard,
]  # fmt: skip


class _Group(click.Group):
    """A group that turns client errors into one line and exit status 1."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except SluiceError as exc:
            click.echo(f"Error: {exc}", err=True)
            hint = _url_hint(ctx, exc)
            if hint:
                click.echo(f"Hint: {hint}", err=True)
            ctx.exit(1)


def _url_hint(ctx: click.Context, exc: SluiceError) -> str | None:
    """Why a 404 may come from the URL itself: it has a path (`.../results`)."""
    connection = ctx.find_object(Connection)
    url = (connection.url if connection else None) or default_url()
    path = urlsplit(url).path.strip("/")
    if isinstance(exc, NotFound) and path:
        root = url[: url.rindex(path) - 1] if path in url else url
        return f"--url/SLUICE_URL is the Sluice root, without a path: try {root}"
    return None


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--url",
    envvar="SLUICE_URL",
    show_envvar=True,
    metavar="URL",
    help="Root URL of the Sluice server [default: http://$SLUICE_HOST:$SLUICE_PORT, "
    "else http://127.0.0.1:8000].",
)
@click.option(
    "--token", envvar="SLUICE_TOKEN", show_envvar=True, help="Access token (x-access-token)."
)
@click.version_option(package_name="sluice")
@click.pass_context
def main(ctx: click.Context, url: str | None, token: str | None) -> None:
    """Sluice: a results store and work queue for scientific data pipelines."""
    _check_url(url or default_url())
    if token is not None and not (token.isascii() and token.isprintable() and token.strip()):
        # It goes in a header: printable ASCII only.
        raise click.BadParameter("not a token (printable ASCII)", param_hint="--token")
    ctx.obj = Connection(url, token)


def _check_url(url: str) -> None:
    """A usage error unless `url` is an http(s) URL with a host (and a port, if any, a
    number): httpx would raise deep inside the first request."""
    try:
        parsed = httpx.URL(url)
        valid = parsed.scheme in ("http", "https") and bool(parsed.host)
    except (httpx.InvalidURL, ValueError):
        valid = False
    if not valid:
        raise click.BadParameter(f"{url!r} is not an http(s) URL", param_hint="--url")


for _command in SUBCOMMANDS:
    main.add_command(_command)
for _command in QUEUE_COMMANDS:
    buckets.add_command(_command)
