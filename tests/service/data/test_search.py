"""Search over versions (native `/aero/search` and the AERO `//data/search`): the
documented query syntax, literal treatment of regex and operator text, and 400s for
queries that do not parse or are too large."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from service.testing import SluiceProcess, SluiceStarter
from tests.service.data.conftest import commit, new_source

AERO = "/osprey/api/v1.0"


@pytest.fixture(scope="module")
def searched(start_module_sluice: SluiceStarter) -> Iterator[httpx.Client]:
    """A Sluice of its own holding: foo (2 versions, tags a, url), foobar (tag b),
    "Waste Water" (tag c, no url), dot.star (1 version), empty (no versions)."""
    server: SluiceProcess = start_module_sluice("aero-search")
    with httpx.Client(base_url=server.url, timeout=30) as client:
        foo = new_source(client, "foo", tags=["a"], url="https://data.example/foo.csv",
                         description="Weekly counts")  # fmt: skip
        commit(client, foo, b"foo 1")
        commit(client, foo, b"foo 2")
        commit(client, new_source(client, "foobar", tags=["b"]), b"foobar")
        water = new_source(client, "Waste Water", tags=["c"], description="site A")
        commit(client, water, b"water")
        commit(client, new_source(client, "dot.star", description="a .* b"), b"dots")
        new_source(client, "empty")
        yield client


def names(client: httpx.Client, query: str, **params: Any) -> list[tuple[str, int]]:
    answer = client.get("/aero/search", params={"q": query, **params})
    assert answer.status_code == 200, answer.text
    return sorted((item["data"]["name"], item["version"]) for item in answer.json()["items"])


def test_terms_fields_and_operators(searched: httpx.Client) -> None:
    c = searched
    assert names(c, "foo") == [("foo", 1), ("foo", 2)]
    assert names(c, "foo*") == [("foo", 1), ("foo", 2), ("foobar", 1)]
    assert names(c, "name:foo AND version:>=2") == [("foo", 2)]
    assert names(c, '"waste water"') == [("Waste Water", 1)]
    assert names(c, "WASTE") == [("Waste Water", 1)]
    assert names(c, "tags:(a OR b)") == [("foo", 1), ("foo", 2), ("foobar", 1)]
    assert names(c, "tags:(a OR b) -name:foobar") == [("foo", 1), ("foo", 2)]
    assert names(c, "-source:*") == [("Waste Water", 1), ("dot.star", 1), ("foobar", 1)]
    assert names(c, "source:*") == [("foo", 1), ("foo", 2)]
    assert names(c, "version:[2 TO *]") == [("foo", 2)]
    assert names(c, "version:{1 TO 3}") == [("foo", 2)]
    assert names(c, "NOT tags:a AND NOT tags:b") == [("Waste Water", 1), ("dot.star", 1)]
    assert names(c, "weekly OR site") == [("Waste Water", 1), ("foo", 1), ("foo", 2)]
    assert names(c, "foo", latest_only="true") == [("foo", 2)]
    assert names(c, "created:>=2000-01-01 AND name:foobar") == [("foobar", 1)]
    assert names(c, "created:<2000/01/01") == []
    assert names(c, "NOT NOT NOT -name:foobar") == [("foobar", 1)]
    # The last day there is: nothing yet, but no date arithmetic past it either.
    for last in ("9999-12-31", ">9999-12-31", "[9999-12-31 TO *]"):
        assert names(c, f"created:{last}") == [], last
    assert len(names(c, "created:<=9999-12-31")) == 5
    assert len(names(c, "")) == 5  # no query: every version


def test_regex_and_operator_text_is_literal(searched: httpx.Client) -> None:
    c = searched
    assert names(c, ".*") == [("dot.star", 1)]  # the description's literal ".*"
    assert names(c, '"a .* b"') == [("dot.star", 1)]
    assert names(c, "name:f.o") == []
    assert names(c, r"\$where") == []


@pytest.mark.parametrize(
    "query",
    [
        '{"$where": "sleep(1000)"}',
        "$where:1",
        "name:(foo",
        '"unterminated',
        "version:abc",
        "name:>=3",
        "unknown:field",
        "version:[1 2]",
        "*",
        "a" * 1001,
        " ".join(["t"] * 51),
        "(" * 20 + "x" + ")" * 20,
        # Prefixes nest as parentheses do (a chain of 200 failed in the database).
        "-" * 200 + "cases",
        "NOT " * 240 + "cases",
        "+" * 990 + "cases",
        "(" * 6 + "NOT " * 7 + "x" + ")" * 6,
    ],
)
def test_bad_queries_are_400(searched: httpx.Client, query: str) -> None:
    answer = searched.get("/aero/search", params={"q": query})
    assert answer.status_code == 400, answer.text
    assert answer.json()["error"]["code"] == "invalid_query"
    compat = searched.get(f"{AERO}//data/search", params={"query": query})
    assert compat.status_code == 400
    assert compat.json()["code"] == 400


def test_the_aero_answer_is_a_gsearchresult(searched: httpx.Client) -> None:
    answer = searched.get(f"{AERO}//data/search", params={"query": "name:foo", "limit": 1})
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["@datatype"] == "GSearchResult"
    assert body["total"] == 2 and body["count"] == 1 and body["has_next_page"] is True
    [hit] = body["gmeta"]
    content = hit["entries"][0]["content"]
    assert hit["subject"] == f"foo-{content['data_id']}.{content['version']}"
    assert content["version"] == 2  # newest first
    assert content["source"] == "https://data.example/foo.csv"
    assert content["tags"] == ["a"] and content["file_size"] == "5"
    assert len(content["created"]) == 10 and content["created"][4] == "/"
    second = searched.get(
        f"{AERO}/data/search", params={"query": "name:foo", "limit": 1, "offset": 1}
    ).json()
    assert second["gmeta"][0]["entries"][0]["content"]["version"] == 1
    assert second["has_next_page"] is False
    for bad in ({"limit": 0}, {"limit": 101}, {"offset": -1}, {"latest_only": "maybe"}):
        assert searched.get("/aero/search", params={"q": "foo", **bad}).status_code == 400


def test_a_changed_source_is_found_by_what_it_says_now(searched: httpx.Client) -> None:
    data_id = new_source(searched, "renamed later", tags=["old"])
    commit(searched, data_id, b"renamed 1")
    changed = searched.patch(
        f"/aero/data/{data_id}", json={"name": "Fresh Name", "tags": ["new"],
                                       "url": "https://data.example/fresh.csv"},
    )  # fmt: skip
    assert changed.status_code == 200, changed.text
    assert changed.json()["name"] == "Fresh Name" and changed.json()["tags"] == ["new"]
    assert names(searched, "tags:new") == [("Fresh Name", 1)]
    assert names(searched, "tags:old") == []
    assert names(searched, "fresh.csv") == [("Fresh Name", 1)]
    for bad in ({}, {"owner": "x"}, {"name": ""}, {"url": "ftp://x/y"}, {"tags": "a"}):
        assert searched.patch(f"/aero/data/{data_id}", json=bad).status_code == 400, bad
    assert searched.patch("/aero/data/nope", json={"name": "x"}).status_code == 404
