"""Dependency order and reference checks of a workfile (service.workfiles.definition),
on the parsed document: what is upstream of what, however the dependencies are listed."""

from __future__ import annotations

from typing import Any

import pytest

from schemas.workfiles import WorkflowFile
from service.workfiles.definition import InvalidWorkfile, order


def workflow(*operators: dict[str, Any]) -> WorkflowFile:
    return WorkflowFile.model_validate(
        {"name": "w", "pipeline": "p", "site": "s", "operators": list(operators)}
    )


def op(name: str, *depends_on: str, uses: str | None = None) -> dict[str, Any]:
    parameters = {"x": uses} if uses else {}
    return {"name": name, "function": "m.f", "depends_on": list(depends_on),
            "parameters": parameters}  # fmt: skip


def test_an_output_from_any_ancestor_may_be_used() -> None:
    chain = workflow(op("d", "c", uses="$a.out"), op("c", "b", "b", "b"), op("b", "a"), op("a"))
    assert [o.name for o in order(chain)] == ["a", "b", "c", "d"]
    # Listed many times, a dependency is one edge: a wide fan-in still orders and checks.
    fan = [op("root"), op("hub", *(["root"] * 5000))]
    fan += [op(f"leaf{i}", "hub", uses="$root.out") for i in range(300)]
    assert [o.name for o in order(workflow(*fan))][:2] == ["root", "hub"]


@pytest.mark.parametrize(
    "operators",
    [
        # A sibling, a descendant, itself, an unknown operator: none is upstream.
        [op("a"), op("b", "a"), op("c", "a", uses="$b.out")],
        [op("a", uses="$b.out"), op("b", "a")],
        [op("a", uses="$a.out")],
        [op("a", uses="$ghost.out")],
    ],
)
def test_an_output_from_an_operator_not_upstream_is_refused(
    operators: list[dict[str, Any]],
) -> None:
    with pytest.raises(InvalidWorkfile, match="which is not upstream of it"):
        order(workflow(*operators))
