"""`sluice run`: start a workfile run (`sluice run WORKFILE ...`), and list, show, watch
and stop runs (`sluice run ls|show|watch|stop`).

Watching (`--wait`, `watch`) draws the steps live until the run ends. Ctrl-C while
watching asks whether to stop the run or detach from it (the run goes on); without an
answer (no terminal, end of input) it detaches. While a step is queued and no live
worker serves its pipeline at its site, a warning says so once.
"""

from __future__ import annotations

import contextlib
from typing import Any

import click
from rich.console import Console
from rich.live import Live
from rich.table import Table

from sluice.buckets import Buckets
from sluice.cli.connect import connect, console, echo_json, json_flag, utc
from sluice.errors import SluiceError
from sluice.workfile import Workfile

STEP_STYLES = {"success": "green", "failure": "red", "running": "yellow", "cancelled": "dim"}
RUN_STATUSES = ("RUNNING", "SUCCESS", "FAILURE", "STOPPED")
#: Exit status after Ctrl-C (128 + SIGINT), as shells report it.
INTERRUPTED = 130


class _RunGroup(click.Group):
    """A group whose first argument, when it names no subcommand, is a workfile to run
    (`sluice run WORKFILE --var ...` is `sluice run start WORKFILE --var ...`)."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        if args and args[0] not in self.commands and args[0] not in ("-h", "--help"):
            args = ["start", *args]
        return super().parse_args(ctx, args)


@click.group(cls=_RunGroup)
def run() -> None:
    """Runs of workfiles: `sluice run WORKFILE [--var NAME=VALUE] [--wait]` starts one;
    ls, show, watch and stop manage them."""


def steps_table(process: dict[str, Any]) -> Table:
    """The run's steps, one row each, coloured by state."""
    table = Table(title=f"{process['workflow_name']}: {process['status']}")
    for name in ("step", "state", "attempt", "error"):
        table.add_column(name)
    for step in process["steps"]:
        style = STEP_STYLES.get(step["state"], "")
        error = (step["error"] or "")[:80]
        table.add_row(step["name"], step["state"], str(step["attempt"]), error, style=style)
    return table


def _variable(ctx: click.Context, param: click.Parameter, values: tuple[str, ...]) -> list[Any]:
    variables = []
    for value in values:
        name, equals, text = value.partition("=")
        if not equals or not name:
            raise click.BadParameter(f"{value!r} is not NAME=VALUE")
        variables.append({"name": name, "value": text})
    return variables


class _WorkerCheck:
    """Warns once per (pipeline, site) when a queued step has no live worker to run it."""

    def __init__(self, buckets: Buckets, err: Console) -> None:
        self.buckets = buckets
        self.err = err
        self.checked: set[str] = set()
        self.warned: set[tuple[str, str]] = set()

    def __call__(self, process: dict[str, Any]) -> None:
        for step in process["steps"]:
            if step["state"] != "queued" or step["work_id"] in self.checked:
                continue
            self.checked.add(step["work_id"])
            try:
                found = self.buckets.view({"id": step["work_id"]}, {"pipeline": 1, "site": 1})
                if not found:
                    continue
                pipeline, site = str(found[0]["pipeline"]), str(found[0]["site"])
                if (pipeline, site) in self.warned or self.buckets.workers(pipeline, site):
                    continue
            except SluiceError:
                continue  # the check is advice; the run's own polls report real trouble
            self.warned.add((pipeline, site))
            self.err.print(
                f"warning: step {step['name']} is queued but no live worker serves "
                f"pipeline {pipeline} at site {site}; start one: "
                f"sluice worker {pipeline} --site {site}",
                highlight=False,
                soft_wrap=True,
            )


def _watch(ctx: click.Context, process_id: str, every: float, timeout: float) -> None:
    """Draw `process_id`'s steps until it ends; exit 1 unless it succeeded."""
    client = connect(ctx, Workfile)
    out = console()
    err = Console(stderr=True, markup=False)  # step names and pipelines are data
    check = _WorkerCheck(connect(ctx, Buckets), err)
    seen: dict[str, Any] = {}
    live = Live(console=out, auto_refresh=False) if out.is_terminal else None

    def show(process: dict[str, Any]) -> None:
        seen.update(process)
        check(process)
        if live is not None:
            live.update(steps_table(process), refresh=True)

    workflow_id = client.process.info(process_id)["workflow_id"]
    try:
        with live or contextlib.nullcontext():
            status = client.process.wait_until_finished(
                workflow_id, process_id, query_time=every, timeout=timeout, on_poll=show
            )
    except KeyboardInterrupt:
        _interrupted(client, process_id, err)
        ctx.exit(INTERRUPTED)
    finally:
        # Piped output gets the last table only, not one redraw per poll.
        if live is None and seen:
            out.print(steps_table(seen))
    out.print(f"run {process_id}: {status}")


