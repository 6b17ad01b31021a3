"""The README is executed: its examples run against a real Sluice, so a README that
stops working fails the suite. It also documents every setting and both commands.

Marking convention. Every fenced code block in README.md carries exactly one mark, an
HTML comment on the line(s) right before its opening fence (invisible on GitHub):

    <!-- readme: run -->                  run it (python, sh or console blocks)
    <!-- readme: run with `CMD` -->       run it while CMD runs in the background
                                          (e.g. `sluice worker demo --site local`)
    <!-- readme: run with auth -->        run it against a server that requires tokens
    <!-- readme: file NAME -->            write it to NAME (relative) for later blocks
    <!-- readme: skip: REASON -->         not run; REASON says why (say where it is tested)

A block without a mark fails `test_every_block_is_marked`, so a new example is either
run or explicitly excused. Runnable examples are fenced, never indented.

How blocks run. Each `## ` section gets its own working directory and its own HOME;
its blocks run in README order, and a `file` block is there for every block after it in
the README (a section's directory starts with the files of the sections above). A
`python` block runs as a script with the venv's Python, an `sh` block with
`bash -eu -o pipefail`, and a `console` block runs its `$ ` lines (with their `\\`
continuations) as one such script; its other lines are sample output, not compared.
Every block must exit 0 within BLOCK_TIMEOUT seconds; background jobs (`... &`) and the
`run with` command are killed when the block ends.

The server. The addresses the README shows are the test server's: `127.0.0.1:8000` and
`localhost:8000` become its host and port, `https://sluice.example.org` its URL. It runs
with auth off, as `make run` does (`run with auth` blocks get a second server, with
SLUICE_AUTH=required and SLUICE_ADMIN_TOKEN), and SLUICE_EXTENSIONS_DIR is `extensions/`
in the section's directory. The blocks' environment has SLUICE_URL (the server),
SLUICE_ADMIN_TOKEN (a secret) and the venv's bin first on PATH (`sluice`, `workflow`).
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
from dataclasses import fields
from pathlib import Path

import pytest

from service.settings import Settings, env_name
from service.testing import SluiceProcess, SluiceStarter
from tests.readme import README_PATH, Block, MarkError, blocks

README = README_PATH.read_text()
BLOCKS = blocks()
#: Seconds a block (or its background command) may take before it counts as failed.
BLOCK_TIMEOUT = 300


def runs(block: Block) -> bool:
    try:
        return block.action == "run"
    except MarkError:
        return False  # test_every_block_is_marked names it


SECTIONS = list(dict.fromkeys(block.section for block in BLOCKS if runs(block)))
ADMIN_SECRET = "readme-admin-secret-0123456789"


@pytest.mark.parametrize("name", [env_name(f.name) for f in fields(Settings)])
def test_every_setting_is_documented(name: str) -> None:
    assert f"`{name}`" in README


def test_the_two_commands_come_first() -> None:
    first_section = README.split("\n## ")[1]
    assert "make run" in first_section and "make test" in first_section


def test_every_block_is_marked() -> None:
    problems = []
    for block in BLOCKS:
        try:
            if block.action == "file":
                block.file_name  # noqa: B018 (validates the name)
        except MarkError as exc:
            problems.append(str(exc))
    assert not problems, "\n".join(problems)


def test_no_indented_code_blocks() -> None:
    # An indented block would escape the marks: fence it instead.
    lines, inside, previous, indented = README.splitlines(), False, "", []
    for number, line in enumerate(lines, 1):
        if line.startswith("```"):
            inside = not inside
        elif not inside and line.startswith("    ") and not previous.strip():
            indented.append(number)
        previous = line
    assert not indented, f"README.md lines {indented}: fence these code blocks"


def test_the_convention_is_pointed_at() -> None:
    assert "tests/test_readme.py" in README.split("\n## ")[0]


@pytest.fixture(scope="module")
def readme_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("readme")


@pytest.fixture(scope="module")
def readme_sluice(start_module_sluice: SluiceStarter, readme_root: Path) -> SluiceProcess:
    """The server every example talks to: auth off, as `make run` serves it."""
    extensions = readme_root / "extensions"
    extensions.mkdir()
    return start_module_sluice(
        "readme",
        SLUICE_EXTENSIONS_DIR=str(extensions),
        SLUICE_TRANSFER_INTERVAL="0.5",
        SLUICE_TASK_INTERVAL="0.3",
        SLUICE_RUN_INTERVAL="0.3",
        # The flows example ingests from its own HTTP server on loopback.
        SLUICE_AERO_INGEST_HOSTS="127.0.0.1",
        SLUICE_AERO_SCHEDULER_TICK="0.3",
    )


@pytest.fixture(scope="module")
def readme_secure_sluice(start_module_sluice: SluiceStarter) -> SluiceProcess:
    """The server of `run with auth` blocks: tokens required, ADMIN_SECRET the admin's."""
    return start_module_sluice(
        "readme-auth", SLUICE_AUTH="required", SLUICE_ADMIN_TOKEN=ADMIN_SECRET
    )


