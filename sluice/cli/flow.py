"""`sluice flow`: register, list, show, run, pause, resume and delete flows over
versioned data, and list a flow's runs."""

from __future__ import annotations

from typing import Any

import click
from rich.table import Table

from sluice.cli.connect import connect, console, echo_json, join, json_flag, json_object, utc
from sluice.flows import Flows
from sluice.plans.flows import POLICIES


def _pairs(ctx: click.Context, param: click.Parameter, values: tuple[str, ...]) -> dict[str, str]:
    found: dict[str, str] = {}
    for value in values:
        name, sep, rest = value.partition("=")
        if not sep or not name or not rest:
            raise click.BadParameter(f"{value!r} is not NAME=VALUE")
        found[name] = rest
    return found


def _tasks(
    ctx: click.Context, param: click.Parameter, values: tuple[str, ...]
) -> list[dict[str, Any]] | None:
    """Each `--task` a JSON object: one task's kwargs; None when none is given."""
    return [json_object(ctx, param, value) for value in values] or None


def _inputs(given: dict[str, str]) -> dict[str, Any]:
    """`NAME=DATA_ID` or `NAME=DATA_ID@VERSION` as `input_data`."""
    inputs: dict[str, Any] = {}
    for name, value in given.items():
        data_id, _, version = value.partition("@")
        if version and not version.isdigit():
            raise click.BadParameter(f"{name}: version {version!r} is not a number")
        inputs[name] = {"id": data_id, "version": int(version) if version else None}
    return inputs


def _outputs(given: dict[str, str]) -> dict[str, Any]:
    """`NAME=new`, `NAME=DATA_ID` or `NAME=http(s)://...` as `output_data`."""
    outputs: dict[str, Any] = {}
    for name, value in given.items():
        if value == "new":
            outputs[name] = {}
        elif value.startswith(("http://", "https://")):
            outputs[name] = {"url": value}
        else:
            outputs[name] = {"id": value}
    return outputs


@click.group()
def flow() -> None:
    """Flows over versioned data: a registered function run on its inputs' versions
    when its policy says, its outputs committed as new versions with provenance."""


@flow.command()
@click.argument("function_id", required=False)
@click.option(
    "--input",
    "-i",
    "inputs",
    multiple=True,
    callback=_pairs,
    metavar="NAME=DATA_ID[@VERSION]",
    help="An input (pinned with @VERSION).",
)
@click.option(
    "--output",
    "-o",
    "outputs",
    multiple=True,
    callback=_pairs,
    metavar="NAME=new|DATA_ID|URL",
    help="An output: a new source, an existing one, or (INGESTION, INGESTION_EVENT) the URL "
    "to fetch.",
)
@click.option(
    "--policy",
    "-p",
    type=click.Choice(list(POLICIES), case_sensitive=False),
    default="NONE",
    show_default=True,
    help="When the flow runs.",
)
@click.option("--timer", type=click.IntRange(min=1), help="Seconds between TIMER/INGESTION runs.")
@click.option(
    "--kwargs",
    callback=json_object,
    default="{}",
    metavar="JSON",
    help="Keyword arguments for the function.",
)
@click.option(
    "--task",
    "tasks",
    multiple=True,
    callback=_tasks,
    metavar="JSON",
    help="One task's keyword arguments, instead of --kwargs; repeat it: each run is one "
    "work per task.",
)
@click.option("--timeout", type=click.IntRange(min=1), help="Seconds a run's work may take.")
@click.option("--retries", type=click.IntRange(min=0), help="Retries of a failed work.")
@click.option("--site", default="default", show_default=True, help="Site of the workers.")
@click.option("--description", "-d", help="What the flow is for.")
@json_flag
@click.pass_context
def register(
    ctx: click.Context, function_id: str | None, inputs: dict[str, str], outputs: dict[str, str],
    policy: str, timer: int | None, kwargs: dict[str, Any], tasks: list[dict[str, Any]] | None,
    timeout: int | None, retries: int | None, site: str, description: str | None, as_json: bool,
) -> None:  # fmt: skip
    """Register a flow running FUNCTION_ID (from `sluice data function register`; an
    INGESTION or INGESTION_EVENT flow needs none)."""
    created = connect(ctx, Flows).register_flow(
        site, function_id, _inputs(inputs), _outputs(outputs), kwargs,
        description=description, policy=policy.upper(), timer_delay=timer, tasks=tasks,
        timeout=timeout, retries=retries,
    )  # fmt: skip
    if as_json:
        echo_json(created)
    else:
        click.echo(created["id"])


