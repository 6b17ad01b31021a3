"""What every route must answer a token limited to pipeline A about pipeline B's objects.

`CASES` (merged from one module per surface) maps each route of the route table, as
`(METHOD, full path template)`, to a `Case`: the requests to send (built from the `World`
of pipeline_world.py, whose objects all belong to pipeline B) and what may come back.
test_pipeline_walk sends them with a pipeline-A token of each scope and FAILS for any
route without a case here.

Adding a route? Add its case to its surface's module (a new surface: a new module,
merged below; HEAD is covered by the route's GET):

- `forbidden(call, ...)`: every call must answer 403 (for a route that reads or changes
  an object of B named in the request).
- `hidden(check, call, ...)`: 403, or 200 with `check(world, body)` true: B's objects
  are absent from the answer (listings, counts, status pages).
- `public()`: a public route (no token, reads no pipeline's objects).
- `shared(reason, call, ...)`: a route whose objects belong to no pipeline (experiments
  are shared lab records); it must still answer below 500. Say why in `reason`.

A call is `call(path, **httpx request arguments)`; `path` and the arguments may be
functions of the world, e.g. `call(lambda w: f"/tasks/{w.task}")`. If a route needs a
new kind of object, make it in `pipeline_world.build` and check it in `snapshot`.
"""

from __future__ import annotations

from tests.service.auth.pipeline_cases import (
    aero_data,
    aero_flows,
    alpine,
    aqueduct,
    flowserv,
    groups,
    leaderboards,
    native,
)
from tests.service.auth.pipeline_cases.cases import Case

__all__ = ["CASES", "Case"]


def _merge(*surfaces: dict[tuple[str, str], Case]) -> dict[tuple[str, str], Case]:
    merged: dict[tuple[str, str], Case] = {}
    for surface in surfaces:
        twice = merged.keys() & surface.keys()
        assert not twice, f"routes with two cases: {sorted(twice)}"
        merged.update(surface)
    return merged


CASES = _merge(
    native.CASES,
    alpine.CASES,
    aqueduct.CASES,
    flowserv.CASES,
    aero_data.CASES,
    leaderboards.CASES,
    aero_flows.CASES,
    groups.CASES,
)
