"""`sluice token create|ls|revoke` and `sluice audit`: tokens and the audit trail
(the token the CLI uses needs the `admin` scope)."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any, TypeVar

import click
from rich.markup import escape
from rich.table import Table

from sluice.admin import Admin
from sluice.cli.connect import connect, console, echo_json, join, json_flag, utc

SCOPES = ("read", "deposit", "work", "admin")

F = TypeVar("F", bound=Callable[..., Any])

SECRET_WARNING = (
    "This is the only time the token is shown: store it now (a password manager or a "
    "secret store). Sluice keeps only its hash."
)


@click.group()
def token() -> None:
    """API tokens: create, list, revoke (needs an admin token)."""


def grants(subject: str) -> Callable[[F], F]:
    """The `--scope` and `--pipeline` options of a command creating a `subject` (a
    token, a user) that acts with scopes within pipeline patterns."""

    def decorate(command: F) -> F:
        command = click.option(
            "--pipeline",
            "pipelines",
            multiple=True,
            metavar="PATTERN",
            help="Limit to pipelines matching this fnmatch pattern, e.g. 'frb-*' (repeat).",
        )(command)
        return click.option(
            "--scope",
            "scopes",
            multiple=True,
            required=True,
            type=click.Choice(SCOPES),
            help=f"What the {subject} may do (repeat); admin implies all.",
        )(command)

    return decorate


@token.command()
@click.argument("name")
@grants("token")
@click.option("--owner", help="Who answers for the token [default: the owner of yours].")
@click.option(
    "--expires-days", type=click.FloatRange(min=0, min_open=True), help="Days until it expires."
)
@json_flag
@click.pass_context
def create(
    ctx: click.Context,
    name: str,
    scopes: tuple[str, ...],
    pipelines: tuple[str, ...],
    owner: str | None,
    expires_days: float | None,
    as_json: bool,
) -> None:
    """Create the token NAME and print its secret, once."""
    created = connect(ctx, Admin).create_token(name, scopes, pipelines, owner, expires_days)
    click.echo(f"Warning: {SECRET_WARNING}", err=True)
    if as_json:
        echo_json(created)
        return
    click.echo(f"Created token {created['name']} (owner {created['owner']}, scopes "
               f"{join(created['scopes'])}). Send it as x-access-token or SLUICE_TOKEN:",
               err=True)  # fmt: skip
    click.echo(created["token"])


def _state(entry: dict[str, Any]) -> str:
    if entry.get("revoked") is not None:
        return f"revoked {utc(entry['revoked'])}"
    if entry.get("expires") is not None:
        return f"expires {utc(entry['expires'])}"
    return "active"


@token.command("ls")
@json_flag
@click.pass_context
def list_tokens(ctx: click.Context, as_json: bool) -> None:
    """List every token (never a secret), revoked ones included."""
    tokens = connect(ctx, Admin).tokens()
    if as_json:
        echo_json(tokens)
        return
    table = Table(title=f"{len(tokens)} tokens", title_justify="left")
    for column in ("name", "owner", "scopes", "pipelines", "created (UTC)", "state"):
        table.add_column(column, no_wrap=column in ("name", "created (UTC)"))
    for entry in tokens:
        table.add_row(
            entry["name"], entry["owner"], join(entry["scopes"]),
            escape(join(entry["pipelines"])) or "all", utc(entry["created"]), _state(entry),
        )  # fmt: skip
    console().print(table)


@token.command()
@click.argument("name")
@click.pass_context
def revoke(ctx: click.Context, name: str) -> None:
    """Revoke the token NAME (it stays listed, marked revoked)."""
    revoked = connect(ctx, Admin).revoke_token(name)
    click.echo(f"Token {revoked['name']} revoked ({utc(revoked['revoked'])} UTC).")


@click.command()
@click.option("--action", help="Only this action, e.g. results.delete or token.create.")
@click.option("--limit", type=click.IntRange(min=1), default=50, show_default=True)
@json_flag
@click.pass_context
def audit(ctx: click.Context, action: str | None, limit: int, as_json: bool) -> None:
    """Show the audit trail, newest first: who deleted, unlocked, stopped, changed tokens."""
    entries = connect(ctx, Admin).audit(action=action, limit=limit)
    if as_json:
        echo_json(entries)
        return
    table = Table(title=f"{len(entries)} audit entries", title_justify="left")
    for column in ("when (UTC)", "who", "action", "target", "details"):
        table.add_column(column, no_wrap=column != "details")
    for entry in entries:
        details = entry.get("details")
        table.add_row(
            utc(entry["at"]), entry["who"], entry["action"], entry["target"],
            "" if details is None else escape(json.dumps(details))[:200],
        )  # fmt: skip
    console().print(table)
