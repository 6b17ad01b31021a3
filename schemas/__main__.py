"""Write the JSON Schema of every wire document next to the models (`make schemas`)."""

from __future__ import annotations

import sys
from pathlib import Path

from schemas.jsonschema import SCHEMA_DIR, render_all


def main() -> int:
    """Regenerate `schemas/*.schema.json`; print what changed."""
    for name, text in render_all().items():
        path = SCHEMA_DIR / f"{name}.schema.json"
        if not path.exists() or path.read_text() != text:
            path.write_text(text)
            print(
                f"wrote {path.relative_to(Path.cwd()) if path.is_relative_to(Path.cwd()) else path}"
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
