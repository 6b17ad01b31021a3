"""Candidate batches of claims (service.buckets.claims): per filter, the best queued
works of one sorted read, kept in this process and taken one group at a time, cut
when a work is queued that ranks before them, and used at most
SLUICE_CLAIM_BATCH_SECONDS before they are checked again."""

from __future__ import annotations

import math
import time
from collections import OrderedDict, deque
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from service.auth.principal import named_pipelines
from service.db import Document

#: Filters whose candidates one process keeps at once (least recently used dropped).
CACHED_FILTERS = 1024

#: Where a work sorts in the claim order: (-priority, creation); smaller comes first.
Rank = tuple[float, float]


def rank(work: Document) -> Rank:
    """`work`'s place in the claim order, for comparing with cached candidates (a value
    of an unexpected type ranks first, so it cuts a batch rather than waits)."""
    priority, creation = work.get("priority"), work.get("creation")
    number = int | float
    first = -float(priority) if isinstance(priority, number) else -math.inf
    second = float(creation) if isinstance(creation, number) else -math.inf
    return first, second


@dataclass
class _Batch:
    """Candidates of one filter, in claim order, and until when they may be used."""

    entries: deque[tuple[Rank, Document]]
    #: Pipelines the filter names (None: any), so a work queued elsewhere leaves it be.
    pipelines: frozenset[Any] | None
    expires: float = field(default=0.0)


class Candidates:
    """The candidate batches of one process, by filter."""

    def __init__(self, size: int, seconds: float) -> None:
        self.size = size
        self.seconds = seconds
        self._batches: OrderedDict[bytes, _Batch] = OrderedDict()

    def take(self, key: bytes, count: int) -> list[Document]:
        """The next `count` candidates of filter `key` (fewer when fewer are left), each
        as a filter on its `_id` and `id`, best first; empty when none is left or the
        batch expired (see `stale`)."""
        batch = self._batches.get(key)
        if batch is None:
            return []
        if not batch.entries:
            del self._batches[key]
            return []
        if time.monotonic() >= batch.expires:
            return []
        self._batches.move_to_end(key)
        entries = batch.entries
        return [entries.popleft()[1] for _ in range(min(count, len(entries)))]

    def stale(self, key: bytes) -> list[tuple[Rank, Document]]:
        """The candidates left in the expired batch of filter `key` (empty if none)."""
        batch = self._batches.get(key)
        if batch is None or time.monotonic() < batch.expires:
            return []
        return list(batch.entries)

    def renew(self, key: bytes) -> None:
        """The expired batch of `key` was found still the best: use it for another
        SLUICE_CLAIM_BATCH_SECONDS."""
        batch = self._batches.get(key)
        if batch is not None:
            batch.expires = time.monotonic() + self.seconds

    def keep(self, key: bytes, found: list[Document], query: Document, read: float) -> None:
        """Keep the candidates `found` for filter `key` (the caller's `query`), read in
        `read` seconds: usable for SLUICE_CLAIM_BATCH_SECONDS, or as long as the read
        took when that was longer."""
        named = named_pipelines(query)
        entries = deque((rank(work), {"_id": work["_id"], "id": work.get("id")}) for work in found)
        expires = time.monotonic() + max(self.seconds, read)
        self._batches[key] = _Batch(entries, None if named is None else frozenset(named), expires)
        self._batches.move_to_end(key)
        while len(self._batches) > CACHED_FILTERS:
            self._batches.popitem(last=False)

    def queued(self, works: Iterable[Document]) -> None:
        """Works were queued through this process: cut every batch that could hold them
        before the first candidate they rank ahead of."""
        best: dict[Any, Rank] = {}
        for work in works:
            pipeline = work.get("pipeline")
            place = rank(work)
            if pipeline not in best or place < best[pipeline]:
                best[pipeline] = place
        if not best or not self._batches:
            return
        for batch in self._batches.values():
            places = [
                p for name, p in best.items() if batch.pipelines is None or name in batch.pipelines
            ]
            if not places:
                continue
            first = min(places)
            while batch.entries and batch.entries[-1][0] > first:
                batch.entries.pop()

    def clear(self) -> None:
        """Forget every batch (works were queued in ways that name no single work)."""
        self._batches.clear()
