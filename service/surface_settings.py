"""Settings of the client-compatible surfaces and the systems beside the native API.

The Alpine, Aqueduct, flowServ and AERO surfaces, leaderboards and AERO data and flows
each have their knobs here. `SurfaceSettings` is not read on its own: it is the part of
`service.settings.Settings` these systems own, so there is still one settings object,
read once from the environment by `Settings.from_env()`, which also checks these values
(their bounds, and `surface_problems`).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import ClassVar

#: A URL path prefix: one or more `/segment`s.
URL_PREFIX = re.compile(r"(/[A-Za-z0-9._-]+)+")
#: The longest SLUICE_AERO_MAX_TIMER may be: a flow's next slot stays a date.
MAX_TIMER = 3_155_760_000


@dataclass(frozen=True)
class SurfaceSettings:
    """The surfaces' and sidecar systems' settings, with their documented defaults.

    Each field's environment variable is `SLUICE_<FIELD>` (upper case), as for every
    field of `Settings`.
    """

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
    #: Longest timer such a flow may have, in seconds (400 past it): a year.
    aero_max_timer: int = 31_622_400
    #: Seconds one flow run's work may take (its queue timeout) unless the flow says.
    aero_run_timeout: int = 3600
    #: Retries of a flow run's work (attempts after the first) unless the flow says.
    aero_run_retries: int = 2
    #: Most flows one pass evaluates: dependants of one new version, due timer slots
    #: per scheduler pass, unfinished runs per pass.
    aero_max_dependants: int = 1000
    #: Most tasks (kwargs objects, one work each per run) one flow may have (400 past it).
    aero_max_tasks: int = 100
    #: Most steps one lineage query walks (a larger `depth` is clamped to it).
    aero_lineage_max_depth: int = 20
    #: Most provenance records one lineage query answers (then `truncated`).
    aero_lineage_max_nodes: int = 1000

    #: Fields that must be at least 1 (checked by `Settings.check`).
    POSITIVE: ClassVar[tuple[str, ...]] = (
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
        "aero_max_timer",
        "aero_run_timeout",
        "aero_max_dependants",
        "aero_max_tasks",
        "aero_lineage_max_depth",
        "aero_lineage_max_nodes",
    )
    #: Fields that must not be negative (checked by `Settings.check`).
    NON_NEGATIVE: ClassVar[tuple[str, ...]] = (
        "leaderboard_interval",
        "aqueduct_execute_wait",
        "aero_ingest_max_redirects",
        "aero_scheduler_tick",
        "aero_run_retries",
    )

    def surface_problems(self) -> Iterator[str]:
        """Why these values are unusable, each reason naming its variable (none: usable)."""
        if self.aero_run_retries > 5 or self.aero_run_timeout > 259_200:
            yield (
                "SLUICE_AERO_RUN_RETRIES must be at most 5 and SLUICE_AERO_RUN_TIMEOUT at most "
                "259200 (a work's limits)"
            )
        if not self.aero_min_timer <= self.aero_default_timer <= self.aero_max_timer:
            yield (
                "SLUICE_AERO_DEFAULT_TIMER must be within SLUICE_AERO_MIN_TIMER and "
                "SLUICE_AERO_MAX_TIMER"
            )
        if self.aero_max_timer > MAX_TIMER:
            yield f"SLUICE_AERO_MAX_TIMER must be at most {MAX_TIMER} seconds (a century)"
        for name in ("session_ttl", "password_reset_ttl", "flowserv_token_ttl"):
            if getattr(self, name) <= 0:
                yield f"SLUICE_{name.upper()} must be more than 0 seconds"
        if self.alpine_prefix and not URL_PREFIX.fullmatch(self.alpine_prefix):
            yield (
                f"SLUICE_ALPINE_PREFIX={self.alpine_prefix!r} must be empty or a path such as "
                "/alpine (segments of letters, digits, '.', '_' or '-'; no trailing '/')"
            )
        if not URL_PREFIX.fullmatch(self.aqueduct_prefix):
            yield (
                f"SLUICE_AQUEDUCT_PREFIX={self.aqueduct_prefix!r} must be a path such as "
                "/aqueduct (segments of letters, digits, '.', '_' or '-'; no trailing '/')"
            )
        if not URL_PREFIX.fullmatch(self.flowserv_prefix):
            yield (
                f"SLUICE_FLOWSERV_PREFIX={self.flowserv_prefix!r} must be a path such as "
                "/flowserv/api/v1 (segments of letters, digits, '.', '_' or '-'; no trailing '/')"
            )
        if self.flowserv_url and not re.fullmatch(r"https?://[^\s/]+(/[^\s]*)?", self.flowserv_url):
            yield f"SLUICE_FLOWSERV_URL={self.flowserv_url!r} must be an http(s) URL or empty"
        if self.aero_prefix != "/" and not URL_PREFIX.fullmatch(self.aero_prefix):
            yield (
                f"SLUICE_AERO_PREFIX={self.aero_prefix!r} must be / (the root) or a path such "
                "as /osprey/api/v1.0 (segments of letters, digits, '.', '_' or '-'; no "
                "trailing '/')"
            )
        if self.aero_ingest_timeout <= 0:
            yield "SLUICE_AERO_INGEST_TIMEOUT must be more than 0 seconds"

    @property
    def aero_mount(self) -> str:
        """The AERO surface's mount path: "" for the root."""
        return self.aero_prefix.rstrip("/")
