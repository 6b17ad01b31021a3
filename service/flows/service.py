"""The flows resource as one object for the app: its stores, wired to the data stores
they call, and its periodic pass."""

from __future__ import annotations

from dataclasses import dataclass

from service.buckets.store import BucketsStore
from service.db import Database
from service.flows.commit import Commits
from service.flows.events import Events
from service.flows.follow import RunFollower
from service.flows.legacy import LegacyCommits
from service.flows.ports import Functions, Ingestion, Sources
from service.flows.provenance import ProvenanceStore
from service.flows.runs import Triggers
from service.flows.store import FlowStore
from service.periodic import Periodic
from service.results.store import ResultsStore
from service.settings import Settings


@dataclass(frozen=True)
class Flows:
    """Flows (`store`), their triggers and runs (`triggers`), the worker's commits
    (`commits`), provenance, the notices of INGESTION_EVENT flows (`events`) and the
    runs AERO workers commit whole (`legacy`)."""

    store: FlowStore
    triggers: Triggers
    commits: Commits
    provenance: ProvenanceStore
    events: Events
    legacy: LegacyCommits

    @classmethod
    def open(
        cls,
        database: Database,
        settings: Settings,
        sources: Sources,
        functions: Functions,
        ingestion: Ingestion,
        buckets: BucketsStore,
        results: ResultsStore,
    ) -> Flows:
        """Build the stores; every version `sources` creates from now on evaluates the
        gates of the flows consuming it."""
        store = FlowStore(database, sources, functions, ingestion, settings)
        triggers = Triggers(database, store, buckets, results)
        provenance = ProvenanceStore(database, settings.aero_lineage_max_nodes)
        sources.listeners.append(triggers.version_created)
        commits = Commits(database, triggers, provenance, ingestion)
        legacy = LegacyCommits(database, triggers, provenance)
        return cls(store, triggers, commits, provenance, Events(store, triggers), legacy)

    async def create_indexes(self) -> None:
        await self.store.create_indexes()
        await self.triggers.create_indexes()
        await self.provenance.create_indexes()

    def loops(self) -> list[Periodic]:
        """The scheduler (due TIMER/INGESTION slots) and the pass following runs to
        their end; both safe on several replicas."""
        tick = self.store.settings.aero_scheduler_tick
        return [
            Periodic("flow-scheduler", tick, self.triggers.tick),
            Periodic("flow-runs", tick, RunFollower(self.triggers).reconcile),
        ]
