"""The steps of the tests' "Hello World" benchmark (imported by the worker's child)."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any


def greet(names: str, greeting: str, sleeptime: float = 0) -> dict[str, Any]:
    """Write `greeting name!` for each line of file `names` to results/greetings.txt."""
    time.sleep(float(sleeptime))
    lines = [f"{greeting} {name.strip()}!" for name in Path(names).read_text().splitlines()]
    out = Path("results/greetings.txt")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text("\n".join(lines) + "\n")
    return {"lines": len(lines)}


def analyze(extra: Any = None) -> dict[str, Any]:
    """Count characters of results/greetings.txt into results/analytics.json; `extra`
    is written into it as is (the tests break results with it), but `drop` leaves out
    `max_line`."""
    lines = Path("results/greetings.txt").read_text().splitlines()
    longest = max(lines, key=len)
    total = sum(len(line) for line in lines)
    doc: dict[str, Any] = {"avg_count": total / len(lines), "max_len": len(longest),
                           "max_line": longest, "total_count": total}  # fmt: skip
    if isinstance(extra, dict):
        if extra.pop("drop", False):
            del doc["max_line"]  # an optional column left out
        doc.update(extra)
    Path("results/analytics.json").write_text(json.dumps(doc))
    return {"total": total}


def compare(runs: str = "runs") -> dict[str, Any]:
    """Post-processing: list the ranked runs' analytics into results/compare.json."""
    index = json.loads(Path(runs, "index.json").read_text())
    rows = []
    for entry in index["runs"]:
        analytics = json.loads(Path(runs, entry["id"], "results/analytics.json").read_text())
        rows.append({"run": entry["id"], "group": entry["group"], "avg": analytics["avg_count"]})
    out = Path("results/compare.json")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(rows))
    return {"runs": len(rows)}
