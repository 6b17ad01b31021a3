"""Reading documents for `sluice ... deposit` from a JSON or YAML file (or stdin)."""

from __future__ import annotations

from typing import IO, Any

import click
import yaml


def read_documents(stream: IO[str]) -> list[dict[str, Any]]:
    """The objects in `stream`: one object or a list of them, in JSON or YAML."""
    try:
        loaded = yaml.safe_load(stream)
    except yaml.YAMLError as exc:
        raise click.BadParameter(f"not valid JSON or YAML: {exc}") from None
    except UnicodeDecodeError as exc:
        raise click.BadParameter(f"not UTF-8 text: {exc}") from None
    documents = loaded if isinstance(loaded, list) else [loaded]
    if not documents or not all(isinstance(d, dict) for d in documents):
        raise click.BadParameter("expected an object or a list of objects")
    return documents


def pipeline_check(name: str, known: list[str]) -> None:
    """Fail with 'no such pipeline; known: ...' unless `name` is one of `known`."""
    if name not in known:
        listed = ", ".join(sorted(known)) or "none"
        raise click.ClickException(f"no such pipeline {name!r}; known: {listed}")
