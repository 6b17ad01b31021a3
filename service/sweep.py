"""The file sweep: a periodic pass (every SLUICE_SWEEP_INTERVAL seconds, in every Sluice
process) deleting stored files nothing will ever read, each through the store owning
its GridFS bucket.

It deletes, SLUICE_ORPHAN_FILE_SECONDS after their upload started: step outputs no
workfile run records or may still record (`StepFileStore.sweep`), AERO blobs no
version and no unfinished flow run holds (`BlobStore.sweep`), workfile files no
version holds and uploads of deleted leaderboard groups (`sweep_unheld`), and in every
bucket the chunks of uploads that never got their files document (`SweptBucket`, whose
`Unheld` finds the complete files past the grace that the owner's holds do not name).
Experiment files no experiment points at are retired, deleted SLUICE_FILE_GRACE later.
Each pass looks at SLUICE_SWEEP_BATCH files per bucket at most. Every deletion is
decided from what can no longer change, so replicas sweeping at once only repeat each
other.
"""

from __future__ import annotations

from service.gridstream import SweptBucket
from service.stores import Stores


async def sweep_files(opened: Stores) -> dict[str, int]:
    """One pass of the sweep; tallies of what it deleted."""
    grace, limit = opened.settings.orphan_file_seconds, opened.settings.sweep_batch
    unrecorded = await opened.step_files.sweep(grace, limit, opened.runs.collection)

    async def blobs_held(blob_ids: list[str]) -> set[str]:
        staged = await opened.flows.commits.staging(blob_ids)
        return staged | await opened.data.versions_holding(blob_ids)

    unheld = await opened.data.blobs.sweep(grace, limit, blobs_held)
    buckets: tuple[SweptBucket, ...] = (
        opened.workfiles,
        opened.step_files,
        opened.files,
        opened.uploads,
        opened.data.blobs,
    )
    abandoned = 0
    for store in buckets:
        abandoned += await store.sweep_chunks(grace, limit)
    return {
        "step_files_deleted": unrecorded,
        "blobs_deleted": unheld,
        "workfile_files_deleted": await opened.workfiles.sweep_unheld(grace, limit),
        "group_uploads_deleted": await opened.uploads.sweep_unheld(grace, limit),
        "experiment_files_retired": await opened.files.sweep_unheld(grace, limit),
        "uploads_abandoned": abandoned,
    }
