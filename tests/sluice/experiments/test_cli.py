"""`sluice exp` and `sluice ext` against the running service."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Protocol

import pytest
from click.testing import CliRunner, Result

from sluice.cli.main import main
from tests.service.experiments.lab import Lab, StartWorker


class Run(Protocol):
    def __call__(self, *args: str, input: str | None = None) -> Result: ...


@pytest.fixture
def cli(lab: Lab) -> Run:
    runner = CliRunner()

    def run(*args: str, input: str | None = None) -> Result:
        return runner.invoke(main, ["--url", lab.url, *args], input=input)

    return run


def test_exp_commands(cli: Run, tmp_path: Path) -> None:
    created = cli("exp", "create", "CLI run", "-d", "from the shell")
    assert created.exit_code == 0, created.output
    eid = created.stdout.strip()
    # Tags keep their first spelling, matched in any case.
    alpha, beta = f"Alpha-{eid}", f"beta-{eid}"
    assert cli("exp", "tag", eid, alpha, beta).stdout.strip() == f"{alpha}, {beta}"
    assert cli("exp", "untag", eid, alpha.upper()).stdout.strip() == beta
    missing = cli("exp", "untag", eid, alpha.lower())
    assert missing.exit_code == 1 and "no tag" in missing.stderr

    data = tmp_path / "notes.txt"
    data.write_text("measurements\n")
    uploaded = cli("exp", "upload", eid, str(data))
    assert uploaded.exit_code == 0 and uploaded.stdout.startswith("notes.txt\t13\tsha256:")
    shown = cli("exp", "show", eid)
    assert "CLI run" in shown.stdout and "notes.txt" in shown.stdout and "beta" in shown.stdout
    record = json.loads(cli("exp", "show", eid, "--json").stdout)
    assert record["files"][0]["size"] == 13

    out = tmp_path / "out"
    downloaded = cli("exp", "download", eid, "notes.txt", "-o", str(out), "-q")
    assert downloaded.exit_code == 0 and (out / "notes.txt").read_text() == "measurements\n"

    found = json.loads(cli("exp", "find", eid, "--json").stdout)
    assert [e["eid"] for e in found["experiments"]] == [eid]
    assert eid in cli("exp", "find", "--tag", beta.upper()).stdout

    refused = cli("exp", "rm", eid, "--file", "notes.txt", "--file", "nope")
    assert refused.exit_code == 1 and "nothing was removed" in refused.stderr
    assert cli("exp", "rm", eid, "--file", "notes.txt").stdout.strip() == "notes.txt"
    assert cli("exp", "rm", eid, input="n\n").exit_code == 1
    assert cli("exp", "rm", eid, "--yes").exit_code == 0
    assert cli("exp", "show", eid).exit_code == 1


def test_bad_input_is_one_line_and_exit_1(cli: Run) -> None:
    outcome = cli("exp", "create", "x" * 300)
    assert outcome.exit_code == 1 and outcome.stderr.startswith("Error: ")
    assert cli("exp", "show", "nonsense").exit_code == 1


def test_ext_ls_and_run(cli: Run, lab_worker: StartWorker) -> None:
    listing = cli("ext", "ls")
    assert listing.exit_code == 0 and "greet" in listing.stdout and "fast|slow" in listing.stdout
    eid = cli("exp", "create", "ext via cli").stdout.strip()
    bad = cli("ext", "run", "demo", "greet", "-p", f"exp={eid}", "-p", "who=x", "-p", "times=2.5")
    assert bad.exit_code == 2 and "times" in bad.output
    worker = lab_worker(1)
    ran = cli("ext", "run", "demo", "greet", "-p", f"exp={eid}", "-p", "who=Shell",
              "-p", "loud=yes", "--wait", "--poll", "0.2")  # fmt: skip
    worker.communicate(timeout=30)
    assert ran.exit_code == 0, ran.output
    assert "SUCCESS" in ran.stdout and "hello Shell loud=true" in ran.stdout
    queued = cli("ext", "run", "idle", "wait")
    assert queued.exit_code == 0 and len(queued.stdout.strip()) == 32
    unknown = cli("ext", "run", "demo", "nope")
    assert unknown.exit_code == 2
