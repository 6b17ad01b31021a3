"""The peer of the worker benchmark: a Celery app on kombu's MongoDB transport with a
MongoDB result backend, and its no-op task (the work of bench/noop.py).

Configured as the peer is run in the benchmark: prefork pool, prefetch 1, late acks,
the broker polled every 0.05 s. The broker and backend URL (a MongoDB URL naming the
database) comes from SLUICE_BENCH_CELERY_URL; `celery -A bench.peer_app worker` imports
this module, so it imports nothing it does not need.
"""

from __future__ import annotations

import os
import time
from typing import Any

from celery import Celery

#: Environment variable holding the MongoDB URL (with the database) of broker and backend.
URL_VARIABLE = "SLUICE_BENCH_CELERY_URL"
#: Collection of the result backend.
RESULTS = "celery_taskmeta"
#: Seconds between two polls of the broker's collection by an idle worker.
POLLING = 0.05

_url = os.environ.get(URL_VARIABLE, "mongodb://127.0.0.1:27017/sluice_bench_peer")
_database = _url.rsplit("/", 1)[-1].split("?", 1)[0]

app = Celery("sluice-bench-peer", broker=_url, backend=_url)
app.conf.update(
    broker_transport_options={"polling_interval": POLLING},
    broker_connection_retry_on_startup=True,
    mongodb_backend_settings={"database": _database, "taskmeta_collection": RESULTS},
    worker_prefetch_multiplier=1,
    task_acks_late=True,
    task_serializer="json",
    result_serializer="json",
    accept_content=["json"],
    worker_hijack_root_logger=False,
)


def _noop(**parameters: Any) -> dict[str, Any]:
    """Do nothing; results are what was passed in, and when the task started."""
    return {"echo": parameters, "started": time.time()}


#: The task (registered under the name `bench.noop`).
noop: Any = app.task(name="bench.noop")(_noop)
