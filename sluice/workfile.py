"""Python client for workfiles and their runs: `Workfile`, with runs under `.process`.

Method names and arguments follow Alpine's `Workfile` and `Workfile.Process`; ids are
strings. Every failure raises a `sluice.errors.SluiceError`.

    with Workfile("http://127.0.0.1:8000") as workfile:
        workflow_id = workfile.upload("analysis", "diamond.yaml")["id"]
        process_id = workfile.process.run(workflow_id, [{"name": "@n", "value": 3}])
        workfile.process.wait_until_finished(workflow_id, process_id, query_time=1)
        report = workfile.process.download_results(workflow_id, process_id)
        workfile.process.find_operator("total", report)["visualData"]
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import ClassVar

from sluice.core.plan import Document
from sluice.core.sender import Sender
from sluice.errors import (
    FlowResultsMalformed,
    NotFound,
    RunFlowFailure,
    RunFlowTimeout,
    StopFlowFailure,
    ValidationFailed,
    WorkflowVariable,
)
from sluice.plans import workfile as plans


class Process:
    """Runs of workflow workfiles; reached as `Workfile(...).process`."""

    def __init__(self, workfile: Workfile) -> None:
        self._workfile = workfile

    def run(self, workflow_id: str, variables: Sequence[Document] | None = None) -> str:
        """Start a run of the workfile's latest version; its process id. `variables`:
        `[{"name": "@row_filter", "value": "13"}, ...]`, each needing both keys.
        WorkfileNotFound; WorkflowVariable for an undeclared or malformed variable."""
        try:
            process = self._workfile._run(plans.run(workflow_id, variables))
        except ValidationFailed as exc:
            raise WorkflowVariable(
                exc.message, status_code=exc.status_code, code=exc.code, details=exc.details
            ) from exc
        process_id: str = process["process_id"]
        return process_id

    def info(self, process_id: str) -> Document:
        """The run: `state`, `status` and its `steps` (name, state, attempt, error...)."""
        return self._workfile._run(plans.status(process_id))

    def recent(self, status: str | None = None, limit: int = 100) -> list[Document]:
        """The latest `limit` runs (of `status`: RUNNING, SUCCESS, FAILURE, STOPPED),
        newest first, each as `info` answers it."""
        return self._workfile._run(plans.recent(status, limit))

    def query_status(self, process_id: str) -> str:
        """ "WORKING", "FINISHED" or "FAILED". RunFlowFailure for an unknown process."""
        try:
            state: str = self.info(process_id)["state"]
        except NotFound as exc:
            raise RunFlowFailure(exc.message, process_id) from exc
        return state

    def stop(self, process_id: str) -> str:
        """Stop a run: queued steps are cancelled, running ones stop at their next
        heartbeat. "STOPPED", or "STOP FAILED" when it had already ended otherwise.
        StopFlowFailure for an unknown process."""
        try:
            return self._workfile._run(plans.stop(process_id))
        except NotFound as exc:
            raise StopFlowFailure(exc.message) from exc

    def wait_until_finished(
        self,
        workflow_id: str,
        process_id: str,
        verbose: bool = False,
        query_time: float = 10,
        timeout: float = 3600,
        on_poll: Callable[[Document], None] | None = None,
    ) -> str:
        """Poll every max(1, query_time) seconds until the run ends; its final status
        from the run report ("SUCCESS" or "STOPPED"). RunFlowFailure on FAILURE; past
        `timeout` seconds the run is stopped and RunFlowTimeout raised. `verbose`
        prints the time waited; `on_poll(run)` sees each poll's run (state, steps)."""
        interval = max(1.0, query_time)
        started = time.monotonic()
        while True:
            try:
                process = self.info(process_id)
            except NotFound as exc:
                raise RunFlowFailure(exc.message, process_id) from exc
            if on_poll is not None:
                on_poll(process)
            if process["state"] != "WORKING":
                break
            waited = time.monotonic() - started
            if waited >= timeout:
                self.stop(process_id)
                raise RunFlowTimeout(
                    f"run {process_id} did not finish within {timeout} s; it was stopped",
                    process_id,
                )
            if verbose:
                print(f"Workflow in progress for ~{waited:.0f} seconds.")
            time.sleep(min(interval, max(timeout - waited, 0.0)))
        # The final status comes from the report, never from the coarse state alone.
        status: str = self.get_metadata(self.download_results(workflow_id, process_id))["status"]
        if status == "FAILURE":
            raise RunFlowFailure(f"run {process_id} ended with FAILURE", process_id, status)
        return status

    def download_results(self, workflow_id: str, process_id: str) -> Document:
        """The run report: `flowMetaInfo`, `logs`, and one `outputs` entry per operator
        in dependency order. WorkfileNotFound / ResultsNotFound."""
        return self._workfile._run(plans.results(workflow_id, process_id))

    @staticmethod
    def find_operator(operator_name: str, flow_results: Document) -> Document | None:
        """The `outputs` entry whose `out_title` is exactly `operator_name` (None if
        no operator has that name). FlowResultsMalformed without `outputs`."""
        outputs = flow_results.get("outputs") if isinstance(flow_results, dict) else None
        if not isinstance(outputs, list):
            raise FlowResultsMalformed("the run report has no 'outputs' list")
        for output in outputs:
            if isinstance(output, dict) and output.get("out_title") == operator_name:
                return output
        return None

    @staticmethod
    def get_metadata(flow_results: Document) -> Document:
        """The report's `flowMetaInfo` (times, user, status, counts of operators and
        errors). FlowResultsMalformed without it."""
        meta = flow_results.get("flowMetaInfo") if isinstance(flow_results, dict) else None
        if not isinstance(meta, dict):
            raise FlowResultsMalformed("the run report has no 'flowMetaInfo' object")
        return meta


