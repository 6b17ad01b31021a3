"""Work documents as pipelines deposit them."""

from __future__ import annotations

import copy
import time
import uuid
from typing import Any

#: The `config` the CHIME client sends by default.
CLIENT_CONFIG: dict[str, Any] = {
    "archive": {"results": True, "products": "copy", "plots": "copy", "logs": "move"},
    "metrics": False,
    "parent": None,
    "orgs": ["chimefrb"],
    "teams": None,
}


def new_id() -> str:
    return uuid.uuid4().hex[:24]


def work(pipeline: str, **fields: Any) -> dict[str, Any]:
    """A finished work document with every field the CHIME client sends."""
    document: dict[str, Any] = {
        "pipeline": pipeline,
        "site": "local",
        "user": "tester",
        "function": "pkg.mod.func",
        "parameters": {"a": 1},
        "command": None,
        "results": {"snr": 10.5},
        "products": ["spectra.h5"],
        "plots": ["waterfall.png"],
        "tags": ["tag-a"],
        "event": [9385707],
        "id": new_id(),
        "creation": time.time(),
        "start": time.time(),
        "stop": time.time(),
        "attempt": 1,
        "status": "success",
        "timeout": 3600,
        "retries": 2,
        "priority": 3,
        "config": copy.deepcopy(CLIENT_CONFIG),
        "notify": {"slack": {"channel_id": "C01", "member_ids": None}},
    }
    document.update(fields)
    return document