def _interrupted(client: Workfile, process_id: str, err: Console) -> None:
    """Ctrl-C while watching: stop the run or detach, as the user answers."""
    try:
        answer = click.prompt(
            "\nInterrupted. Stop the run, or detach and let it go on?",
            type=click.Choice(["stop", "detach"]),
            default="detach",
            err=True,
        )
    except (click.Abort, EOFError, KeyboardInterrupt):
        answer = "detach"
    if answer == "stop":
        err.print(
            f"run {process_id}: {client.process.stop(process_id)}", highlight=False, soft_wrap=True
        )
    else:
        err.print(
            f"detached; run {process_id} goes on (sluice run watch {process_id}, "
            f"sluice run stop {process_id})",
            highlight=False,
            soft_wrap=True,
        )


_every = click.option("--every", default=1.0, show_default=True, help="Seconds between polls.")
_timeout = click.option("--timeout", default=3600.0, show_default=True,
                        help="Seconds to wait before stopping the run.")  # fmt: skip


@run.command(hidden=True)
@click.argument("workfile_ref", metavar="WORKFILE")
@click.option("--workspace", help="WORKFILE is a file name in this workspace, not an id.")
@click.option("--var", "variables", multiple=True, callback=_variable, metavar="NAME=VALUE",
              help="A variable's value (repeatable); values are strings.")  # fmt: skip
@click.option("--wait", is_flag=True, help="Show the steps live until the run ends.")
@_every
@_timeout
@click.pass_context
def start(
    ctx: click.Context,
    workfile_ref: str,
    workspace: str | None,
    variables: list[Any],
    wait: bool,
    every: float,
    timeout: float,
) -> None:
    """Run WORKFILE (an id) with variables; print the process id, or with --wait the
    steps as they progress. Exits 1 if the run fails or times out (then it is stopped);
    Ctrl-C asks whether to stop it or detach."""
    client = connect(ctx, Workfile)
    workflow_id = client.get_id(workfile_ref, workspace) if workspace else workfile_ref
    process_id = client.process.run(workflow_id, variables)
    if not wait:
        click.echo(process_id)
        return
    console().print(f"process {process_id}")
    _watch(ctx, process_id, every, timeout)


@run.command()
@click.argument("process_id", metavar="PROCESS")
@_every
@_timeout
@click.pass_context
def watch(ctx: click.Context, process_id: str, every: float, timeout: float) -> None:
    """Show PROCESS's steps live until it ends (Ctrl-C: stop it or detach)."""
    _watch(ctx, process_id, every, timeout)


@run.command()
@click.argument("process_id", metavar="PROCESS")
@json_flag
@click.pass_context
def show(ctx: click.Context, process_id: str, as_json: bool) -> None:
    """Show PROCESS: its status, variables and steps."""
    process = connect(ctx, Workfile).process.info(process_id)
    if as_json:
        echo_json(process)
        return
    out = console()
    out.print(
        f"run {process['process_id']} of {process['workflow_name']} "
        f"(v{process['version']}) by {process['user']}: {process['status']}, "
        f"started {utc(process['started_at'])} UTC"
        + (f", ended {utc(process['ended_at'])} UTC" if process["ended_at"] else ""),
        highlight=False,
        soft_wrap=True,
    )
    if process["variables"]:
        out.print(f"variables: {process['variables']}", highlight=False, soft_wrap=True)
    out.print(steps_table(process))


@run.command()
@click.argument("process_id", metavar="PROCESS")
@click.pass_context
def stop(ctx: click.Context, process_id: str) -> None:
    """Stop PROCESS: queued steps are cancelled, running ones stop at their next beat."""
    click.echo(f"run {process_id}: {connect(ctx, Workfile).process.stop(process_id)}")


@run.command(name="ls")
@click.option("--status", type=click.Choice(RUN_STATUSES), help="Only runs with this status.")
@click.option("--limit", type=click.IntRange(min=1), default=20, show_default=True)
@json_flag
@click.pass_context
def list_runs(ctx: click.Context, status: str | None, limit: int, as_json: bool) -> None:
    """List the latest runs, newest first."""
    found = connect(ctx, Workfile).process.recent(status, limit)
    if as_json:
        echo_json(found)
        return
    if not found:
        click.echo("No runs.")
        return
    table = Table()
    for name in ("process", "workflow", "status", "steps done", "started (UTC)", "user"):
        table.add_column(name, no_wrap=name == "process")
    for process in found:
        done = sum(1 for step in process["steps"] if step["state"] == "success")
        table.add_row(
            process["process_id"],
            process["workflow_name"],
            process["status"],
            f"{done}/{len(process['steps'])}",
            utc(process["started_at"]),
            process["user"],
        )
    console().print(table)
