"""A pipeline-limited admin creates, lists and revokes only tokens within its own
patterns; reserved names are refused whoever asks."""

from __future__ import annotations

import uuid

import httpx
import pytest

from service.auth.principal import pattern_within
from service.testing import SluiceProcess
from tests.service.auth.helpers import create_token, token_header


@pytest.mark.parametrize(
    ("inner", "outer", "within"),
    [
        ("frb-*", "frb-*", True),
        ("frb-a", "frb-*", True),
        ("frb-a*", "frb-*", True),
        ("frb-[ab]", "frb-*", True),
        ("frb-a", "frb-?", True),
        ("frb-ab", "frb-?", False),
        ("frb-*", "frb-?", False),
        ("frb*", "frb-*", False),
        ("*", "frb-*", False),
        ("f[r]b-*", "frb-*", False),  # within in fact, but not provably by the rule
        ("other", "frb-*", False),
    ],
)
def test_pattern_within(inner: str, outer: str, within: bool) -> None:
    assert pattern_within(inner, outer) is within


def _token(name: str, pipelines: list[str]) -> dict[str, object]:
    return {"name": name, "scopes": ["admin"], "pipelines": pipelines}


def test_a_limited_admin_manages_tokens_within_its_patterns(
    secure: SluiceProcess, admin: httpx.Client
) -> None:
    tag = uuid.uuid4().hex[:8]
    mine = f"lab{tag}-*"
    create_token(secure.url, ["read"], [f"else{tag}"], name=f"else-{tag}")
    limited = create_token(secure.url, ["admin"], [mine], name=f"lab-admin-{tag}")
    with httpx.Client(base_url=secure.url, headers=token_header(limited), timeout=30) as lab:
        for pipelines in ([mine], [f"lab{tag}-one"], [f"lab{tag}-two*", f"lab{tag}-3"]):
            name = f"sub-{uuid.uuid4().hex[:8]}"
            answer = lab.post("/admin/tokens", json=_token(name, pipelines))
            assert answer.status_code == 200, answer.text
            assert answer.json()["pipelines"] == pipelines
        for pipelines in ([], ["*"], [f"lab{tag}*"], [mine, f"else{tag}"]):
            answer = lab.post("/admin/tokens", json=_token(f"no-{uuid.uuid4().hex[:8]}", pipelines))
            assert answer.status_code == 403, (pipelines, answer.text)
        listed = lab.get("/admin/tokens").json()
        assert {t["name"] for t in listed} >= {name, f"lab-admin-{tag}"}
        assert all(t["pipelines"] and t["pipelines"][0].startswith(f"lab{tag}-") for t in listed)
        assert lab.post(f"/admin/tokens/{name}/revoke").status_code == 200
        assert lab.post(f"/admin/tokens/else-{tag}/revoke").status_code == 403
        assert lab.post(f"/admin/tokens/missing-{tag}/revoke").status_code == 404
    everything = {t["name"]: t for t in admin.get("/admin/tokens").json()}
    assert everything[name]["revoked"] is not None
    assert everything[f"else-{tag}"]["revoked"] is None


@pytest.mark.parametrize(
    "name", ["SLUICE_ADMIN_TOKEN", "sluice_admin_token", "anonymous", "Anonymous", "SLUICE_X"]
)
def test_reserved_names_are_refused(admin: httpx.Client, name: str) -> None:
    answer = admin.post("/admin/tokens", json={"name": name, "scopes": ["read"]})
    assert answer.status_code == 422, answer.text
    assert "reserved" in answer.json()["error"]["message"]
    names = {token["name"].lower() for token in admin.get("/admin/tokens").json()}
    assert name.lower() not in names


def test_names_merely_like_reserved_ones_are_fine(admin: httpx.Client) -> None:
    name = f"sluice-worker-{uuid.uuid4().hex[:6]}"
    assert admin.post("/admin/tokens", json={"name": name, "scopes": ["read"]}).status_code == 200
