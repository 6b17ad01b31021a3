"""Configuration, read once from the environment.

Every knob Sluice has is a field of `Settings`; `Settings.from_env()` validates all of
them and raises `SettingsError` naming the variable at fault, so a bad deployment fails
at start, not at the first request.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import math
import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, fields
from typing import Any, TypeVar

T = TypeVar("T")


class SettingsError(ValueError):
    """An environment variable holds a value Sluice cannot use."""


@dataclass(frozen=True)
class Settings:
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
    #: Seconds one request's handler may take (0: no deadline beyond each database
    #: operation's); past it the request is cut off with a 503.
    request_timeout: float = 30.0
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
    #: Path under which the Alpine Chorus routes are served (`<prefix>/api/...`); "" is
    #: the root. The Alpine engine routes are always at `/alpinedatalabs/api/v1/json`.
    alpine_prefix: str = "/alpine"
    #: Seconds a login session (Alpine's `session_id`) stays valid; logout ends it sooner.
    session_ttl: float = 86400.0
    #: Path prefix of the Aqueduct-compatible surface (pyaqueduct's `API(url)` is
    #: `http://<host>:<port><prefix>`).
    aqueduct_prefix: str = "/aqueduct"
    #: Largest GraphQL request body (document and variables), in bytes (413 past it).
    aqueduct_max_body_bytes: int = 256 * 1024
    #: Deepest selection nesting of a GraphQL document (root fields are depth 1).
    aqueduct_max_depth: int = 6
    #: Most fields, fragment spreads and inline fragments in one GraphQL operation,
    #: counted with fragments expanded.
    aqueduct_max_fields: int = 200
    #: Whether the GraphQL schema answers introspection queries.
    aqueduct_introspection: bool = False
    #: Seconds `executeExtension` waits for its task inside the request; past it the
    #: answer is an error naming the task, which carries on. The GraphQL route is exempt
    #: from SLUICE_REQUEST_TIMEOUT: this wait and each operation's budget bound it.
    aqueduct_execute_wait: float = 20.0
    #: Path of the flowServ-compatible surface (the flowserv-core client's base URL is
    #: `http://<host>:<port><prefix>`; its default path is /flowserv/api/v1).
    flowserv_prefix: str = "/flowserv/api/v1"
    #: The surface's externally reachable base URL, reported by its service descriptor;
    #: empty: the URL the request came in on.
    flowserv_url: str = ""
    #: Whether anyone may register a user on the flowServ surface (`users/register`).
    flowserv_register: bool = False
    #: Seconds a password reset id (flowServ `users/password/request`) stays valid.
    password_reset_ttl: float = 3600.0
    #: Seconds a token issued by the flowServ `users/login` stays valid; logout ends it sooner.
    flowserv_token_ttl: float = 86400.0
    #: Require a token (`api_key`) on the flowServ download routes, which are otherwise
    #: capability URLs (the 0.9.4 client sends no token on downloads).
    flowserv_download_token: bool = False
    #: Largest file a leaderboard group may upload, in bytes (413 past it; nothing stored).
    leaderboard_max_upload_bytes: int = 256 * 1024 * 1024
    #: Path prefix of the AERO-compatible surface (the AERO client's `[aero] server` is
    #: `http://<host>:<port><prefix>/`); "/" serves it at the root.
    aero_prefix: str = "/osprey/api/v1.0"
    #: Largest page of an AERO listing (`per_page` / `limit` are clamped to it).
    aero_page_size_max: int = 100
    #: Most versions one AERO `GET /data/{id}/versions` answers (the oldest first).
    aero_versions_max: int = 1000
    #: Largest data version accepted by upload or run output, in bytes (413 past it).
    aero_max_version_bytes: int = 2 * 1024 * 1024 * 1024
    #: Hosts ingestion may fetch from, comma-separated: names or IP addresses, exact or
    #: `*.example.org` for subdomains; empty (the default) allows none.
    aero_ingest_hosts: str = ""
    #: Largest upstream body one ingestion downloads, in bytes (the fetch fails past it).
    aero_ingest_max_bytes: int = 256 * 1024 * 1024
    #: Seconds one ingestion fetch may take in all (connect, redirects, download).
    aero_ingest_timeout: float = 60.0
    #: Most redirects one ingestion follows (each target checked against the hosts).
    aero_ingest_max_redirects: int = 5
    #: Longest AERO search query, in characters (400 past it).
    aero_search_max_query_len: int = 1000
    #: Most terms in one AERO search query (400 past it).
    aero_search_max_terms: int = 50
    #: Answer the AERO client's token refresh at /aero-auth/v2/oauth2/token with the
    #: Sluice token it holds (never another credential).
    aero_auth_stub: bool = False
    #: Largest result file of a leaderboard run read for its ranking, in bytes (a larger
    #: one makes the run's result invalid).
    leaderboard_max_result_bytes: int = 1024 * 1024
    #: Most runs a leaderboard considers, the best by the order asked: bounds what one
    #: ranking request makes the database sort and group.
    leaderboard_max_ranked: int = 100_000
    #: Seconds between passes that follow leaderboard runs and queue post-processing;
    #: 0 disables them.
    leaderboard_interval: float = 1.0
    #: Seconds between passes of the flow scheduler (due TIMER and INGESTION slots) and
    #: of the pass following flow runs to their end; 0 disables both.
    aero_scheduler_tick: float = 5.0
    #: Seconds between runs of a TIMER or INGESTION flow registered without a timer.
    aero_default_timer: int = 86400
    #: Shortest timer a TIMER or INGESTION flow may have, in seconds (400 below it).
    aero_min_timer: int = 60
    #: Seconds one flow run's work may take (its queue timeout) unless the flow says.
    aero_run_timeout: int = 3600
    #: Retries of a flow run's work (attempts after the first) unless the flow says.
    aero_run_retries: int = 2
    #: Most flows one pass evaluates: dependants of one new version, due timer slots
    #: per scheduler pass, unfinished runs per pass.
    aero_max_dependants: int = 1000
    #: Most steps one lineage query walks (a larger `depth` is clamped to it).
    aero_lineage_max_depth: int = 20
    #: Most provenance records one lineage query answers (then `truncated`).
    aero_lineage_max_nodes: int = 1000

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
            "aqueduct_max_body_bytes",
            "aqueduct_max_depth",
            "aqueduct_max_fields",
            "leaderboard_max_upload_bytes",
            "aero_page_size_max",
            "aero_versions_max",
            "aero_max_version_bytes",
            "aero_ingest_max_bytes",
            "aero_search_max_query_len",
            "aero_search_max_terms",
            "leaderboard_max_result_bytes",
            "leaderboard_max_ranked",
            "aero_default_timer",
            "aero_min_timer",
            "aero_run_timeout",
            "aero_max_dependants",
            "aero_lineage_max_depth",
            "aero_lineage_max_nodes",
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
            "leaderboard_interval",
            "metrics_max_age",
            "aqueduct_execute_wait",
            "aero_ingest_max_redirects",
            "claim_batch",
            "claim_batch_seconds",
            "auth_cache_seconds",
            "aero_scheduler_tick",
            "aero_run_retries",
        ):
            if getattr(self, name) < 0:
                raise SettingsError(f"{env_name(name)} must not be negative")
        if self.aero_run_retries > 5 or self.aero_run_timeout > 259_200:
            raise SettingsError(
                "SLUICE_AERO_RUN_RETRIES must be at most 5 and SLUICE_AERO_RUN_TIMEOUT at most "
                "259200 (a work's limits)"
            )
        if self.task_token_ttl <= 0:
            raise SettingsError("SLUICE_TASK_TOKEN_TTL must be more than 0 seconds")
        if self.session_ttl <= 0:
            raise SettingsError("SLUICE_SESSION_TTL must be more than 0 seconds")
        if self.password_reset_ttl <= 0:
            raise SettingsError("SLUICE_PASSWORD_RESET_TTL must be more than 0 seconds")
        if self.flowserv_token_ttl <= 0:
            raise SettingsError("SLUICE_FLOWSERV_TOKEN_TTL must be more than 0 seconds")
        if self.alpine_prefix and not _URL_PREFIX.fullmatch(self.alpine_prefix):
            raise SettingsError(
                f"SLUICE_ALPINE_PREFIX={self.alpine_prefix!r} must be empty or a path such as "
                "/alpine (segments of letters, digits, '.', '_' or '-'; no trailing '/')"
            )
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
        if not _URL_PREFIX.fullmatch(self.aqueduct_prefix):
            raise SettingsError(
                f"SLUICE_AQUEDUCT_PREFIX={self.aqueduct_prefix!r} must be a path such as "
                "/aqueduct (segments of letters, digits, '.', '_' or '-'; no trailing '/')"
            )
        if not _URL_PREFIX.fullmatch(self.flowserv_prefix):
            raise SettingsError(
                f"SLUICE_FLOWSERV_PREFIX={self.flowserv_prefix!r} must be a path such as "
                "/flowserv/api/v1 (segments of letters, digits, '.', '_' or '-'; no trailing '/')"
            )
        if self.flowserv_url and not re.fullmatch(r"https?://[^\s/]+(/[^\s]*)?", self.flowserv_url):
            raise SettingsError(
                f"SLUICE_FLOWSERV_URL={self.flowserv_url!r} must be an http(s) URL or empty"
            )
        if self.aero_prefix != "/" and not _URL_PREFIX.fullmatch(self.aero_prefix):
            raise SettingsError(
                f"SLUICE_AERO_PREFIX={self.aero_prefix!r} must be / (the root) or a path such "
                "as /osprey/api/v1.0 (segments of letters, digits, '.', '_' or '-'; no "
                "trailing '/')"
            )
        if self.aero_ingest_timeout <= 0:
            raise SettingsError("SLUICE_AERO_INGEST_TIMEOUT must be more than 0 seconds")
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
    def aero_mount(self) -> str:
        """The AERO surface's mount path: "" for the root."""
        return self.aero_prefix.rstrip("/")

    @property
    def write_concern_value(self) -> str | int:
        """The write concern as the driver wants it."""
        return self.write_concern if self.write_concern == "majority" else int(self.write_concern)


#: A URL path prefix: one or more `/segment`s.
_URL_PREFIX = re.compile(r"(/[A-Za-z0-9._-]+)+")

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
