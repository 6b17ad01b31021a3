"""The `sluice` command line.

Each family of commands is a click group in its own `sluice/cli/<name>.py` module,
registered in `SUBCOMMANDS`. A failed call prints the service's message on one line
of stderr and exits 1; usage mistakes exit 2.
"""

from __future__ import annotations

from typing import Any

import click

from sluice.cli.buckets import buckets
from sluice.cli.connect import Connection
from sluice.cli.exp import exp
from sluice.cli.ext import ext
from sluice.cli.results import results
from sluice.cli.token import audit, token
from sluice.cli.user import user
from sluice.cli.worker import worker
from sluice.cli.workfile import run, workfile
from sluice.errors import SluiceError

SUBCOMMANDS: list[click.Command] = [
    results, buckets, worker, workfile, run, token, user, audit, exp, ext,
]  # fmt: skip


class _Group(click.Group):
    """A group that turns client errors into one line and exit status 1."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except SluiceError as exc:
            click.echo(f"Error: {exc}", err=True)
            ctx.exit(1)


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--url",
    envvar="SLUICE_URL",
    show_envvar=True,
    metavar="URL",
    help="Root URL of the Sluice server [default: http://127.0.0.1:8000].",
)
@click.option(
    "--token", envvar="SLUICE_TOKEN", show_envvar=True, help="Access token (x-access-token)."
)
@click.version_option(package_name="sluice")
@click.pass_context
def main(ctx: click.Context, url: str | None, token: str | None) -> None:
    """Sluice: a results store and work queue for scientific data pipelines."""
    ctx.obj = Connection(url, token)


for _command in SUBCOMMANDS:
    main.add_command(_command)
