"""The README documents every setting and both commands."""

from __future__ import annotations

from dataclasses import fields
from pathlib import Path

import pytest

from service.settings import Settings, env_name

README = (Path(__file__).parent.parent / "README.md").read_text()


@pytest.mark.parametrize("name", [env_name(f.name) for f in fields(Settings)])
def test_every_setting_is_documented(name: str) -> None:
    assert f"`{name}`" in README


def test_the_two_commands_come_first() -> None:
    first_section = README.split("\n## ")[1]
    assert "make run" in first_section and "make test" in first_section
