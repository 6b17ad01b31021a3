"""`python -m bench [NAME ...] [--docs N] [--batch N] [--requests N] [--cycles N]
[--seconds N] [--workers N] [--jobs N] [--concurrency N] ...` (`--help` lists all): run
the benchmark modules in turn on one database and print a summary to paste into the
README.

A benchmark module lives in bench/ and has `run(ctx: Context) -> list[Comparison]`;
list its name in `BENCHMARKS` to include it.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
import time
from collections.abc import Callable, Sequence

from bench.common import Comparison, Context, Options, machine, open_context, table
from bench.versions import PAYLOAD
from service.settings import SettingsError

BENCHMARKS: tuple[str, ...] = (
    "results", "queue", "claims", "workers", "versions", "cpu", "stream", "flows",
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


def _depths(raw: str) -> tuple[int, ...]:
    try:
        return tuple(_positive(part) for part in raw.split(",") if part.strip())
    except argparse.ArgumentTypeError as exc:
        raise argparse.ArgumentTypeError(f"{raw!r}: {exc}") from None


def _from_env(env_name: str, default: int) -> int:
    raw = os.environ.get(env_name)
    if not raw:
        return default
    try:
        return _positive(raw)
    except argparse.ArgumentTypeError as exc:
        raise SystemExit(f"bench: {env_name}: {exc}") from None


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
    parser.add_argument(
        "--docs",
        type=_positive,
        default=_from_env("SLUICE_BENCH_DOCS", defaults.docs),
        help="documents (and queued works) deposited "
        f"(env SLUICE_BENCH_DOCS; default {defaults.docs})",
    )
    parser.add_argument(
        "--batch",
        type=_positive,
        default=_from_env("SLUICE_BENCH_BATCH", defaults.batch),
        help=f"documents per deposit request (env SLUICE_BENCH_BATCH; default {defaults.batch})",
    )
    parser.add_argument(
        "--requests",
        type=_positive,
        default=_from_env("SLUICE_BENCH_REQUESTS", defaults.requests),
        help=f"requests per burst (env SLUICE_BENCH_REQUESTS; default {defaults.requests})",
    )
    parser.add_argument(
        "--cycles",
        type=_positive,
        default=_from_env("SLUICE_BENCH_CYCLES", defaults.cycles),
        help="withdraw -> update cycles per queue configuration, at most "
        f"(env SLUICE_BENCH_CYCLES; default {defaults.cycles})",
    )
    parser.add_argument(
        "--seconds",
        type=_positive,
        default=_from_env("SLUICE_BENCH_SECONDS", defaults.seconds),
        help="seconds per queue configuration, at most "
        f"(env SLUICE_BENCH_SECONDS; default {defaults.seconds})",
    )
    parser.add_argument(
        "--workers",
        type=_positive,
        default=_from_env("SLUICE_BENCH_WORKERS", defaults.workers),
        help="concurrent workers of the contended queue runs "
        f"(env SLUICE_BENCH_WORKERS; default {defaults.workers})",
    )
    parser.add_argument(
        "--jobs",
        type=_positive,
        default=_from_env("SLUICE_BENCH_JOBS", defaults.jobs),
        help="no-op works per worker run, `sluice worker` and Celery "
        f"(env SLUICE_BENCH_JOBS; default {defaults.jobs})",
    )
    parser.add_argument(
        "--concurrency",
        type=_positive,
        default=_from_env("SLUICE_BENCH_CONCURRENCY", defaults.concurrency),
        help="the higher concurrency of the worker runs, beside 1 "
        f"(env SLUICE_BENCH_CONCURRENCY; default {defaults.concurrency})",
    )
    parser.add_argument(
        "--depths",
        type=_depths,
        default=_depths(os.environ.get("SLUICE_BENCH_DEPTHS") or "") or defaults.depths,
        help="queued works of one pipeline at which claims are measured, comma-separated "
        f"(env SLUICE_BENCH_DEPTHS; default {','.join(map(str, defaults.depths))})",
    )
    for flag, env, default, text in (
        ("--spread-depth", "SPREAD_DEPTH", defaults.spread_depth,
         "queued works spread over --spread-pipelines pipelines"),
        ("--spread-pipelines", "SPREAD_PIPELINES", defaults.spread_pipelines,
         "pipelines the spread queue is spread over"),
        ("--claims", "CLAIMS", defaults.claims, "claims per depth measurement, at most"),
        ("--claim-seconds", "CLAIM_SECONDS", defaults.claim_seconds,
         "seconds per depth measurement, at most"),
        ("--stream-docs", "STREAM_DOCS", defaults.stream_docs,
         "results one view streams while Sluice's memory is sampled"),
        ("--commits", "COMMITS", defaults.commits,
         "data version commits and unchanged ingestions, each way"),
        ("--dependants", "DEPENDANTS", defaults.dependants,
         "flows depending on the source whose version commit is timed"),
        ("--lb-runs", "LB_RUNS", defaults.lb_runs,
         "leaderboard runs at which Sluice's ranking is compared with PyMongo's"),
        ("--lb-groups", "LB_GROUPS", defaults.lb_groups, "groups the leaderboard runs are of"),
        ("--lb-requests", "LB_REQUESTS", defaults.lb_requests, "ranking requests per figure"),
    ):  # fmt: skip
        parser.add_argument(
            flag,
            type=_positive,
            default=_from_env(f"SLUICE_BENCH_{env}", default),
            help=f"{text} (env SLUICE_BENCH_{env}; default {default})",
        )
    parser.add_argument(
        "--lb-sizes",
        type=_depths,
        default=_depths(os.environ.get("SLUICE_BENCH_LB_SIZES") or "") or defaults.lb_sizes,
        help="leaderboard run counts at which the time to rank is measured, comma-separated "
        f"(env SLUICE_BENCH_LB_SIZES; default {','.join(map(str, defaults.lb_sizes))})",
    )
    args = parser.parse_args(argv)
    unknown = sorted(set(args.names) - set(BENCHMARKS))
    if unknown:
        parser.error(f"unknown benchmark {', '.join(unknown)}; choose from {', '.join(BENCHMARKS)}")
    options = Options(
        docs=args.docs,
        batch=args.batch,
        requests=args.requests,
        cycles=args.cycles,
        seconds=args.seconds,
        workers=args.workers,
        jobs=args.jobs,
        depths=args.depths,
        spread_depth=args.spread_depth,
        spread_pipelines=args.spread_pipelines,
        claims=args.claims,
        claim_seconds=args.claim_seconds,
        stream_docs=args.stream_docs,
        concurrency=args.concurrency,
        commits=args.commits,
        dependants=args.dependants,
        lb_runs=args.lb_runs,
        lb_groups=args.lb_groups,
        lb_sizes=args.lb_sizes,
        lb_requests=args.lb_requests,
    )
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
