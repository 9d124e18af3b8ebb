"""`society ui`: the chat page and the API on one port."""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from society.commands import fail

app = typer.Typer()
LOOPBACK = ("127.0.0.1", "localhost", "::1")


def check_settings() -> None:
    """Read everything a turn will need, so a server with a broken setting refuses to start."""
    from importlib import import_module

    from society.config import load_entries
    from society.paths import SETTINGS_FILES
    from society.store import Store

    load_entries()
    for _, reader in SETTINGS_FILES.values():
        module, function = reader.split(":")
        getattr(import_module(module), function)()
    Store()


@app.command()
def ui(
    host: Annotated[str, typer.Option("--host", help="Address to bind; other than 127.0.0.1 needs a token.")] = (
        "127.0.0.1"
    ),
    port: Annotated[int, typer.Option("--port", min=1, max=65535)] = 8765,
    token: Annotated[
        str | None, typer.Option("--token", envvar="SOCIETY_API_TOKEN", help="API token clients must send.")
    ] = None,
) -> None:
    """Serve the chat page (/ui) and the API on one port: REST, WebSocket, OpenAI-compatible
    completions, monitoring, Prometheus metrics and the API docs (/docs)."""
    from society import users

    if host not in LOOPBACK and not token and not users.names():
        raise fail(
            f"binding {host} exposes the conversation; set --token (or SOCIETY_API_TOKEN), add users"
            " (society users add NAME), or use 127.0.0.1"
        )
    from society.paths import log_to_file
    from ui.api import create_app
    from ui.limits import serve

    check_settings()  # a broken file is one line now, not a 500 for every request later
    log_to_file()
    served = create_app(token=token, page=True)
    print(f"society: chat on http://{host}:{port}/ui, API docs at /docs", file=sys.stderr)
    serve(served, host, port)
