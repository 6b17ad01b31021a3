"""`make run` installs the runtime only (with the embedded database); the targets that
need the development tools install them on top."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def installs(target: str) -> list[str]:
    """The `pip install` lines `make TARGET` runs when nothing is installed yet."""
    if shutil.which("make") is None:
        pytest.skip("make is not installed")
    planned = subprocess.run(
        ["make", "-n", "-B", target], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout
    return [line for line in planned.splitlines() if "pip install" in line and " -e " in line]


def test_make_run_installs_the_runtime_only() -> None:
    assert installs("run") == [".venv/bin/python -m pip install --quiet -e '.[embedded]'"]


@pytest.mark.parametrize("target", ["test", "lint", "fuzz"])
def test_development_targets_add_the_dev_tools(target: str) -> None:
    assert installs(target)[-1] == ".venv/bin/python -m pip install --quiet -e '.[embedded,dev]'"


def test_make_bench_adds_its_peer_on_top() -> None:
    assert installs("bench")[-2:] == [
        ".venv/bin/python -m pip install --quiet -e '.[embedded,dev]'",
        ".venv/bin/python -m pip install --quiet -e '.[embedded,dev,bench]'",
    ]
