"""Configuration, read once from the environment.

Every knob Sluice has is a field of `Settings`; `Settings.from_env()` validates all of
them and raises `SettingsError` naming the variable at fault, so a bad deployment fails
at start, not at the first request. The fields of the client-compatible surfaces and the
systems beside the native API (Alpine, Aqueduct, flowServ, leaderboards, AERO data and
flows) are declared in service/surface_settings.py, which `Settings` extends.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import math
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, fields
from typing import Any, TypeVar

from service.surface_settings import SurfaceSettings

T = TypeVar("T")


class SettingsError(ValueError):
    """An environment variable holds a value Sluice cannot use."""


@dataclass(frozen=True)
class Settings(SurfaceSettings):
    """Everything configurable, with its documented default.

    The environment variable of each field is `SLUICE_<FIELD>` (upper case), except
    `mongodb_uri`, which is `MONGODB_URI`.
    """

    #: MongoDB connection string; None means "start the embedded server" (launcher only).
    mongodb_uri: str | None = None
    #: Database holding every Sluice collection.
    db_name: str = "sluice"
    host: str = "127.0.0.1"
    port: int = 8000
    #: Write concern for every write: "majority" or a node count.
    write_concern: str = "majority"
    #: Milliseconds the driver waits for a reachable server before a request fails (503).
    server_selection_timeout_ms: int = 5000
    #: Milliseconds every database operation may take (the driver's timeoutMS: sent to the
    #: server as maxTimeMS and enforced on the socket); past it the request answers 503.
    operation_timeout_ms: int = 30_000
    #: Milliseconds a pooled database connection may sit unused before the driver drops it
    #: instead of reusing it (0: kept however long). Below the embedded server's idle
    #: timeout (300 s) and a typical load balancer's or NAT's: a connection they closed
    #: while it sat in the pool looks alive to the driver, and the next command on it
    #: fails.
    connection_max_idle_ms: int = 60_000
    #: Seconds one request's handler may take (0: no deadline beyond each database
    #: operation's); past it the request is cut off with a 503.
    request_timeout: float = 30.0
    #: Whole seconds (uvicorn's unit) a stopping Sluice (SIGTERM, Ctrl-C) lets the requests
    #: still open finish before it cuts them off; uvicorn would wait for them without end.
    #: Keep it below the supervisor's stop timeout (deploy/docker-compose.yml).
    shutdown_grace_seconds: int = 10
    #: Largest request body accepted, in bytes (413 past it).
    max_body_bytes: int = 16 * 1024 * 1024
    #: Deepest nesting of objects and arrays in a request body (400 past it); well below
    #: the BSON encoder's limit (about 1,000).
    max_json_depth: int = 100
    #: Most documents in one deposit, update or delete request (413 past it).
    max_batch: int = 1000
    #: Deepest nesting of objects and arrays in a query or projection (400 past it).
    max_query_depth: int = 12
    #: Most keys and values, counted together, in one query or projection (400 past it).
    max_query_nodes: int = 5000
    #: Longest regular expression a query may carry (400 past it).
    max_regex_length: int = 256
    #: Most backtracking one pattern may do from one position (see service.patterns).
    max_regex_cost: int = 4096
    #: Most documents one view may return, including `limit` 0 / null ("all").
    max_view_results: int = 10_000
    #: Serialise work claims inside each process (needed by the embedded server).
    serialize_claims: bool = False
    #: Candidates one sorted read yields for claims (service.buckets.claims); 0 claims
    #: with one sorted find_one_and_update each (a real MongoDB serves it from the index).
    claim_batch: int = 0
    #: Seconds a batch of claim candidates is used (longer only when its read took longer).
    claim_batch_seconds: float = 2.0
    #: Conditional updates that answer the changed document (lease heartbeats and
    #: releases, claims from candidate batches, leaderboard runs' start and end) as an
    #: update then a point read of that document (service.db.update_then_read), instead
    #: of one find_one_and_update, which the embedded database serves by scanning the
    #: collection.
    update_then_read: bool = False
    #: Seconds between sweeps for running works whose lease expired; 0 disables the reaper.
    reaper_interval: float = 5.0
    #: Refuse reports (`PUT /buckets/work`) without a lease token unless the caller is an
    #: admin: for deployments without CHIME clients, whose reports carry no token.
    require_lease: bool = False
    #: Seconds between moves of finished works from Buckets to Results; 0 disables the
    #: built-in mover (leaving it to a `workflow transfer` daemon).
    transfer_interval: float = 5.0
    #: Age in seconds past which the mover deletes a work instead of archiving it (the
    #: client's `workflow transfer --cutoff`, 7 days); 0 keeps old work.
    transfer_cutoff: int = 7 * 24 * 3600
    #: Seconds a failed work with retries left waits before it is queued again, doubled
    #: for each attempt it has made; 0 disables automatic retries (CHIME's audit-only way).
    retry_backoff: float = 10.0
    #: Longest wait, in seconds, before a failed work is queued again.
    retry_max_backoff: float = 3600.0
    #: Seconds after its last beat that a worker is no longer listed as live.
    worker_stale: float = 60.0
    #: Port of the embedded database started by `make run`.
    embedded_port: int = 27017
    #: Data directory of the embedded database started by `make run`.
    embedded_path: str = "./var/db"
    log_level: str = "info"
    #: "text" (one line per record) or "json" (one object per line).
    log_format: str = "text"
    #: Seconds a process reuses the gauges it read from the database for /metrics.
    metrics_max_age: float = 5.0
    #: Directory of extension manifests (*.yaml, *.yml, *.json), re-read on every request;
    #: empty means no extensions.
    extensions_dir: str = ""
    #: Largest experiment file accepted, in bytes (413 past it).
    max_file_bytes: int = 2 * 1024 * 1024 * 1024
    #: Seconds between passes that bring extension tasks up to date with their works
    #: and delete replaced experiment files; 0 disables them.
    task_interval: float = 2.0
    #: Characters of a task's stdout and of its stderr kept on the task (the tail).
    max_task_output: int = 65536
    #: Seconds the token handed to an extension task's command (actions declaring
    #: `token: true`) stays valid after the worker withdraws the task's work.
    task_token_ttl: float = 900.0
    #: Seconds a replaced experiment file stays readable for downloads already under way.
    file_grace: float = 600.0
    #: "required": every non-public route needs a token; "off": no token checked
    #: (refused on a non-loopback `host` unless `allow_insecure`).
    auth: str = "required"
    #: A deploy-time secret accepted as an admin token (to create the first tokens).
    admin_token: str | None = dataclasses.field(default=None, repr=False)
    #: Allow auth "off" on a non-loopback address.
    allow_insecure: bool = False
    #: Requests per second per token, per Sluice process (replica); 0 disables.
    rate_limit: float = 0.0
    #: Requests a token may send at once above the rate (the bucket's size).
    rate_burst: int = 100
    #: Seconds a process reuses a valid token's record instead of reading it again: how
    #: long a token revoked through another replica may still be accepted; 0 disables.
    auth_cache_seconds: float = 5.0
    #: Most token records one process caches (least recently used dropped).
    auth_cache_size: int = 10_000
    #: Failed authentications (unknown, revoked or expired secrets) per second allowed
    #: from one client address, per Sluice process; 0 disables the limit.
    auth_failure_rate: float = 1.0
    #: Failed authentications one client address may make at once above that rate.
    auth_failure_burst: int = 20
    #: Most audit entries one `GET /admin/audit` answers.
    max_audit_results: int = 1000
    #: Largest workfile accepted at upload, in bytes (413 past it).
    max_workfile_bytes: int = 1024 * 1024
    #: Deepest nesting of objects and arrays in a workfile (422 past it).
    max_workfile_depth: int = 32
    #: Most operators (steps) in one workfile (422 past it).
    max_workfile_steps: int = 1000
    #: Seconds between passes that advance unfinished workfile runs; 0 disables them.
    run_interval: float = 1.0
    #: Largest output file a workfile step may upload, in bytes (413 past it).
    max_step_file_bytes: int = 1024 * 1024 * 1024
    #: Seconds after its upload started that the file sweep deletes a stored file that
    #: nothing records (a step output its run never recorded, the chunks of an upload
    #: that never finished, an AERO blob no version holds); an upload must end within it.
    orphan_file_seconds: float = 86400.0
    #: Seconds between passes of the file sweep; 0 disables it.
    sweep_interval: float = 300.0
    #: Most files (and most abandoned uploads) one sweep pass examines per GridFS bucket.
    sweep_batch: int = 200

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        """Build settings from `environ` (default: `os.environ`); raise SettingsError."""
        env = os.environ if environ is None else environ
        values: dict[str, Any] = {}
        for field in fields(cls):
            name = env_name(field.name)
            raw = env.get(name)
            if raw is None or raw == "":
                continue
            parser = _PARSERS.get(field.name, _parser_for(field.default))
            try:
                values[field.name] = parser(raw)
            except ValueError as exc:
                raise SettingsError(f"{name}={raw!r}: {exc}") from None
        settings = cls(**values)
        settings.check()
        return settings

    def check(self) -> None:
        """Raise SettingsError if values are individually valid but unusable."""
        for name in (
            "max_body_bytes",
            "max_batch",
            "max_json_depth",
            "max_query_depth",
            "max_query_nodes",
            "max_regex_length",
            "max_regex_cost",
            "max_view_results",
            "server_selection_timeout_ms",
            "operation_timeout_ms",
            "rate_burst",
            "auth_failure_burst",
            "auth_cache_size",
            "max_audit_results",
            "max_file_bytes",
            "max_task_output",
            "max_workfile_bytes",
            "max_workfile_depth",
            "max_workfile_steps",
            "max_step_file_bytes",
            "worker_stale",
            "orphan_file_seconds",
            "sweep_batch",
            "shutdown_grace_seconds",
            *self.POSITIVE,
        ):
            if getattr(self, name) < 1:
                raise SettingsError(f"{env_name(name)} must be at least 1")
        for name in (
            "reaper_interval",
            "request_timeout",
            "transfer_interval",
            "transfer_cutoff",
            "retry_backoff",
            "retry_max_backoff",
            "rate_limit",
            "auth_failure_rate",
            "task_interval",
            "file_grace",
            "run_interval",
            "sweep_interval",
            "metrics_max_age",
            "claim_batch",
            "claim_batch_seconds",
            "auth_cache_seconds",
            "connection_max_idle_ms",
            *self.NON_NEGATIVE,
        ):
            if getattr(self, name) < 0:
                raise SettingsError(f"{env_name(name)} must not be negative")
        if self.task_token_ttl <= 0:
            raise SettingsError("SLUICE_TASK_TOKEN_TTL must be more than 0 seconds")
        if self.max_json_depth > MAX_JSON_DEPTH:
            raise SettingsError(
                f"SLUICE_MAX_JSON_DEPTH must be at most {MAX_JSON_DEPTH} "
                "(the BSON encoder fails near 1,000 levels)"
            )
        for name in ("port", "embedded_port"):
            if not 0 <= getattr(self, name) <= 65535:
                raise SettingsError(f"{env_name(name)} must be a TCP port (0-65535)")
        if not self.db_name or any(c in self.db_name for c in '/\\. "$'):
            raise SettingsError(f"SLUICE_DB_NAME={self.db_name!r} is not a valid database name")
        if self.write_concern != "majority" and not self.write_concern.isdigit():
            raise SettingsError("SLUICE_WRITE_CONCERN must be 'majority' or a node count")
        if self.log_level not in ("critical", "error", "warning", "info", "debug"):
            raise SettingsError("SLUICE_LOG_LEVEL must be one of critical/error/warning/info/debug")
        if self.log_format not in ("text", "json"):
            raise SettingsError("SLUICE_LOG_FORMAT must be 'text' or 'json'")
        for problem in self.surface_problems():
            raise SettingsError(problem)
        self._check_auth()

    def _check_auth(self) -> None:
        if self.auth not in ("required", "off"):
            raise SettingsError("SLUICE_AUTH must be 'required' or 'off'")
        if self.admin_token is not None and len(self.admin_token) < MIN_ADMIN_TOKEN:
            raise SettingsError(f"SLUICE_ADMIN_TOKEN must be at least {MIN_ADMIN_TOKEN} characters")
        if self.auth == "off" and not is_loopback(self.host) and not self.allow_insecure:
            raise SettingsError(
                f"SLUICE_AUTH=off on SLUICE_HOST={self.host!r} would let anyone on the network "
                "change everything; listen on 127.0.0.1, turn auth on, or set "
                "SLUICE_ALLOW_INSECURE=1"
            )

    @property
    def write_concern_value(self) -> str | int:
        """The write concern as the driver wants it."""
        return self.write_concern if self.write_concern == "majority" else int(self.write_concern)


#: SLUICE_CLAIM_BATCH when Sluice starts the embedded database and it is not set.
EMBEDDED_CLAIM_BATCH = 500

#: Highest SLUICE_MAX_JSON_DEPTH accepted, well below the BSON encoder's limit.
MAX_JSON_DEPTH = 500

#: Shortest SLUICE_ADMIN_TOKEN accepted: a guessable bootstrap secret defeats auth.
MIN_ADMIN_TOKEN = 16


def is_loopback(host: str) -> bool:
    """Whether `host` (an address or "localhost") is reachable only from this machine."""
    if host.strip().lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def env_name(field_name: str) -> str:
    """The environment variable that sets `field_name`."""
    return "MONGODB_URI" if field_name == "mongodb_uri" else f"SLUICE_{field_name.upper()}"


def _parse_bool(raw: str) -> bool:
    lowered = raw.strip().lower()
    if lowered in ("1", "true", "yes", "on"):
        return True
    if lowered in ("0", "false", "no", "off"):
        return False
    raise ValueError("expected one of 1/0, true/false, yes/no, on/off")


def _parse_int(raw: str) -> int:
    try:
        return int(raw.strip().replace("_", ""))
    except ValueError:
        raise ValueError("expected a whole number") from None


def _parse_float(raw: str) -> float:
    try:
        value = float(raw.strip())
    except ValueError:
        raise ValueError("expected a number") from None
    if not math.isfinite(value):
        raise ValueError("expected a finite number")
    return value


def _parse_lowercase(raw: str) -> str:
    return raw.strip().lower()


def _parser_for(default: object) -> Callable[[str], Any]:
    if isinstance(default, bool):
        return _parse_bool
    if isinstance(default, int):
        return _parse_int
    if isinstance(default, float):
        return _parse_float
    return str.strip


_PARSERS: dict[str, Callable[[str], Any]] = {
    "log_level": _parse_lowercase,
    "log_format": _parse_lowercase,
    "auth": _parse_lowercase,
}
