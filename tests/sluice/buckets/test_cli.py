"""`sluice buckets ...` and `sluice worker` in process, against the live service."""

from __future__ import annotations

import json
import os
import signal
import subprocess
from pathlib import Path
from typing import Protocol

import pytest
from click.testing import CliRunner, Result

from service.testing import free_port
from sluice import Buckets
from sluice.cli.main import main
from tests.sluice.buckets.conftest import job
from tests.workers import SLUICE


class Run(Protocol):
    def __call__(self, *args: str, input: str | None = None) -> Result: ...


@pytest.fixture
def cli(base_url: str) -> Run:
    """Run `sluice --url <the test server> ARGS...`."""
    runner = CliRunner()

    def run(*args: str, input: str | None = None) -> Result:
        return runner.invoke(main, ["--url", base_url, *args], input=input)

    return run


def test_ls_lists_pipelines_with_counts(cli: Run, buckets: Buckets, pipeline: str) -> None:
    buckets.deposit([job(pipeline, "noop") for _ in range(3)])
    assert buckets.withdraw(pipeline) is not None
    outcome = cli("buckets", "ls")
    assert outcome.exit_code == 0, outcome.output
    row = next(line for line in outcome.stdout.splitlines() if pipeline in line)
    cells = [cell.strip() for cell in row.strip("│ ").split("│")]
    assert cells == [pipeline, "3", "2", "1", "0", "0"]
    listed = json.loads(cli("buckets", "ls", "--json").stdout)
    assert listed[pipeline] == {"total": 3, "queued": 2, "running": 1, "success": 0, "failure": 0}


def test_ps_shows_counts_and_running_works(cli: Run, buckets: Buckets, pipeline: str) -> None:
    buckets.deposit([job(pipeline, "noop"), job(pipeline, "noop", user="ann")])
    claimed = buckets.withdraw(pipeline, user="ann")
    assert claimed is not None
    outcome = cli("buckets", "ps", pipeline)
    assert outcome.exit_code == 0, outcome.output
    assert "running: 1" in outcome.stdout
    row = next(line for line in outcome.stdout.splitlines() if claimed.work["id"] in line)
    assert "ann" in row and "1/2" in row and "3600s" in row
    shown = json.loads(cli("buckets", "ps", pipeline, "--json").stdout)
    assert shown["details"]["running"] == 1
    assert [w["id"] for w in shown["running"]] == [claimed.work["id"]]


def test_rm_asks_then_deletes_matching_works(cli: Run, buckets: Buckets, pipeline: str) -> None:
    buckets.deposit([job(pipeline, "noop") for _ in range(3)])
    assert buckets.withdraw(pipeline) is not None
    refused = cli("buckets", "rm", pipeline, "--status", "queued", input="n\n")
    assert refused.exit_code == 1 and "Delete 2 queued works" in refused.output
    assert buckets.details(pipeline)["total"] == 3
    agreed = cli("buckets", "rm", pipeline, "--status", "queued", input="y\n")
    assert agreed.exit_code == 0, agreed.output
    assert f"Deleted 2 queued works from {pipeline}." in agreed.stdout
    assert buckets.details(pipeline) == {
        "total": 1, "queued": 0, "running": 1, "success": 0, "failure": 0,
    }  # fmt: skip
    nothing = cli("buckets", "rm", pipeline, "--status", "queued", "--yes")
    assert "No queued works to delete" in nothing.stdout


def test_rm_of_many_works_shows_progress(cli: Run, buckets: Buckets, pipeline: str) -> None:
    buckets.deposit([job(pipeline, "noop", tags=["bulk"]) for _ in range(250)])
    buckets.deposit([job(pipeline, "noop")])
    outcome = cli("buckets", "rm", pipeline, "--tag", "bulk", "--yes")
    assert outcome.exit_code == 0, outcome.output
    assert "250/250" in outcome.stderr
    assert buckets.details(pipeline)["total"] == 1


def test_worker_runs_in_process(cli: Run, buckets: Buckets, pipeline: str) -> None:
    [work_id] = buckets.deposit([job(pipeline, "noop", parameters={"k": "v"})], True)
    outcome = cli("worker", pipeline, "--site", "local", "--once")
    assert outcome.exit_code == 0, outcome.output
    assert f"work {work_id} pipeline={pipeline} attempt=1 success" in outcome.stderr
    [work] = buckets.view({"id": work_id})
    assert work["status"] == "success" and work["results"] == {"echo": {"k": "v"}}


def test_commands_fail_in_one_line_when_the_server_is_down() -> None:
    url = f"http://127.0.0.1:{free_port()}"
    for args in (["buckets", "ls"], ["worker", "p", "--site", "local"]):
        outcome = CliRunner().invoke(main, ["--url", url, *args])
        assert outcome.exit_code == 1
        assert outcome.stderr.startswith("Error: cannot reach the server")