class Workfile(Sender):
    """Blocking client for workfiles of one Sluice server; runs are under `.process`.

    `base_url` is the Sluice root (default `$SLUICE_URL`, else http://127.0.0.1:8000);
    `token` (default `$SLUICE_TOKEN`) is sent as `x-access-token`; `timeout` is in
    seconds per request.
    """

    prefix = ""
    Process: ClassVar[type[Process]] = Process

    def __init__(
        self, base_url: str | None = None, token: str | None = None, timeout: float = 30
    ) -> None:
        super().__init__(base_url, token, timeout)
        self.process = Process(self)

    def upload(
        self,
        workspace_id: str,
        afm_file: str | Path,
        data_sources_list: Sequence[Document] | None = None,
        file_name: str | None = None,
    ) -> Document:
        """Upload the workfile at path `afm_file` (YAML, or JSON if named `.json`) to a
        workspace, as `file_name` (default: its base name); its metadata. A name that
        exists gets a new version. `data_sources_list` is accepted for compatibility
        and must be empty: a workfile names its own pipelines and sites."""
        if data_sources_list:
            raise ValueError("Sluice workfiles name their pipelines and sites; no data sources")
        path = Path(afm_file)
        return self._run(plans.upload(workspace_id, file_name or path.name, path.read_bytes()))

    def get(self, workfile_id: str) -> Document:
        """Metadata of a workfile (latest version). WorkfileNotFound."""
        return self._run(plans.get(workfile_id))

    def get_id(self, workfile_name: str, workspace_id: str) -> str:
        """The id of the workfile with exactly this name in the workspace. WorkfileNotFound."""
        return self._run(plans.get_id(workfile_name, workspace_id))

    def get_list(self, workspace_id: str, per_page: int = 100) -> list[Document]:
        """Every workfile of the workspace (sorted by name), fetched `per_page` at a time."""
        return self._run(plans.get_list(workspace_id, per_page))

    def download(self, workfile_id: str, version: int | None = None) -> bytes:
        """The bytes of a workfile as uploaded (the latest version by default)."""
        return self._run(plans.download(workfile_id, version))

    def delete(self, workfile_id: str) -> None:
        """Delete a workfile and all its versions. WorkfileNotFound."""
        self._run(plans.delete(workfile_id))
