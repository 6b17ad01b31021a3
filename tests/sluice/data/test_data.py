"""The versioned-data client (`sluice.data.Data`) and `sluice data ...` against a
running Sluice of their own."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from service.testing import SluiceProcess, SluiceStarter
from sluice.cli.main import main
from sluice.data import Data, function_path
from sluice.errors import BadRequest, Conflict, NotFound


@pytest.fixture(scope="module")
def server(start_module_sluice: SluiceStarter) -> SluiceProcess:
    return start_module_sluice("sdk-data")


@pytest.fixture
def data(server: SluiceProcess) -> Iterator[Data]:
    with Data(server.url) as client:
        yield client


def cli(server: SluiceProcess, *args: str) -> Result:
    return CliRunner().invoke(main, ["--url", server.url, "data", *args])


def importable(x: int) -> int:
    return x


def test_register_function_records_an_importable_path(data: Data) -> None:
    function_id = data.register_function(importable, "doubles nothing")
    assert function_path(importable) == "tests.sluice.data.test_data.importable"
    with pytest.raises(Conflict):
        data.register_function("tests.sluice.data.test_data.importable")

    def local() -> None:
        return None

    for refused in (local, lambda: None):
        with pytest.raises(ValueError, match="cannot be imported"):
            data.register_function(refused)
    with pytest.raises(BadRequest):
        data.register_function("not a path")
    assert isinstance(function_id, str)


def test_sources_versions_download_and_search(data: Data) -> None:
    source = data.create_source("sdk cases", tags=["sdk"], description="weekly")
    assert data.upload_version(source["id"], b"one")["created"] is True
    assert data.upload_version(source["id"], b"one")["created"] is False
    assert data.upload_version(source["id"], b"two")["version"]["version"] == 2
    assert [v["version"] for v in data.list_versions(source["id"])] == [1, 2]
    assert data.download(source["id"]) == b"two"
    assert data.download(source["id"], 1) == b"one"
    assert data.get_version(source["id"])["version"] == 2
    assert data.get_source(source["id"])["available_versions"] == 2
    changed = data.update_source(source["id"], description="daily", tags=["sdk", "daily"])
    assert changed["description"] == "daily" and changed["tags"] == ["sdk", "daily"]
    hits = data.search_sources("tags:sdk AND version:>=2")
    assert [(hit["data"]["id"], hit["version"]) for hit in hits] == [(source["id"], 2)]
    with pytest.raises(BadRequest):
        data.search_sources("name:(unclosed")
    empty = data.create_source("nothing yet")
    with pytest.raises(NotFound):
        data.download(empty["id"])
    with pytest.raises(NotFound):
        data.get_source("nope")


def test_list_metadata_yields_pages_of_15(start_sluice: SluiceStarter) -> None:
    server = start_sluice("sdk-pages")
    with Data(server.url) as client:
        made = [client.create_source(f"s{n}")["id"] for n in range(31)]
        pages = list(client.list_metadata("data"))
        assert [len(page) for page in pages] == [15, 15, 1]
        assert [item["id"] for page in pages for item in page] == list(reversed(made))
        with pytest.raises(ValueError):
            list(client.list_metadata("nope"))  # type: ignore[arg-type]


def test_the_data_commands(server: SluiceProcess, tmp_path: Path) -> None:
    created = cli(server, "create", "cli source", "--tag", "cli", "--description", "d")
    assert created.exit_code == 0, created.output
    data_id = created.stdout.strip()
    content = tmp_path / "in.csv"
    content.write_bytes(b"a,b\n1,2\n")
    uploaded = cli(server, "upload", data_id, str(content), "--type", "text/csv")
    assert uploaded.stdout.strip() == "created version 1"
    assert cli(server, "upload", data_id, str(content)).stdout.strip() == (
        "unchanged, latest is version 1"
    )
    listed = cli(server, "versions", data_id, "--json")
    [version] = json.loads(listed.stdout)
    assert version["data_file"]["file_name"] == "in.csv"
    assert version["data_file"]["file_type"] == "text/csv"
    out = tmp_path / "out.csv"
    assert cli(server, "download", data_id, "-o", str(out)).exit_code == 0
    assert out.read_bytes() == b"a,b\n1,2\n"
    assert cli(server, "download", data_id, "--version", "1").stdout_bytes == b"a,b\n1,2\n"
    assert data_id in cli(server, "ls").stdout
    assert "cli source" in cli(server, "show", data_id).stdout
    assert data_id in cli(server, "search", "tags:cli").stdout
    bad = cli(server, "search", "name:(")
    assert bad.exit_code == 1 and "search query" in bad.stderr
    failed = cli(server, "ingest", data_id)
    assert failed.exit_code == 1 and "no url" in failed.stderr
    registered = cli(server, "function", "register", "pkg.mod.fn")
    assert registered.exit_code == 0 and registered.stdout.strip()
    assert cli(server, "function", "register", "pkg.mod.fn").exit_code == 1


def test_files_are_streamed_both_ways(data: Data, tmp_path: Path) -> None:
    source = data.create_source("streamed")
    original = tmp_path / "big.bin"
    original.write_bytes(bytes(range(256)) * 8192)  # 2 MiB: past the inline threshold
    answer = data.upload_version(source["id"], original, file_type="application/x-test")
    assert answer["created"] is True
    assert answer["version"]["data_file"]["file_name"] == "big.bin"
    assert answer["version"]["data_file"]["file_type"] == "application/x-test"
    assert data.upload_version(source["id"], original)["created"] is False
    copy = data.download_to(source["id"], tmp_path / "copy.bin")
    assert copy.read_bytes() == original.read_bytes()
    assert not (tmp_path / "copy.bin.partial").exists()
