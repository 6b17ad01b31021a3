"""`sluice worker`: take works from Buckets and run them."""

from __future__ import annotations

import logging
import sys

import click

from sluice.buckets import Buckets
from sluice.cli.connect import Connection, connect
from sluice.experiments import Experiments
from sluice.flowjob import export_connection
from sluice.stepfiles import StepFiles
from sluice.worker.loop import DEFAULT_RECYCLE, Filters, Worker

LOG_LEVELS = ("debug", "info", "warning", "error")


@click.command(short_help="Run works from Buckets.")
@click.argument("pipelines", metavar="PIPELINE...", nargs=-1, required=True)
@click.option("--site", "-s", required=True, help="Take only works of this site.")
@click.option("--tag", "tags", multiple=True, help="Take only works with one of these tags.")
@click.option("--parent", "parents", multiple=True, help="Take only works of these parents.")
@click.option("--event", "events", type=int, multiple=True, help="Take only works of these events.")
@click.option("--user", help="Take only works of this user.")
@click.option("--priority", type=click.IntRange(1, 5), help="Take only works of this priority.")
@click.option(
    "--lives", type=click.IntRange(min=1), help="Exit after this many works [default: never]."
)
@click.option(
    "--sleep",
    type=click.FloatRange(min=0),
    default=5.0,
    show_default=True,
    help="Seconds to wait when no work is queued.",
)
@click.option(
    "--grace",
    type=click.FloatRange(min=0),
    default=30.0,
    show_default=True,
    help="Seconds a running work may take to finish after SIGTERM/SIGINT before it is "
    "stopped and released.",
)
@click.option(
    "--concurrency",
    "-c",
    type=click.IntRange(min=1),
    default=1,
    show_default=True,
    help="Works run at the same time, each in its own child process.",
)
@click.option(
    "--prefetch",
    type=click.IntRange(min=0),
    default=None,
    help="Works claimed ahead of the free slots (each holds its lease while it waits "
    "for a slot: for many short works; 0 for long ones).  [default: as many as "
    "--concurrency]",
)
@click.option(
    "--recycle",
    type=click.IntRange(min=0),
    default=DEFAULT_RECYCLE,
    show_default=True,
    help="Function works a child process runs before a fresh one replaces it (0: no "
    "limit; a child is always replaced after a failure).",
)
@click.option("--once", is_flag=True, help="Try to withdraw one work, run it if any, exit.")
@click.option("--name", help="Name in the server's list of workers [default: HOST:PID].")
@click.option("--log-level", type=click.Choice(LOG_LEVELS), default="info", show_default=True)
@click.pass_context
def worker(
    ctx: click.Context,
    pipelines: tuple[str, ...],
    site: str,
    tags: tuple[str, ...],
    parents: tuple[str, ...],
    events: tuple[int, ...],
    user: str | None,
    priority: int | None,
    lives: int | None,
    sleep: float,
    grace: float,
    concurrency: int,
    prefetch: int | None,
    recycle: int,
    once: bool,
    name: str | None,
    log_level: str,
) -> None:
    """Run works of PIPELINE..., --concurrency at a time: withdraw, run the work's
    function or command in a child process, report how it ended. Function works run
    in pre-started child processes, each reused for --recycle works. Logs one line
    per work on stderr.

    SIGTERM or Ctrl-C: stop taking work and release the works claimed ahead; running
    works may finish within --grace, else they are stopped and released to the queue.
    A second signal stops them at once.

    While it runs, the worker is listed by `sluice buckets workers` (host, pid,
    pipelines, site, version, current work). While the server is unreachable it retries
    after pauses that grow exponentially (with jitter) up to a minute.
    """
    log = logging.getLogger("sluice")
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
    log.addHandler(handler)
    log.setLevel(log_level.upper())
    try:
        client = connect(ctx, Buckets)
        export_connection(ctx.find_object(Connection))
        client.info()  # fail now, not at the first withdraw, if the server is unreachable
        # An option not given is an empty tuple: no filter, not "match nothing".
        filters = Filters(
            pipelines, site, priority, user, events or None, tags or None, parents or None
        )
        mode = "once" if once else f"lives={lives or 'unlimited'}, concurrency={concurrency}"
        log.info("worker for %s at %s (%s)", ", ".join(pipelines), client.base_url, mode)
        done = Worker(
            client, filters, lives=lives, sleep=sleep, once=once, grace=grace, name=name,
            concurrency=concurrency, prefetch=prefetch, recycle=recycle or None,
            experiments=connect(ctx, Experiments), step_files=connect(ctx, StepFiles),
        ).run()  # fmt: skip
        log.info("worker exiting after %d works", done)
    finally:
        log.removeHandler(handler)
