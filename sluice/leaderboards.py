"""Leaderboards of a Sluice server: the flowServ `RemoteWorkflowService` methods (same
names and meanings) and Sluice's own (install, runs), blocking and asyncio.

`get_ranking(workflow_id, order_by=None, include_all=False)`: `order_by` is a list of
columns, each `"col"` (descending), `"col:ASC"`, `(name, descending)` or flowServ's
`SortColumn`; none means the schema's default order. `get_result_archive` and
`get_result_file` return `io.BytesIO`, as flowServ's do; `save_result_archive` streams
the archive to a file instead.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from pathlib import Path
from typing import IO

from sluice.core.plan import Document, segment
from sluice.core.sender import AsyncSender, Sender, get_stream
from sluice.plans import leaderboards as plans
from sluice.plans.leaderboards import SortSpec


class Leaderboards(Sender):
    """Blocking leaderboard client (arguments as every Sluice client's)."""

    prefix = "/leaderboards"

    def list_workflows(self) -> Document:
        """`{"workflows": [...]}`: every installed workflow template."""
        return self._run(plans.list_workflows())

    def get_workflow(self, workflow_id: str) -> Document:
        """A workflow template (parameters, result schema, latest post-processing run)."""
        return self._run(plans.get_workflow(workflow_id))

    def get_ranking(
        self,
        workflow_id: str,
        order_by: Sequence[SortSpec] | None = None,
        include_all: bool = False,
        page: int = 1,
        per_page: int = 100,
    ) -> Document:
        """The leaderboard: `{"schema", "order_by", "ranking": [{"run", "group",
        "results"}], ...}`, best first; one run per group unless `include_all`."""
        return self._run(plans.get_ranking(workflow_id, order_by, include_all, page, per_page))

    def get_result_archive(self, workflow_id: str) -> IO[bytes]:
        """The tar.gz of the latest successful post-processing run's outputs."""
        return io.BytesIO(self._run(plans.result_archive(workflow_id)))

    def get_result_file(self, workflow_id: str, file_id: str) -> IO[bytes]:
        """One output file of the latest successful post-processing run."""
        return io.BytesIO(self._run(plans.result_file(workflow_id, file_id)))

    def save_result_archive(self, workflow_id: str, target: Path) -> Path:
        """Stream the workflow's archive to `target` (written whole, then renamed)."""
        path = f"/workflows/{segment(workflow_id)}/archive"
        return get_stream(self._http, path, Path(target))

    def install(self, path: Path) -> Document:
        """Install the template in file `path` (YAML, or JSON for `.json`); admin."""
        return self._run(plans.install(Path(path).read_bytes(), Path(path).name))

    def start_run(self, workflow_id: str, group: str, arguments: Sequence[Document]) -> Document:
        """Start a run of the workflow for `group` with `[{"name", "value"}]` arguments."""
        return self._run(plans.start_run(workflow_id, group, arguments))

    def get_run(self, run_id: str) -> Document:
        return self._run(plans.get_run(run_id))

    def cancel_run(self, run_id: str, reason: str | None = None) -> Document:
        return self._run(plans.cancel_run(run_id, reason))


class AsyncLeaderboards(AsyncSender):
    """Asyncio leaderboard client: the same methods (but `save_result_archive`)."""

    prefix = "/leaderboards"

    async def list_workflows(self) -> Document:
        return await self._run(plans.list_workflows())

    async def get_workflow(self, workflow_id: str) -> Document:
        return await self._run(plans.get_workflow(workflow_id))

    async def get_ranking(
        self,
        workflow_id: str,
        order_by: Sequence[SortSpec] | None = None,
        include_all: bool = False,
        page: int = 1,
        per_page: int = 100,
    ) -> Document:
        return await self._run(
            plans.get_ranking(workflow_id, order_by, include_all, page, per_page)
        )

    async def get_result_archive(self, workflow_id: str) -> IO[bytes]:
        return io.BytesIO(await self._run(plans.result_archive(workflow_id)))

    async def get_result_file(self, workflow_id: str, file_id: str) -> IO[bytes]:
        return io.BytesIO(await self._run(plans.result_file(workflow_id, file_id)))

    async def install(self, name: str, content: bytes) -> Document:
        """Install template `content` read from a file named `name`; admin."""
        return await self._run(plans.install(content, name))

    async def start_run(
        self, workflow_id: str, group: str, arguments: Sequence[Document]
    ) -> Document:
        return await self._run(plans.start_run(workflow_id, group, arguments))

    async def get_run(self, run_id: str) -> Document:
        return await self._run(plans.get_run(run_id))

    async def cancel_run(self, run_id: str, reason: str | None = None) -> Document:
        return await self._run(plans.cancel_run(run_id, reason))
