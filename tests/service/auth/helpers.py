"""What auth tests share: an auth-on Sluice environment and token creation over HTTP."""

from __future__ import annotations

import secrets
import uuid
from collections.abc import Sequence
from typing import Any

import httpx

#: The bootstrap secret (SLUICE_ADMIN_TOKEN) of every auth-on Sluice the tests start.
ADMIN_SECRET = "test-admin-" + secrets.token_urlsafe(24)


def secure_env(base: dict[str, str], **overrides: str) -> dict[str, str]:
    """`base` (the session's Sluice env) with auth required, the bootstrap secret and a
    database of its own."""
    return {
        **base,
        "SLUICE_DB_NAME": f"sluice_auth_{uuid.uuid4().hex[:8]}",
        "SLUICE_AUTH": "required",
        "SLUICE_ADMIN_TOKEN": ADMIN_SECRET,
        **overrides,
    }


def bearer(secret: str) -> dict[str, str]:
    """Headers sending `secret` as `Authorization: Bearer`."""
    return {"Authorization": f"Bearer {secret}"}


def token_header(secret: str) -> dict[str, str]:
    """Headers sending `secret` as the CHIME client does."""
    return {"x-access-token": secret}


def create_token(
    base_url: str,
    scopes: Sequence[str],
    pipelines: Sequence[str] = (),
    name: str | None = None,
    **fields: Any,
) -> str:
    """Create a token with the bootstrap secret; return its plaintext."""
    body = {
        "name": name or f"t-{uuid.uuid4().hex[:10]}",
        "scopes": list(scopes),
        "pipelines": list(pipelines),
        **fields,
    }
    answer = httpx.post(
        f"{base_url}/admin/tokens", json=body, headers=token_header(ADMIN_SECRET), timeout=30
    )
    assert answer.status_code == 200, answer.text
    secret: str = answer.json()["token"]
    return secret
