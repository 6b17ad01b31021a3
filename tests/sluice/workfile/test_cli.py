"""`sluice workfile ...` and `sluice run` in process, against the live service."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import uuid
from pathlib import Path

from click.testing import CliRunner, Result

from service.testing import SluiceProcess
from sluice.cli.main import main
from tests.service.workfiles.helpers import JOBS, diamond
from tests.sluice.buckets.conftest import StartWorker
from tests.sluice.workfile.conftest import WriteWorkflow
from tests.workers import SLUICE


def sluice(server: SluiceProcess, *args: str, input: str | None = None) -> Result:
    return CliRunner().invoke(main, ["--url", server.url, *args], input=input)


def test_workfile_commands(
    runs_sluice: SluiceProcess, pipeline: str, write_workflow: WriteWorkflow, tmp_path: Path
) -> None:
    space = f"ws-{uuid.uuid4().hex[:10]}"
    path = write_workflow(diamond(pipeline), "diamond.yaml")
    uploaded = sluice(runs_sluice, "workfile", "upload", space, str(path))
    assert uploaded.exit_code == 0, uploaded.output
    workfile_id, name, _, version = uploaded.stdout.split()
    assert (name, version) == ("diamond.yaml", "1")
    again = sluice(runs_sluice, "workfile", "upload", space, str(path), "--json")
    assert json.loads(again.stdout)["version"] == 2
    listed = sluice(runs_sluice, "workfile", "ls", space)
    assert workfile_id in listed.stdout and "diamond" in listed.stdout
    assert json.loads(sluice(runs_sluice, "workfile", "ls", space, "--json").stdout)[0]["id"] == (
        workfile_id
    )
    shown = json.loads(sluice(runs_sluice, "workfile", "get", workfile_id, "--json").stdout)
    assert shown["file_name"] == "diamond.yaml"
    assert sluice(runs_sluice, "workfile", "download", workfile_id).stdout_bytes == (
        path.read_bytes()
    )
    saved = tmp_path / "copy.yaml"
    sluice(runs_sluice, "workfile", "download", workfile_id, "-o", str(saved), "--version", "1")
    assert saved.read_bytes() == path.read_bytes()
    refused = sluice(runs_sluice, "workfile", "rm", workfile_id, input="n\n")
    assert refused.exit_code == 1
    assert sluice(runs_sluice, "workfile", "rm", workfile_id, "--yes").exit_code == 0
    gone = sluice(runs_sluice, "workfile", "get", workfile_id)
    assert gone.exit_code == 1 and "no workfile" in gone.stderr
    assert "No workfile" in sluice(runs_sluice, "workfile", "ls", space).stdout


def test_run_waits_showing_steps(
    runs_sluice: SluiceProcess,
    pipeline: str,
    write_workflow: WriteWorkflow,
    start_worker: StartWorker,
) -> None:
    space = f"ws-{uuid.uuid4().hex[:10]}"
    sluice(runs_sluice, "workfile", "upload", space, str(write_workflow(diamond(pipeline))))
    start_worker(runs_sluice.url, pipeline, "--sleep", "0.1")
    outcome = sluice(runs_sluice, "run", "flow.yaml", "--workspace", space, "--var", "n=5",
                     "--wait")  # fmt: skip
    assert outcome.exit_code == 0, outcome.output
    assert "SUCCESS" in outcome.stdout
    assert all(name in outcome.stdout for name in ("start", "left", "right", "total"))

    failing = {"function": f"{JOBS}.fail", "parameters": {"message": "no beam"}}
    sluice(runs_sluice, "workfile", "upload", space,
           str(write_workflow(diamond(pipeline, total=failing), "bad.yaml")))  # fmt: skip
    outcome = sluice(runs_sluice, "run", "bad.yaml", "--workspace", space, "--wait")
    assert outcome.exit_code == 1, outcome.output
    assert "RuntimeError: no beam" in outcome.stdout and "failure" in outcome.stdout
    assert "ended with FAILURE" in outcome.stderr
    bad = sluice(runs_sluice, "run", "bad.yaml", "--workspace", space, "--var", "n")
    assert bad.exit_code == 2 and "NAME=VALUE" in bad.output
    started = sluice(runs_sluice, "run", "bad.yaml", "--workspace", space)
    assert started.exit_code == 0 and len(started.stdout.strip()) == 32


def test_ctrl_c_while_waiting_offers_to_stop_and_runs_are_listed(
    runs_sluice: SluiceProcess, pipeline: str, write_workflow: WriteWorkflow
) -> None:
    space = f"ws-{uuid.uuid4().hex[:10]}"
    sluice(runs_sluice, "workfile", "upload", space, str(write_workflow(diamond(pipeline))))
    argv = [SLUICE, "--url", runs_sluice.url, "run", "flow.yaml", "--workspace", space,
            "--wait", "--every", "1"]  # fmt: skip
    waiting = subprocess.Popen(
        argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        text=True, env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )  # fmt: skip
    try:
        assert waiting.stderr is not None and waiting.stdin is not None
        # No worker serves the pipeline: the wait says so instead of waiting silently.
        warning = waiting.stderr.readline()
        assert f"no live worker serves pipeline {pipeline} at site local" in warning
        waiting.send_signal(signal.SIGINT)
        waiting.stdin.write("stop\n")
        waiting.stdin.flush()
        _, err = waiting.communicate(timeout=30)
    finally:
        if waiting.poll() is None:
            waiting.kill()
    assert waiting.returncode == 130, err
    assert "Stop the run, or detach" in err and "STOPPED" in err
    assert "Traceback" not in err
    listed = json.loads(sluice(runs_sluice, "run", "ls", "--status", "STOPPED", "--json").stdout)
    [stopped] = [p for p in listed if p["workflow_name"] == "diamond" and p["user"]
                 and p["steps"][0]["work_id"].startswith(p["process_id"])][:1]  # fmt: skip
    process_id = stopped["process_id"]
    shown = sluice(runs_sluice, "run", "show", process_id)
    assert shown.exit_code == 0 and "STOPPED" in shown.stdout and "start" in shown.stdout
    table = sluice(runs_sluice, "run", "ls")
    assert process_id in table.stdout
    assert "run " + process_id in sluice(runs_sluice, "run", "stop", process_id).stdout
    assert sluice(runs_sluice, "run", "show", "no-such-run").exit_code == 1
