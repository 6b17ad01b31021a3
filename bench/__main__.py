"""`python -m bench [NAME ...] [--docs N] [--batch N] [--requests N] [--cycles N]
[--seconds N] [--workers N] [--jobs N] [--concurrency N] ...` (`--help` lists all): run
the benchmark modules in turn on one database and print a summary to paste into the
README.

A benchmark module lives in bench/ and has `run(ctx: Context) -> list[Comparison]`;
list its name in `BENCHMARKS` to include it. A size a benchmark reads is a field of
`Options` (bench/common.py) and a row of `OPTIONS` here, which makes its option.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from bench.common import Comparison, Context, Options, machine, open_context, table
from bench.heartbeats import HELD, beat_depths
from bench.versions import PAYLOAD
from service.settings import SettingsError

BENCHMARKS: tuple[str, ...] = (
    "results", "queue", "claims", "heartbeats", "workers", "versions", "cpu", "stream", "flows",
    "leaderboards",
)  # fmt: skip

Runner = Callable[[Context], list[Comparison]]


def _positive(raw: str) -> int:
    try:
        value = int(raw)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{raw!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return value


def _positive_list(raw: str) -> tuple[int, ...]:
    try:
        return tuple(_positive(part) for part in raw.split(",") if part.strip())
    except argparse.ArgumentTypeError as exc:
        raise argparse.ArgumentTypeError(f"{raw!r}: {exc}") from None


@dataclass(frozen=True)
class Option:
    """One command-line option: `--<name>` (dashes for underscores) sets the `Options`
    field `name`; SLUICE_BENCH_<NAME> gives its default, else the field's."""

    name: str
    parse: Callable[[str], int | tuple[int, ...]]
    help: str

    @property
    def flag(self) -> str:
        return "--" + self.name.replace("_", "-")

    @property
    def env(self) -> str:
        return f"SLUICE_BENCH_{self.name.upper()}"


#: Every option, in the order `--help` lists them.
OPTIONS: tuple[Option, ...] = (
    Option("docs", _positive, "documents (and queued works) deposited"),
    Option("batch", _positive, "documents per deposit request"),
    Option("requests", _positive, "requests per burst"),
    Option("cycles", _positive, "withdraw -> update cycles per queue configuration, at most"),
    Option("seconds", _positive, "seconds per queue configuration, at most"),
    Option("workers", _positive, "concurrent workers of the contended queue runs"),
    Option("jobs", _positive, "no-op works per worker run, `sluice worker` and Celery"),
    Option("concurrency", _positive, "the higher concurrency of the worker runs, beside 1"),
    Option("depths", _positive_list,
           "queued works of one pipeline at which claims are measured, comma-separated"),
    Option("spread_depth", _positive, "queued works spread over --spread-pipelines pipelines"),
    Option("spread_pipelines", _positive, "pipelines the spread queue is spread over"),
    Option("claims", _positive, "claims per depth measurement, at most"),
    Option("claim_seconds", _positive, "seconds per depth measurement, at most"),
    Option("stream_docs", _positive, "results one view streams while Sluice's memory is sampled"),
    Option("commits", _positive, "data version commits and unchanged ingestions, each way"),
    Option("dependants", _positive, "flows depending on the source whose version commit is timed"),
    Option("lb_runs", _positive,
           "leaderboard runs at which Sluice's ranking is compared with PyMongo's"),
    Option("lb_groups", _positive, "groups the leaderboard runs are of"),
    Option("lb_requests", _positive, "ranking requests per figure"),
    Option("lb_sizes", _positive_list,
           "leaderboard run counts at which the time to rank is measured, comma-separated"),
)  # fmt: skip


def _shown(value: object) -> str:
    """A default as `--help` shows it (a list comma-separated, as it is typed)."""
    return ",".join(map(str, value)) if isinstance(value, tuple) else str(value)


def _env_default(option: Option, default: object) -> object:
    raw = os.environ.get(option.env)
    if not raw:
        return default
    try:
        parsed = option.parse(raw)
    except argparse.ArgumentTypeError as exc:
        raise SystemExit(f"bench: {option.env}: {exc}") from None
    return parsed or default  # a list of no numbers (",") leaves the default


