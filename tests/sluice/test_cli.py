"""The `sluice` command line against the live service."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Protocol

import pytest
from click.testing import CliRunner, Result

from service.testing import free_port
from sluice import Results
from sluice.cli.main import main
from tests.service.factories import work


class Run(Protocol):
    def __call__(self, *args: str, input: str | None = None) -> Result: ...


@pytest.fixture
def cli(base_url: str) -> Run:
    """Run `sluice --url <the test server> ARGS...`."""
    runner = CliRunner()

    def run(*args: str, input: str | None = None) -> Result:
        return runner.invoke(main, ["--url", base_url, *args], input=input)

    return run


def test_view_prints_a_table(cli: Run, results: Results, pipeline: str) -> None:
    creation = datetime(2024, 5, 6, 7, 8, 9, tzinfo=UTC).timestamp()
    sent = work(pipeline, creation=creation, event=[123], tags=["alpha", "beta"])
    results.deposit([sent])
    results.lock(pipeline, [sent["id"]])
    outcome = cli("results", "view", pipeline)
    assert outcome.exit_code == 0, outcome.output
    row = next(line for line in outcome.stdout.splitlines() if sent["id"] in line)
    for cell in ("success", "123", "alpha, beta", "2024-05-06 07:08:09", "yes"):
        assert cell in row
    assert f"{pipeline}: 1 results" in outcome.stdout


def test_view_json_with_query_projection_and_paging(
    cli: Run, results: Results, pipeline: str
) -> None:
    works = [work(pipeline, tags=[str(i)]) for i in range(3)]
    results.deposit(works)
    outcome = cli(
        "results", "view", pipeline, "--query", '{"tags": {"$in": ["1", "2"]}}',
        "--projection", '{"tags": true}', "--skip", "1", "--limit", "-1", "--json",
    )  # fmt: skip
    assert outcome.exit_code == 0, outcome.output
    assert json.loads(outcome.stdout) == [{"tags": ["2"], "id": works[2]["id"]}]


def test_count_and_status(cli: Run, results: Results, pipeline: str) -> None:
    results.deposit([work(pipeline), work(pipeline, status="failure")])
    counted = cli("results", "count", pipeline, "--query", '{"status": "failure"}', "--json")
    assert json.loads(counted.stdout) == 1
    assert cli("results", "count", pipeline).stdout.strip() == f"2 results in {pipeline}"
    status = cli("results", "status", "--json")
    assert json.loads(status.stdout)[pipeline] == 2
    table = cli("results", "status")
    assert table.exit_code == 0
    assert any(pipeline in line and "2" in line for line in table.stdout.splitlines())
    assert "total" in table.stdout


def test_lock_and_unlock_with_confirmation(cli: Run, results: Results, pipeline: str) -> None:
    sent = work(pipeline)
    results.deposit([sent])
    locked = cli("results", "lock", pipeline, sent["id"])
    assert locked.exit_code == 0 and "Locked 1 results" in locked.stdout
    assert results.get_locked_count(pipeline) == 1

    declined = cli("results", "unlock", pipeline, sent["id"], input="n\n")
    assert declined.exit_code == 1
    assert results.get_locked_count(pipeline) == 1

    confirmed = cli("results", "unlock", pipeline, sent["id"], input="y\n")
    assert confirmed.exit_code == 0, confirmed.output
    assert results.get_locked_count(pipeline) == 0

    results.lock(pipeline, [sent["id"]])
    assert cli("results", "unlock", pipeline, sent["id"], "--yes").exit_code == 0
    assert results.get_locked_count(pipeline) == 0


def test_api_error_is_one_line_and_exit_1(cli: Run, pipeline: str) -> None:
    outcome = cli("results", "view", pipeline, "--query", '{"$where": "1"}')
    assert outcome.exit_code == 1
    assert outcome.stdout == ""
    [line] = outcome.stderr.splitlines()
    assert line.startswith("Error: ") and "$where" in line and "400 invalid_query" in line


def test_lock_of_unknown_id_fails(cli: Run, pipeline: str) -> None:
    outcome = cli("results", "lock", pipeline, "missing-id")
    assert outcome.exit_code == 1
    assert "missing-id" in outcome.stderr


def test_usage_errors_exit_2(cli: Run, pipeline: str) -> None:
    assert cli("results", "view", pipeline, "--query", "{nope").exit_code == 2
    assert cli("results", "view", pipeline, "--query", "[1]").exit_code == 2
    assert cli("results", "lock", pipeline).exit_code == 2


def test_url_and_token_come_from_the_environment(base_url: str, pipeline: str) -> None:
    outcome = CliRunner().invoke(
        main,
        ["results", "count", pipeline, "--json"],
        env={"SLUICE_URL": base_url, "SLUICE_TOKEN": "t"},
    )
    assert outcome.exit_code == 0, outcome.output
    assert json.loads(outcome.stdout) == 0


def test_unreachable_server_exits_1() -> None:
    nowhere = f"http://127.0.0.1:{free_port()}"
    outcome = CliRunner().invoke(main, ["--url", nowhere, "results", "status"])
    assert outcome.exit_code == 1
    assert outcome.stderr.startswith("Error: cannot reach the server")


def test_results_deposit_columns_and_footer(cli: Run, results: Results, pipeline: str) -> None:
    documents = [work(pipeline, results={"snr": 10 + i}) for i in range(5)]
    deposited = cli("results", "deposit", "-", input=json.dumps(documents))
    assert deposited.exit_code == 0, deposited.output
    assert f"Stored 5 results in {pipeline}" in deposited.stdout
    table = cli("results", "view", pipeline, "--limit", "2", "--columns", "results.snr")
    assert table.exit_code == 0, table.output
    assert "showing 2 of 5" in table.stdout and "results.snr" in table.stdout
    assert "10" in table.stdout and "11" in table.stdout
    typo = cli("results", "view", pipeline + "-typo")
    assert typo.exit_code == 1 and "known: " in typo.output and pipeline in typo.output
