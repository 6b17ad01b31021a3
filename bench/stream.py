"""Memory of Sluice while it streams a large view: the resident set size (RSS) of the
Sluice process, sampled while one `POST /results/view` answers every one of
`stream_docs` results (`limit` 0, "all"), against its RSS just before, in the same run.

The results are seeded with `insert_many` straight into the pipeline's collection. The
client reads the answer as it comes, so the figure is what Sluice holds while streaming
(the driver's batch and one chunk of encoded JSON), not the whole answer.
"""

from __future__ import annotations

import threading
import time
import uuid

import httpx
import orjson
import psutil

from bench.common import Comparison, Context, batches, mongo_client, post_json, serve, table
from bench.cycles import JSON
from bench.results import make_documents
from service.results.store import COLLECTION_PREFIX

#: Seconds between RSS samples.
SAMPLE_EVERY = 0.005
MIB = 1024 * 1024
SEED_BATCH = 1000


def run(ctx: Context) -> list[Comparison]:
    """Stream the view once warm, then once measured; print the table, return the figure."""
    count = ctx.options.stream_docs
    pipeline = f"bench-stream-{uuid.uuid4().hex[:8]}"
    first, *documents = make_documents(pipeline, count)
    env = {"SLUICE_MAX_VIEW_RESULTS": str(max(count, 10_000))}
    with (
        serve(ctx, "sluice-stream", env=env) as sluice,
        httpx.Client(base_url=sluice.url, timeout=600) as http,
        mongo_client(ctx) as client,
    ):
        # One deposit through Sluice creates the pipeline's indexes; the rest directly.
        post_json(http, "/results/results", orjson.dumps([first]))
        collection = client[ctx.db_name][f"{COLLECTION_PREFIX}{pipeline}"]
        for chunk in batches(documents, SEED_BATCH):
            collection.insert_many(chunk)
        body = orjson.dumps({"query": {"pipeline": pipeline}, "projection": {}, "limit": 0})
        process = psutil.Process(sluice.pid)
        _stream(http, body, count)  # warm: imports, connections, allocator pools
        before = process.memory_info().rss
        peak, size, seconds = _measure(http, body, count, process)
    result = Comparison(
        f"Sluice RSS streaming a {count:,}-document view",
        "MiB",
        peak / MIB,
        before / MIB,
        "Sluice RSS before the view",
    )
    rows: list[list[object]] = [
        ["Sluice RSS before the view", before / MIB],
        ["Sluice RSS at its peak while streaming", peak / MIB],
        ["answer size", size / MIB],
        ["seconds to stream it", seconds],
    ]
    shown = table(["", "MiB or s"], rows)
    print(f"\n(a) RSS of the Sluice process streaming {count:,} results\n\n{shown}\n")
    print(f"ratio peak / before: {result.ratio:.2f}", flush=True)
    return [result]


def _stream(http: httpx.Client, body: bytes, count: int) -> int:
    """Read the answer as it comes; its size in bytes (RuntimeError on a wrong count)."""
    size = 0
    parts: list[bytes] = []
    with http.stream("POST", "/results/view", content=body, headers=JSON) as response:
        if response.status_code != 200:
            raise RuntimeError(
                f"POST /results/view: {response.status_code} {response.read()[:500]!r}"
            )
        for chunk in response.iter_bytes():
            size += len(chunk)
            parts.append(chunk)
    got = len(orjson.loads(b"".join(parts)))
    if got != count:
        raise RuntimeError(f"the view answered {got} results, expected {count}")
    return size


def _measure(
    http: httpx.Client, body: bytes, count: int, process: psutil.Process
) -> tuple[int, int, float]:
    """Stream once while a thread samples the RSS: (peak RSS, answer bytes, seconds)."""
    peak = process.memory_info().rss
    done = threading.Event()

    def sample() -> None:
        nonlocal peak
        while not done.is_set():
            peak = max(peak, process.memory_info().rss)
            time.sleep(SAMPLE_EVERY)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    started = time.perf_counter()
    try:
        size = _stream(http, body, count)
    finally:
        done.set()
        sampler.join()
    return peak, size, time.perf_counter() - started
