"""The unmodified flowserv-core 0.9.4 remote services, pointed at a running Sluice.

0.9.4 has no remote client factory: the services are built from a ServiceDescriptor,
as flowServ's own docs have it. The client reads its token from FLOWSERV_ACCESS_TOKEN on
every call, and `login_user` writes it into `os.environ`: `Flowserv` keeps that
variable to its `env` context (restored on exit), so no test leaks a token into another.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from flowserv.config import FLOWSERV_ACCESS_TOKEN
from flowserv.service.descriptor import ServiceDescriptor
from flowserv.service.files.remote import RemoteUploadFileService
from flowserv.service.group.remote import RemoteWorkflowGroupService
from flowserv.service.run.remote import RemoteRunService
from flowserv.service.user.remote import RemoteUserService
from flowserv.service.workflow.remote import RemoteWorkflowService

PREFIX = "/flowserv/api/v1"


def descriptor(url: str, prefix: str = PREFIX) -> ServiceDescriptor:
    """The descriptor the client builds from its FLOWSERV_API_* configuration."""
    parts = urlsplit(url)
    return ServiceDescriptor.from_config(
        env={
            "FLOWSERV_API_PROTOCOL": parts.scheme,
            "FLOWSERV_API_HOST": parts.hostname,
            "FLOWSERV_API_PORT": parts.port,
            "FLOWSERV_API_PATH": prefix,
        }
    )


@dataclass
class Flowserv:
    """The five remote services of one descriptor."""

    workflows: RemoteWorkflowService
    groups: RemoteWorkflowGroupService
    runs: RemoteRunService
    uploads: RemoteUploadFileService
    users: RemoteUserService

    @classmethod
    def of(cls, described: ServiceDescriptor) -> Flowserv:
        return cls(
            RemoteWorkflowService(described),
            RemoteWorkflowGroupService(described),
            RemoteRunService(described),
            RemoteUploadFileService(described),
            RemoteUserService(described),
        )

    @staticmethod
    def token() -> str | None:
        """The token the client sends now."""
        return os.environ.get(FLOWSERV_ACCESS_TOKEN)

    @staticmethod
    def use(token: str | None) -> None:
        """Send `token` from now on (None: no token)."""
        if token is None:
            os.environ.pop(FLOWSERV_ACCESS_TOKEN, None)
        else:
            os.environ[FLOWSERV_ACCESS_TOKEN] = token

    @contextmanager
    def sending(self, token: str | None) -> Iterator[Flowserv]:
        """The services, sending `token` inside the block (the previous one after)."""
        before = self.token()
        self.use(token)
        try:
            yield self
        finally:
            self.use(before)


@contextmanager
def isolated_token() -> Iterator[None]:
    """Whatever the client writes into FLOWSERV_ACCESS_TOKEN inside the block is
    undone after it."""
    before = os.environ.get(FLOWSERV_ACCESS_TOKEN)
    try:
        yield
    finally:
        Flowserv.use(before)


def status_of(error: Any) -> int:
    """The HTTP status of the client's `requests.HTTPError`."""
    return int(error.response.status_code)


def message_of(error: Any) -> str:
    """The `message` of the error body the client's `requests.HTTPError` carries."""
    return str(error.response.json()["message"])