def test_deposit_show_retry_and_transfer(
    cli: Run, buckets: Buckets, pipeline: str, tmp_path: object
) -> None:
    flags = cli("buckets", "deposit", "--pipeline", pipeline, "--function", "m.f",
                "--param", "dm=56.7", "--param", "name=frb", "--count", "2")  # fmt: skip
    assert flags.exit_code == 0, flags.output
    ids = flags.stdout.split()
    assert len(ids) == 2
    yaml_works = f"- pipeline: {pipeline}\n  site: s\n  user: u\n  command: [echo hi]\n"
    from_file = cli("buckets", "deposit", "-", input=yaml_works)
    assert from_file.exit_code == 0, from_file.output
    [stored] = buckets.view({"id": from_file.stdout.strip()})
    assert stored["command"] == ["echo hi"] and stored["status"] == "queued"
    [first] = buckets.view({"id": ids[0]})
    assert first["parameters"] == {"dm": 56.7, "name": "frb"}
    assert cli("buckets", "deposit").exit_code == 2
    # A failed work: `show` says why, `retry` queues it again.
    claimed = buckets.withdraw(pipeline)
    assert claimed is not None
    work, lease = claimed
    failed = {**work, "status": "failure", "results": {"error": "no data", "traceback": ["T1"]}}
    buckets.update([failed], lease=lease)
    shown = cli("buckets", "show", work["id"])
    assert shown.exit_code == 0, shown.output
    assert "failure" in shown.stdout and "no data" in shown.stdout and "T1" in shown.stdout
    assert "1 of 3" in shown.stdout
    assert cli("buckets", "show", "no-such-id").exit_code == 1
    retried = cli("buckets", "retry", work["id"], ids[1])
    assert retried.exit_code == 1, retried.output  # not every one was
    assert "Queued 1 of 2" in retried.stdout
    assert buckets.view({"id": work["id"]})[0]["status"] == "queued"
    moved = cli("buckets", "transfer", "--json")
    assert moved.exit_code == 0, moved.output
    assert {"archived", "deleted"} <= set(json.loads(moved.stdout))


def test_stored_text_is_printed_as_it_is(cli: Run, buckets: Buckets, pipeline: str) -> None:
    # Rich markup in a value ("[/b]") raised MarkupError, "[red]x" lost its brackets.
    sent = job(pipeline, "noop", parameters={"note": "[red]alert [/b]"})
    [work_id] = buckets.deposit([sent], True)
    shown = cli("buckets", "show", work_id)
    assert shown.exit_code == 0, shown.output
    assert "[red]alert [/b]" in shown.stdout


def test_bad_connection_options_and_files_are_usage_errors(cli: Run, tmp_path: Path) -> None:
    runner = CliRunner()
    for options in (["--url", "http://[::1"], ["--url", "http://h:abc"], ["--url", "ftp://h"],
                    ["--token", "tökén"]):  # fmt: skip
        answer = runner.invoke(main, [*options, "results", "status"])
        assert answer.exit_code == 2 and "Traceback" not in answer.output, answer.output
        assert options[0] in answer.output
    latin = tmp_path / "works.json"
    latin.write_bytes(b'[{"pipeline": "caf\xe9"}]')
    answer = cli("buckets", "deposit", str(latin))
    assert answer.exit_code == 2 and "not UTF-8" in answer.output, answer.output


def test_a_pipeline_typo_names_the_known_ones(cli: Run, buckets: Buckets, pipeline: str) -> None:
    buckets.deposit([job(pipeline, "noop")])
    typo = cli("buckets", "ps", pipeline + "x")
    assert typo.exit_code == 1
    assert f"no such pipeline '{pipeline}x'; known:" in typo.output and pipeline in typo.output


def test_a_url_with_a_path_gets_a_hint(base_url: str) -> None:
    outcome = CliRunner().invoke(main, ["--url", f"{base_url}/results", "buckets", "show", "x"])
    assert outcome.exit_code == 1
    assert f"try {base_url}" in outcome.output


def test_the_url_defaults_from_host_and_port(monkeypatch: pytest.MonkeyPatch) -> None:
    from sluice.core.sender import default_url

    monkeypatch.delenv("SLUICE_URL", raising=False)
    monkeypatch.setenv("SLUICE_PORT", "9123")
    monkeypatch.setenv("SLUICE_HOST", "0.0.0.0")
    assert default_url() == "http://127.0.0.1:9123"
    monkeypatch.setenv("SLUICE_URL", "http://elsewhere:1")
    assert default_url() == "http://elsewhere:1"


@pytest.mark.parametrize("command", [["ls"], ["ps", "PIPELINE"]])
def test_watch_redraws_until_ctrl_c(
    base_url: str, buckets: Buckets, pipeline: str, command: list[str]
) -> None:
    buckets.deposit([job(pipeline, "noop")])
    args = [a.replace("PIPELINE", pipeline) for a in command]
    watching = subprocess.Popen(
        [SLUICE, "--url", base_url, "buckets", *args, "--watch", "0.3"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )  # fmt: skip
    try:
        assert watching.stdout is not None
        seen = 0
        while seen < 2:  # two draws naming the pipeline
            line = watching.stdout.readline()
            assert line, "the watch ended by itself"
            seen += pipeline in line
        watching.send_signal(signal.SIGINT)
        _, err = watching.communicate(timeout=15)
    finally:
        if watching.poll() is None:
            watching.kill()
    assert watching.returncode == 0 and "Traceback" not in err
