"""README "First day": its script runs from the CLI alone against a Sluice started with
no setting at all (the mover and automatic retries on by default)."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from service.testing import SluiceStarter
from tests.readme import blocks
from tests.test_readme import argv, block_env, stop

#: Seconds the whole script may take: a retry waits 10-15 s, the mover up to 5 s.
SCRIPT_TIMEOUT = 240


def test_first_day_script_runs_with_the_defaults(mongo_uri: str, tmp_path: Path) -> None:
    [script] = [b for b in blocks() if b.section == "First day" and b.language == "sh"]
    # Only what `make run` itself sets: where the database is (and, for the embedded
    # one, serialised claims); auth off on loopback, as `make run` defaults.
    env = {"MONGODB_URI": mongo_uri, "SLUICE_AUTH": "off"}
    if not os.environ.get("MONGODB_URI"):
        env["SLUICE_SERIALIZE_CLAIMS"] = "1"  # what `make run` sets for the embedded one
    starter = SluiceStarter(env, tmp_path)
    try:
        server = starter("first-day")
        path = tmp_path / "first-day.sh"
        path.write_text(script.script(server.url))
        work = tmp_path / "work"
        work.mkdir()
        process = subprocess.Popen(
            argv(script, path), cwd=work, env=block_env(server.url, tmp_path),
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
        try:
            output, _ = process.communicate(timeout=SCRIPT_TIMEOUT)
        finally:
            stop(process)
    finally:
        starter.stop_all()
    text = output.decode()
    assert process.returncode == 0, text
    assert "12.5" in text  # the stored result's value, in its column
    assert "the command exited with code 3" in text  # the failure, shown with its error
    assert "STOPPED" in text
    assert "Stored 1 results in first-day" in text
