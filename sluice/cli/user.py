"""`sluice user create|ls|rm`: people who log in with a password, such as Alpine client
users (the token the CLI uses needs the `admin` scope)."""

from __future__ import annotations

import sys

import click
from rich.markup import escape
from rich.table import Table

from sluice.admin import Admin
from sluice.cli.connect import connect, console, echo_json, join, json_flag, utc
from sluice.cli.token import grants


@click.group()
def user() -> None:
    """Users who log in with a password: create, list, delete (needs an admin token)."""


@user.command()
@click.argument("username")
@grants("user")
@click.option(
    "--password-stdin",
    is_flag=True,
    help="Read the password from the first line of stdin instead of prompting.",
)
@json_flag
@click.pass_context
def create(
    ctx: click.Context,
    username: str,
    scopes: tuple[str, ...],
    pipelines: tuple[str, ...],
    password_stdin: bool,
    as_json: bool,
) -> None:
    """Create the user USERNAME; the password is prompted for (never an argument)."""
    if password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = click.prompt("Password", hide_input=True, confirmation_prompt=True)
    created = connect(ctx, Admin).create_user(username, password, scopes, pipelines)
    if as_json:
        echo_json(created)
        return
    click.echo(f"Created user {created['username']} (scopes {join(created['scopes'])}).")


@user.command("ls")
@json_flag
@click.pass_context
def list_users(ctx: click.Context, as_json: bool) -> None:
    """List every user."""
    users = connect(ctx, Admin).users()
    if as_json:
        echo_json(users)
        return
    table = Table(title=f"{len(users)} users", title_justify="left")
    for column in ("username", "scopes", "pipelines", "created (UTC)", "created by"):
        table.add_column(column, no_wrap=column in ("username", "created (UTC)"))
    for entry in users:
        table.add_row(
            entry["username"], join(entry["scopes"]), escape(join(entry["pipelines"])) or "all",
            utc(entry["created"]), entry["created_by"],
        )  # fmt: skip
    console().print(table)


@user.command("rm")
@click.argument("username")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@click.pass_context
def remove(ctx: click.Context, username: str, yes: bool) -> None:
    """Delete the user USERNAME and end its login sessions."""
    if not yes:
        click.confirm(f"Delete user {username} and end its sessions?", abort=True)
    connect(ctx, Admin).delete_user(username)
    click.echo(f"User {username} deleted.")