def parse_args(argv: Sequence[str] | None) -> tuple[Options, list[str]]:
    """Options and benchmark names from the command line, defaults from SLUICE_BENCH_*."""
    defaults = Options()
    parser = argparse.ArgumentParser(
        prog="python -m bench",
        description="Benchmark Sluice against baselines measured in the same run.",
    )
    parser.add_argument(
        "names",
        nargs="*",
        metavar="NAME",
        help=f"benchmarks to run (default: all of {', '.join(BENCHMARKS)})",
    )
    for option in OPTIONS:
        default = getattr(defaults, option.name)
        parser.add_argument(
            option.flag,
            type=option.parse,
            default=_env_default(option, default),
            help=f"{option.help} (env {option.env}; default {_shown(default)})",
        )
    args = parser.parse_args(argv)
    unknown = sorted(set(args.names) - set(BENCHMARKS))
    if unknown:
        parser.error(f"unknown benchmark {', '.join(unknown)}; choose from {', '.join(BENCHMARKS)}")
    options = Options(**{option.name: getattr(args, option.name) for option in OPTIONS})
    return options, list(args.names) or list(BENCHMARKS)


def summary(ctx: Context, names: list[str], comparisons: list[Comparison], seconds: float) -> str:
    """The block for the README: what ran where, and every figure with its ratio."""
    options = ctx.options
    rows: list[list[object]] = [
        [c.name, c.unit, c.sluice, c.baseline, c.baseline_name, c.ratio] for c in comparisons
    ]
    sizes = {
        "results": f"{options.docs:,} documents, batches of {options.batch}, "
        f"bursts of {options.requests} requests",
        "queue": f"{options.docs:,} works deposited, at most {options.cycles} cycles or "
        f"{options.seconds} s per configuration, {options.workers} workers",
        "stream": f"one view of {options.stream_docs:,} results",
        "cpu": f"{options.requests} requests per route (a tenth for pages, counts and "
        f"deposits), {options.docs:,} results stored, pages of {options.page}",
        "claims": f"{', '.join(f'{d:,}' for d in options.depths)} queued works in one "
        f"pipeline and {options.spread_depth:,} over {options.spread_pipelines}, at most "
        f"{options.claims} claims or {options.claim_seconds} s per measurement",
        "heartbeats": f"{HELD} held leases renewed in turn with "
        f"{', '.join(f'{d:,}' for d in beat_depths(options))} works queued, at most "
        f"{options.claims} heartbeats or {options.claim_seconds} s per measurement",
        "workers": f"{options.jobs} no-op jobs per worker run, concurrency 1 and "
        f"{options.concurrency}",
        "leaderboards": f"{options.lb_runs:,} runs in {options.lb_groups} groups, time to rank "
        f"at {', '.join(f'{n:,}' for n in options.lb_sizes)} runs",
        "versions": f"{options.commits} commits of {PAYLOAD:,}-byte contents and "
        f"{options.commits} unchanged ingestions each way",
        "flows": f"commits of a source with {options.dependants} ANY flows depending on it",
    }
    lines = [
        f"`python -m bench {' '.join(names)}`:",
        *(f"{name}: {sizes[name]};" for name in names),
        f"{ctx.database}; {machine()}; {seconds:.0f} s in all.",
        "",
        table(["benchmark", "unit", "Sluice", "baseline", "baseline is", "ratio"], rows),
        "",
        "Ratio = Sluice / baseline, both from the same run. For rates, below 1 is slower",
        "than the baseline; for CPU per request, above 1 is more CPU.",
    ]
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the chosen benchmarks; return the exit code."""
    options, names = parse_args(argv)
    started = time.perf_counter()
    comparisons: list[Comparison] = []
    try:
        with open_context(options) as ctx:
            print(f"database: {ctx.database}\nmachine: {machine()}", flush=True)
            for name in names:
                print(f"\n=== {name} ===", flush=True)
                run: Runner = importlib.import_module(f"bench.{name}").run
                comparisons.extend(run(ctx))
            report = summary(ctx, names, comparisons, time.perf_counter() - started)
    except SettingsError as exc:
        print(f"bench: configuration error: {exc}", file=sys.stderr)
        return 2
    except RuntimeError as exc:
        # A server that did not start, refused a request or answered wrongly.
        print(f"bench: {exc}", file=sys.stderr)
        return 1
    print(f"\n=== summary ===\n\n{report}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
