"""Files a work's command needs, downloaded into its own working directory first.

An extension task names, in its work's `SLUICE_STAGE_FILES` parameter, the experiment
files its `file` parameters refer to. Before the command starts, the worker downloads
each into a fresh directory that becomes the command's working directory, and the
parameter's variable holds the local path instead of the file's name. The directory
is removed once the work has ended.

Commands never see the worker's own credentials: `SLUICE_TOKEN` and
`SLUICE_ADMIN_TOKEN` are removed from their environment. A task whose action declares
`token: true` gets instead the SLUICE_TOKEN and SLUICE_URL the server minted for it at
withdraw (`take_grant`).
"""

from __future__ import annotations

import json
import shutil
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from schemas.experiments import GRANT_PARAMETER, STAGE_PARAMETER
from sluice.core.plan import Document
from sluice.errors import SluiceError
from sluice.experiments import Experiments

#: Environment variables of the worker that a command must not inherit.
SECRET_ENVIRONMENT = frozenset({"SLUICE_TOKEN", "SLUICE_ADMIN_TOKEN"})


class StagingError(Exception):
    """A file the work needs could not be downloaded."""


@dataclass
class Staged:
    """Where a work runs and what its variables become."""

    directory: Path | None = None
    #: Variable -> local path of its downloaded file.
    paths: dict[str, str] = field(default_factory=dict)
    #: Further variables of the command: what the server granted it (`take_grant`).
    variables: dict[str, str] = field(default_factory=dict)

    def cleanup(self) -> None:
        if self.directory is not None:
            shutil.rmtree(self.directory, ignore_errors=True)


def without_secrets(environ: Mapping[str, str]) -> dict[str, str]:
    """`environ` without the worker's credentials."""
    return {name: value for name, value in environ.items() if name not in SECRET_ENVIRONMENT}


def take_grant(work: Document) -> tuple[Document, dict[str, str]]:
    """`work` without the server's grant parameter (so it is never reported back), and
    the variables it grants the command (none if absent or malformed)."""
    parameters = work.get("parameters")
    if not isinstance(parameters, dict) or GRANT_PARAMETER not in parameters:
        return work, {}
    rest = {k: v for k, v in parameters.items() if k != GRANT_PARAMETER}
    try:
        decoded = json.loads(parameters[GRANT_PARAMETER])
    except (TypeError, ValueError):
        decoded = None
    granted = (
        {str(k): v for k, v in decoded.items() if isinstance(v, str)}
        if isinstance(decoded, dict)
        else {}
    )
    return {**work, "parameters": rest}, granted


def wanted(work: Mapping[str, Any]) -> dict[str, dict[str, str]]:
    """The files a work asks for: `{variable: {"experiment", "file"}}` (none if absent
    or malformed)."""
    parameters = work.get("parameters")
    raw = parameters.get(STAGE_PARAMETER) if isinstance(parameters, dict) else None
    if not isinstance(raw, str):
        return {}
    try:
        decoded = json.loads(raw)
    except ValueError:
        return {}
    if not isinstance(decoded, dict):
        return {}
    return {
        str(name): {"experiment": str(spec["experiment"]), "file": str(spec["file"])}
        for name, spec in decoded.items()
        if isinstance(spec, dict) and {"experiment", "file"} <= set(spec)
    }


def stage(work: Mapping[str, Any], experiments: Experiments | None) -> Staged:
    """Download the files `work` asks for into a fresh directory; StagingError if one
    cannot be (the directory is then removed). Nothing asked: nothing done."""
    files = wanted(work)
    if not files:
        return Staged()
    if experiments is None:
        raise StagingError("this worker cannot download experiment files")
    directory = Path(tempfile.mkdtemp(prefix="sluice-task-"))
    staged = Staged(directory)
    try:
        for variable, spec in files.items():
            local = experiments.download(spec["experiment"], spec["file"], directory)
            staged.paths[variable] = str(local)
    except (SluiceError, OSError) as exc:
        staged.cleanup()
        raise StagingError(f"cannot download {spec['file']!r}: {exc}") from exc
    return staged
