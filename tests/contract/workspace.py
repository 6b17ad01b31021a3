"""An isolated HOME and workspace for the real CHIME/FRB `workflow` client.

The client reads its active workspace from `~/.config/workflow/workspace.yml`, a path it
fixes from HOME when first imported, so every process that runs it gets `client_env`.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.contract.remote import PROJECT_ROOT

#: The one site of the test workspace; the client refuses works for any other.
SITE = "local"

#: Builds a work payload with the real client: `make_work(pipeline, **fields)`.
WorkFactory = Callable[..., dict[str, Any]]

#: Variables the client reads (tokens, WORKFLOW_* overrides) or that could route
#: loopback requests through a proxy; none may leak from the developer's shell.
_DROPPED_PREFIXES = ("WORKFLOW_",)
_DROPPED = {
    "GITHUB_TOKEN",
    "GITHUB_PAT",
    "HTTP_PROXY",
    "HTTPS_PROXY",
    "ALL_PROXY",
    "http_proxy",
    "https_proxy",
    "all_proxy",
}


@dataclass(frozen=True)
class WorkflowHome:
    """An isolated HOME whose active workspace points at Sluice."""

    home: Path
    #: The active workspace the client reads: `<home>/.config/workflow/workspace.yml`.
    workspace: Path
    baseurls: dict[str, str]
    #: Environment for any process that runs the client.
    env: dict[str, str]


def workspace_yaml(name: str, baseurls: dict[str, str]) -> str:
    """A workspace file in the shape of spec section 7."""
    urls = "".join(f"    {backend}: {url}\n" for backend, url in baseurls.items())
    return (
        f"workspace: {name}\n"
        f"sites: [{SITE}]\n"
        "http:\n"
        "  baseurls:\n"
        f"{urls}"
        "config:\n"
        "  archive:\n"
        "    results: true\n"
    )


def client_env(home: Path) -> dict[str, str]:
    """This process's environment with HOME replaced and client overrides removed."""
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in _DROPPED and not key.startswith(_DROPPED_PREFIXES)
    }
    loopback = "127.0.0.1,localhost"
    env.update(HOME=str(home), NO_PROXY=loopback, no_proxy=loopback)
    return env


def activate_workspace(
    home: Path, source: Path, baseurls: dict[str, str], env: dict[str, str]
) -> WorkflowHome:
    """Write a workspace naming `baseurls` to `source` and activate it in `home` with the
    real `workflow workspace set`, run with `env` (from `client_env(home)`)."""
    source.write_text(workspace_yaml("sluice-contract", baseurls))
    done = subprocess.run(
        [sys.executable, "-m", "workflow.cli.main", "workspace", "set", str(source)],
        cwd=PROJECT_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    active = home / ".config" / "workflow" / "workspace.yml"
    assert done.returncode == 0 and active.is_file(), (
        f"`workflow workspace set` failed ({done.returncode}):\n{done.stdout}\n{done.stderr}"
    )
    return WorkflowHome(home=home, workspace=active, baseurls=baseurls, env=env)
