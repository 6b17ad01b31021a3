"""Read README.md's fenced code blocks and the `<!-- readme: ... -->` marks before them.

The marking convention is documented in tests/test_readme.py, which runs the blocks.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

README_PATH = Path(__file__).parent.parent / "README.md"

_FENCE = re.compile(r"^(`{3,})\s*([\w+-]*)")
_MARK = re.compile(r"^<!--\s*readme:\s*(.*?)\s*-->\s*$")
_HEADING = re.compile(r"^(#{2,3})\s+(.*)$")
_WITH = re.compile(r"^run with `([^`]+)`$")
_AUTH = "run with auth"
#: Addresses the README shows: a public one (replaced by the test server's URL) and
#: loopback ones on port 8000 (whose host and port become the test server's).
_PUBLIC = re.compile(r"https://sluice\.example\.org")
_LOOPBACK = re.compile(r"\b(?:127\.0\.0\.1|localhost):8000\b")


class MarkError(ValueError):
    """A mark that is not one of the convention's."""


@dataclass(frozen=True)
class Block:
    """One fenced code block of the README."""

    line: int  # of the opening fence, 1-based
    section: str  # the `## ` heading it is under
    language: str  # the fence's info string: python, sh, console, yaml, ...
    text: str
    marks: tuple[str, ...] = field(default=())

    @property
    def where(self) -> str:
        return f"README.md:{self.line} ({self.section})"

    @property
    def action(self) -> str:
        """ "run", "file" or "skip"; MarkError if the block has no valid mark."""
        if len(self.marks) != 1:
            raise MarkError(
                f"{self.where}: a {self.language or 'plain'} block needs exactly one "
                f"<!-- readme: run | file NAME | skip: why --> mark, has {list(self.marks)}"
            )
        mark = self.marks[0]
        if mark in ("run", _AUTH) or _WITH.match(mark):
            if self.language not in ("python", "sh", "console"):
                raise MarkError(f"{self.where}: only python, sh and console blocks run")
            return "run"
        if re.fullmatch(r"file \S+", mark):
            return "file"
        if re.fullmatch(r"skip: \S.*", mark):
            return "skip"
        raise MarkError(f"{self.where}: unknown mark {mark!r}")

    @property
    def file_name(self) -> str:
        """The relative path a `file NAME` block is written to."""
        name = self.marks[0].removeprefix("file ")
        if name.startswith("/") or ".." in Path(name).parts:
            raise MarkError(f"{self.where}: a file mark names a relative path, got {name!r}")
        return name

    @property
    def auth(self) -> bool:
        """Whether the block runs against the server that requires tokens."""
        return self.marks == (_AUTH,)

    @property
    def meanwhile(self) -> str | None:
        """The command a `run with \\`CMD\\`` block has running in the background."""
        found = _WITH.match(self.marks[0]) if self.marks else None
        return found.group(1) if found else None

    def script(self, url: str) -> str:
        """The block as a program, its addresses pointing at `url` (an http:// URL).
        Console blocks: the `$ ` lines and their `\\` continuations; the other lines
        are sample output."""
        text = _LOOPBACK.sub(url.removeprefix("http://"), _PUBLIC.sub(url, self.text))
        if self.language != "console":
            return text
        commands: list[str] = []
        continued = False
        for line in text.splitlines():
            if continued or line.startswith("$ "):
                commands.append(line if continued else line[2:])
                continued = line.endswith("\\")
        return "\n".join(commands) + "\n"


def blocks(text: str | None = None) -> list[Block]:
    """Every fenced block of the README (or of `text`), in order."""
    lines = (README_PATH.read_text() if text is None else text).splitlines()
    found: list[Block] = []
    section = "(top)"
    marks: list[str] = []
    index = 0
    while index < len(lines):
        line = lines[index]
        heading = _HEADING.match(line)
        mark = _MARK.match(line)
        fence = _FENCE.match(line)
        if heading and heading.group(1) == "##":
            section = heading.group(2).strip()
        if mark:
            marks.append(mark.group(1))
        elif fence:
            end = index + 1
            while end < len(lines) and not lines[end].startswith(fence.group(1)):
                end += 1
            body = "\n".join(lines[index + 1 : end]) + "\n"
            found.append(Block(index + 1, section, fence.group(2), body, tuple(marks)))
            marks = []
            index = end
        elif line.strip():
            marks = []  # a mark only applies to the block right after it
        index += 1
    return found
