"""`society users`: who may use a shared server, each with their own conversation."""

from __future__ import annotations

from typing import Annotated

import typer

app = typer.Typer(
    help="A shared server's users: each has their own conversation, memories and learning.", no_args_is_help=True
)


@app.command("add")
def users_add(name: Annotated[str, typer.Argument(help="Lowercase letters, digits or _ (e.g. alice).")]) -> None:
    """Add a user, or give one a new token; the token is shown this once."""
    from society.storage import users

    token = users.add(name)
    print(f"{name}: token {token}")
    print("  API: Authorization: Bearer TOKEN; the page: user name and the token as password")


@app.command("list")
def users_list() -> None:
    """The users (tokens are kept only as digests)."""
    from society.storage import users

    for name in users.names() or ["(none: the server is one person's; no login)"]:
        print(name)


@app.command("remove")
def users_remove(name: Annotated[str, typer.Argument(help="A user name.")]) -> None:
    """Take a user's token away; their conversation is kept."""
    from society.storage import users

    users.remove(name)
    print(f"{name}: removed; their conversation stays in users/{name}/")