@flow.command("ls")
@json_flag
@click.pass_context
def ls(ctx: click.Context, as_json: bool) -> None:
    """List the live flows, newest first."""
    found = connect(ctx, Flows).list_flows()
    if as_json:
        echo_json(found)
        return
    table = Table()
    for name in ("id", "policy", "state", "function", "inputs", "waiting for", "last run"):
        table.add_column(name)
    for item in found:
        table.add_row(item["id"], item["policy"], item["state"], item["function_path"],
                      join(sorted(item["inputs"])), join(item["waiting_for"]),
                      utc(item["last_enqueued_at"]))  # fmt: skip
    console().print(table)


@flow.command()
@click.argument("flow_id")
@click.option("--runs", "show_runs", is_flag=True, help="Also list its latest runs.")
@json_flag
@click.pass_context
def show(ctx: click.Context, flow_id: str, show_runs: bool, as_json: bool) -> None:
    """Show a flow: policy, inputs, why it is waiting, its last run."""
    client = connect(ctx, Flows)
    found = client.get_flow(flow_id, inputs_only=False)
    runs = client.runs(flow_id) if show_runs else None
    if as_json:
        echo_json(found if runs is None else {**found, "runs": runs})
        return
    for key in ("id", "policy", "state", "function_path", "site", "timer", "waiting_for",
                "last_run_id", "last_error", "description"):  # fmt: skip
        value = found[key]
        click.echo(f"{key}: {join(value) if isinstance(value, list) else value}")
    for name, given in found["inputs"].items():
        click.echo(f"input {name}: {given['data_id']}@{given['version'] or 'latest'}")
    for name, given in found["outputs"].items():
        click.echo(f"output {name}: {given['data_id']}")
    for run in runs or []:
        click.echo(f"run {run['id']}: {run['status']} ({run['trigger']}) {run['error'] or ''}")


@flow.command()
@click.argument("flow_id")
@click.option(
    "--force",
    is_flag=True,
    help="An ingestion: fetch unconditionally and transform even an unchanged upstream.",
)
@json_flag
@click.pass_context
def run(ctx: click.Context, flow_id: str, force: bool, as_json: bool) -> None:
    """Run a flow now with its latest inputs (coalesced behind a run in flight)."""
    started = connect(ctx, Flows).run_flow(flow_id, force=force)
    if as_json:
        echo_json(started)
    elif started.get("coalesced"):
        click.echo("a run is in flight: one follow-up will run after it")
    else:
        click.echo(started["id"])


@flow.command()
@click.argument("flow_id")
@click.option("--resume", is_flag=True, help="Resume a paused flow instead.")
@click.pass_context
def pause(ctx: click.Context, flow_id: str, resume: bool) -> None:
    """Pause a flow (it stops firing), or resume it with --resume."""
    client = connect(ctx, Flows)
    changed = client.resume_flow(flow_id) if resume else client.pause_flow(flow_id)
    click.echo(f"{changed['id']}: {changed['state']}")


@flow.command()
@click.argument("flow_id")
@click.pass_context
def delete(ctx: click.Context, flow_id: str) -> None:
    """Delete a flow (its provenance is kept)."""
    connect(ctx, Flows).delete_flow(flow_id)
    click.echo(f"{flow_id}: deleted")
