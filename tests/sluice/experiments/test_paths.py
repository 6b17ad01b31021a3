"""Ids and names the SDK puts in URL paths: one segment each, whatever they hold."""

from __future__ import annotations

import pytest

from sluice.core.plan import segment
from sluice.errors import BadRequest
from sluice.experiments import Experiments
from tests.service.experiments.lab import Lab


@pytest.mark.parametrize(
    ("value", "sent"),
    [("a/b", "a%2Fb"), ("..", "%2E%2E"), (".", "%2E"), ("...", "..."), ("a.b", "a.b"),
     ("é ?#", "%C3%A9%20%3F%23"), (7, "7")],
)  # fmt: skip
def test_a_value_is_one_segment(value: object, sent: str) -> None:
    assert segment(value) == sent


def test_a_dot_dot_tag_is_a_tag_not_the_experiment(lab: Lab) -> None:
    # An HTTP client resolves ".." in a path: DELETE .../tags/.. deleted the experiment.
    with Experiments(lab.url, timeout=60) as client:
        made = client.create("dot-dot")
        with pytest.raises(BadRequest, match="invalid tag"):
            client.remove_tag(made["eid"], "..")
        assert client.get(made["eid"])["eid"] == made["eid"]
