"""The query parameters of the flowServ routes, parsed as its 0.9.4 client sends them
(`orderBy` is `service.leaderboards.ranking.parse_order`'s):

- `includeAll`: true iff its value is `true` in any case (the client sends `True` or
  `False`), or it is given bare;
- `state`: a run state, or `None` (the client sends it when unset), empty or absent
  for every state.
"""

from __future__ import annotations

from collections.abc import Mapping


def include_all(params: Mapping[str, str]) -> bool:
    """Whether `includeAll` asks for every run rather than the best per group."""
    if "includeAll" not in params:
        return False
    return params["includeAll"].strip().lower() in ("", "true")


def state(raw: str | None) -> str | None:
    """The run state to filter on (upper-cased; the run store refuses an unknown one),
    None for every state."""
    if raw is None or raw.strip() in ("", "None"):
        return None
    return raw.strip().upper()