def block_env(url: str, home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SLUICE_", "MONGODB_"))}
    bin_dir = str(Path(sys.executable).parent)
    env.update(
        PATH=f"{bin_dir}{os.pathsep}{env.get('PATH', '')}",
        HOME=str(home),
        SLUICE_URL=url,
        SLUICE_ADMIN_TOKEN=ADMIN_SECRET,
        PYTHONUNBUFFERED="1",
        NO_PROXY="127.0.0.1,localhost",
        no_proxy="127.0.0.1,localhost",
    )
    return env


def argv(block: Block, path: Path) -> list[str]:
    if block.language == "python":
        return [sys.executable, str(path)]
    # Background jobs die with the block, whatever happens in it.
    script = "trap 'code=$?; kill $(jobs -p) 2>/dev/null || true; exit \"$code\"' EXIT\n"
    return ["bash", "-c", f'{script}set -eu -o pipefail\n. "{path}"']


def stop(process: subprocess.Popen[bytes]) -> None:
    """End `process` and whatever it left running in its process group."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(10)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait()


def run_block(block: Block, workdir: Path, env: dict[str, str], url: str) -> None:
    suffix = ".py" if block.language == "python" else ".sh"
    path = workdir.parent / f"{workdir.name}-line{block.line}{suffix}"
    path.write_text(block.script(url))
    log = path.with_suffix(".log")
    background = None
    with log.open("wb") as output:
        if block.meanwhile:
            background = subprocess.Popen(
                ["bash", "-c", block.meanwhile], cwd=workdir, env=env,
                stdout=output, stderr=output, start_new_session=True,
            )  # fmt: skip
        process = subprocess.Popen(
            argv(block, path), cwd=workdir, env=env, stdin=subprocess.DEVNULL,
            stdout=output, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
        try:
            code = process.wait(BLOCK_TIMEOUT)
        except subprocess.TimeoutExpired:
            code = None
        finally:
            stop(process)
            if background is not None:
                stop(background)
    if code != 0:
        outcome = f"exit code {code}" if code is not None else f"no end in {BLOCK_TIMEOUT}s"
        pytest.fail(f"{block.where}: {outcome}\n--- script\n{path.read_text()}"
                    f"--- output\n{log.read_text(errors='replace')[-6000:]}")  # fmt: skip


@pytest.mark.slow
@pytest.mark.parametrize("section", SECTIONS)
def test_section_examples_run(
    section: str, readme_sluice: SluiceProcess, readme_root: Path, request: pytest.FixtureRequest
) -> None:
    slug = "".join(c if c.isalnum() else "-" for c in section.lower())
    workdir = readme_root / slug
    (workdir / "home").mkdir(parents=True)
    # The extensions directory of the server is this section's extensions/.
    extensions = readme_root / "extensions"
    for stale in extensions.iterdir():
        stale.unlink()
    (workdir / "extensions").symlink_to(extensions)
    env = block_env(readme_sluice.url, workdir / "home")
    first = next(index for index, block in enumerate(BLOCKS) if block.section == section)
    for index, block in enumerate(BLOCKS):
        if index < first or block.section == section:
            if block.action == "file":
                target = workdir / block.file_name
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_text(block.script(readme_sluice.url))
            elif block.action == "run" and block.section == section:
                server = readme_sluice
                if block.auth:
                    server = request.getfixturevalue("readme_secure_sluice")
                run_block(block, workdir, {**env, "SLUICE_URL": server.url}, server.url)


def test_marks_and_console_scripts_are_read() -> None:
    text = (
        "## One\n<!-- readme: run -->\n```console\n$ echo a \\\n  b\nsample output\n"
        "$ curl localhost:8000/x https://sluice.example.org/y\n```\ntext\n"
        "<!-- readme: file a.yaml -->\n\n```yaml\nk: v\n```\n"
        "## Two\n<!-- readme: run -->\nprose in between\n```sh\nls\n```\n"
    )
    first, second, third = blocks(text)
    assert (first.section, first.action, second.file_name) == ("One", "run", "a.yaml")
    assert first.script("http://h:1") == "echo a \\\n  b\ncurl h:1/x http://h:1/y\n"
    with pytest.raises(MarkError, match="exactly one"):
        third.action  # noqa: B018 (the mark before the prose does not reach the block)
