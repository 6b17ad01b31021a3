"""`python -m service` (what `make run` calls): serve Sluice, with the embedded
database when MONGODB_URI is unset. Ctrl-C stops Sluice, then the database; a database
left running by a Sluice that was killed is stopped at the next start."""

from __future__ import annotations

import dataclasses
import os
import signal
import sys
from collections.abc import Mapping
from pathlib import Path

import uvicorn
from uvicorn.config import LOGGING_CONFIG

from service.app import create_app
from service.embedded import EmbeddedDatabase, EmbeddedDatabaseError
from service.settings import (
    EMBEDDED_CLAIM_BATCH,
    Settings,
    SettingsError,
    env_name,
    is_loopback,
)

#: Printed when `make run` serves without authentication.
AUTH_OFF_WARNING = """\
sluice: ************************************************************************
sluice: WARNING: authentication is OFF ({why}), listening on {host}.
sluice: Anyone who can reach this port may read, change and delete everything.
sluice: Set SLUICE_AUTH=required and SLUICE_ADMIN_TOKEN=<secret> to require tokens.
sluice: ************************************************************************"""


def local_auth_default(settings: Settings, environ: Mapping[str, str]) -> Settings:
    """`settings` with auth off when SLUICE_AUTH is unset and Sluice listens on loopback:
    a developer's `make run` works without tokens unless asked otherwise."""
    if not environ.get("SLUICE_AUTH") and is_loopback(settings.host):
        return dataclasses.replace(settings, auth="off")
    return settings


def embedded_defaults(settings: Settings, environ: Mapping[str, str]) -> Settings:
    """`settings` for the embedded database: claims serialised, claim candidates
    batched (`EMBEDDED_CLAIM_BATCH`) and updates then reads, each unless its variable
    (SLUICE_SERIALIZE_CLAIMS, SLUICE_CLAIM_BATCH, SLUICE_UPDATE_THEN_READ) is set in
    `environ`; an empty one counts as unset, as in `Settings.from_env`."""

    def given(field: str) -> bool:
        return bool(environ.get(env_name(field)))

    # The embedded server collapses under contended claims unless they are serialised,
    # sorts every candidate of a claim in memory unless candidates are batched, and
    # scans the collection on every find_one_and_update.
    return dataclasses.replace(
        settings,
        serialize_claims=settings.serialize_claims if given("serialize_claims") else True,
        claim_batch=settings.claim_batch if given("claim_batch") else EMBEDDED_CLAIM_BATCH,
        update_then_read=settings.update_then_read if given("update_then_read") else True,
    )


def main() -> int:
    """Run the server in the foreground; return the exit code."""
    try:
        settings = Settings.from_env()
    except SettingsError as exc:
        print(f"sluice: configuration error: {exc}", file=sys.stderr)
        return 2
    settings = local_auth_default(settings, os.environ)
    if settings.auth == "off":
        why = "SLUICE_AUTH=off" if os.environ.get("SLUICE_AUTH") else "SLUICE_AUTH is unset"
        print(AUTH_OFF_WARNING.format(why=why, host=settings.host), file=sys.stderr)
    embedded: EmbeddedDatabase | None = None
    if not settings.mongodb_uri:
        data = Path(settings.embedded_path)
        embedded = EmbeddedDatabase(
            storage_path=str(data),
            port=settings.embedded_port,
            sync_on_commit=True,
            log_path=data.parent / "secantus.log",
        )
        try:
            leftover = embedded.stop_leftover()
            if leftover is not None:
                print(
                    f"sluice: stopped the embedded database left running on {data} "
                    f"(pid {leftover}) by an earlier Sluice",
                    file=sys.stderr,
                )
            uri = embedded.start()
        except EmbeddedDatabaseError as exc:
            print(f"sluice: {exc}", file=sys.stderr)
            return 1
        settings = dataclasses.replace(embedded_defaults(settings, os.environ), mongodb_uri=uri)
        print(f"sluice: embedded database on {uri} (data in {data})", file=sys.stderr)
    # uvicorn re-raises the signal that stopped it once it has shut down; let that be a
    # no-op here so the embedded database is still stopped in order below.
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: None)
    try:
        uvicorn.run(
            create_app(settings),
            host=settings.host,
            port=settings.port,
            log_level=settings.log_level,
            # Sluice logs each request itself (service.observe.requests), quietly for polls.
            access_log=False,
            # In JSON the app's logging (service.observe.logs) has set uvicorn's loggers
            # up already; uvicorn's own configuration would undo it (its lines in text).
            log_config=None if settings.log_format == "json" else LOGGING_CONFIG,
            # Without a bound, a request left open (a stream, a slow upload) would hold
            # the stop up until the supervisor kills the process.
            timeout_graceful_shutdown=settings.shutdown_grace_seconds,
            # X-Forwarded-For names the client only where a proxy is trusted to set it
            # (FORWARDED_ALLOW_IPS): uvicorn's default trusts it from 127.0.0.1, so any
            # local process could pose as many clients past the failure limit.
            proxy_headers="FORWARDED_ALLOW_IPS" in os.environ,
        )
    finally:
        if embedded is not None:
            embedded.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
