"""The leaderboard SDK (the seed's five methods, sync and async) and `sluice
leaderboard ...`, against a real Sluice and a real `sluice worker`."""

from __future__ import annotations

import asyncio
import io
import subprocess
import tarfile
import time
from pathlib import Path
from typing import Any

import pytest

from service.testing import SluiceProcess, SluiceStarter
from sluice import AsyncLeaderboards, Leaderboards, NotFound
from tests.service.leaderboards.conftest import LEADERBOARD_FAST
from tests.service.leaderboards.helpers import as_yaml, hello_template, make_group, upload
from tests.sluice.buckets.conftest import StartWorker, start_worker
from tests.workers import SLUICE

__all__ = ["start_worker"]


@pytest.fixture(scope="module")
def server(start_module_sluice: SluiceStarter) -> SluiceProcess:
    return start_module_sluice("leaderboard-client", **LEADERBOARD_FAST)


def cli(url: str, *args: str) -> str:
    done = subprocess.run([SLUICE, "--url", url, "leaderboard", *args],
                          capture_output=True, text=True, timeout=60)  # fmt: skip
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_install_runs_rank_and_archive_from_the_sdk_and_the_cli(
    server: SluiceProcess, pipeline: str, start_worker: StartWorker, tmp_path: Path
) -> None:
    start_worker(server.url, pipeline, "--sleep", "0.1")
    template = tmp_path / "hello.yaml"
    template.write_bytes(as_yaml(hello_template(pipeline)))
    installed = cli(server.url, "install", str(template))
    workflow_id, name = installed.split(" ", 1)
    assert name.strip().startswith("Hello World")
    assert workflow_id in cli(server.url, "ls")
    shown = cli(server.url, "show", workflow_id)
    assert "Sleep time (s)" in shown and "Avg. Characters per Line (float)" in shown
    with Leaderboards(server.url) as boards:
        assert workflow_id in [w["id"] for w in boards.list_workflows()["workflows"]]
        assert boards.get_workflow(workflow_id)["parameters"][0]["name"] == "names"
        runs = []
        for group_name, greeting in (("team a", "Hi"), ("team b", "Howdy")):
            group = make_group(server.env, workflow_id, pipeline, group_name)
            names = upload(server.env, group, "names.txt", b"Alice\nBob\n")
            arguments: list[dict[str, Any]] = [{"name": "names", "value": {"fileId": names}},
                         {"name": "greeting", "value": greeting}]  # fmt: skip
            runs.append(boards.start_run(workflow_id, group, arguments)["id"])
        for run_id in runs:
            deadline = time.monotonic() + 60
            while boards.get_run(run_id)["state"] in ("PENDING", "RUNNING"):
                assert time.monotonic() < deadline
                time.sleep(0.2)
            assert boards.get_run(run_id)["state"] == "SUCCESS"
        ranking = boards.get_ranking(workflow_id)["ranking"]
        assert [row["run"]["id"] for row in ranking] == [runs[1], runs[0]]
        ascending = boards.get_ranking(workflow_id, order_by=["avg_count:ASC"], include_all=True)
        assert [row["run"]["id"] for row in ascending["ranking"]] == runs
        table = cli(server.url, "rank", workflow_id)
        assert "Avg. Characters per Line" in table and "Longest Output" in table
        assert table.index("team b") < table.index("team a")
        assert "Howdy Alice!" in table
        flipped = cli(server.url, "rank", workflow_id, "--order-by", "avg_count:ASC")
        assert flipped.index("team a") < flipped.index("team b")
        deadline = time.monotonic() + 60
        while True:
            run = boards.get_workflow(workflow_id)["postproc"]["run"]
            if run and run["state"] == "SUCCESS" and len(run["files"]) == 1:
                archive = boards.get_result_archive(workflow_id)
                with tarfile.open(fileobj=archive, mode="r:gz") as tar:
                    if tar.getnames() == ["results/compare.json"]:
                        compare = tar.extractfile("results/compare.json").read()  # type: ignore[union-attr]
                        if compare.count(b'"run"') == 2:
                            break
            assert time.monotonic() < deadline, run
            time.sleep(0.3)
        file_id = run["files"][0]["id"]
        assert boards.get_result_file(workflow_id, file_id).read() == compare
        with pytest.raises(NotFound):
            boards.get_workflow("nope")
    saved = tmp_path / "out.tar.gz"
    assert str(saved) in cli(server.url, "archive", workflow_id, "-o", str(saved))
    with tarfile.open(saved, mode="r:gz") as tar:
        assert tar.getnames() == ["results/compare.json"]

    async def through_async() -> None:
        async with AsyncLeaderboards(server.url) as boards:
            board = await boards.get_ranking(workflow_id, order_by=[("avg_count", False)])
            assert [row["run"]["id"] for row in board["ranking"]] == runs
            data = (await boards.get_result_archive(workflow_id)).read()
            with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as tar:
                assert tar.getnames() == ["results/compare.json"]

    asyncio.run(through_async())
