"""The command of the task-token tests' extension action (run by a real `sluice worker`):
it calls Sluice with the token it was given and prints what it got, as one JSON line.

Arguments: a JSON file of `[method, path]` routes to try with the token, then the
seconds to wait before trying the token once more (past SLUICE_TASK_TOKEN_TTL).
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
import time
from pathlib import Path

import httpx


def main() -> None:
    routes, wait = json.loads(Path(sys.argv[1]).read_text()), float(sys.argv[2])
    mine, other = os.environ["EXP"], os.environ["OTHER"]
    token = os.environ.get("SLUICE_TOKEN", "")
    seen: dict[str, object] = {
        "url": os.environ.get("SLUICE_URL"),
        "token_sha256": hashlib.sha256(token.encode()).hexdigest(),
        "admin_token": "SLUICE_ADMIN_TOKEN" in os.environ,
    }
    if not token:
        print(json.dumps(seen))
        return
    with httpx.Client(
        base_url=os.environ["SLUICE_URL"], headers={"x-access-token": token}, timeout=30
    ) as http:
        seen["read"] = http.get(f"/experiments/{mine}").status_code
        seen["upload"] = http.put(f"/experiments/{mine}/files/out.txt", content=b"made").status_code
        seen["files"] = [f["name"] for f in http.get(f"/experiments/{mine}/files").json()]
        seen["download"] = http.get(f"/experiments/{mine}/files/out.txt").text
        seen["other"] = {
            "read": http.get(f"/experiments/{other}").status_code,
            "files": http.get(f"/experiments/{other}/files").status_code,
            "upload": http.put(f"/experiments/{other}/files/x.txt", content=b"x").status_code,
            "download": http.get(f"/experiments/{other}/files/in.txt").status_code,
        }
        walked: dict[str, int] = {}
        for method, path in routes:
            walked[f"{method} {path}"] = http.request(method, path, content=b"{}").status_code
        seen["walk"] = walked
        time.sleep(wait)
        seen["after_ttl"] = http.get(f"/experiments/{mine}").status_code
    print(json.dumps(seen))


if __name__ == "__main__":
    main()
