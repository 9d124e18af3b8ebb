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

    from society.models.config import load_entries
    from society.paths import SETTINGS_FILES
    from society.storage.store import Store

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
    workers: Annotated[
        int, typer.Option("--workers", min=1, max=64, help="Processes serving requests (a shared server).")
    ] = 1,
) -> None:
    """Serve the chat page (/ui) and the API on one port: REST, WebSocket, OpenAI-compatible
    completions, monitoring, Prometheus metrics and the API docs (/docs). With several
    workers, each user's turns stay one at a time across them (the conversation's turn
    lock), pages follow the database, and /metrics adds up every worker's figures."""
    from society.storage import users

    if host not in LOOPBACK and not token and not users.names():
        raise fail(
            f"binding {host} exposes the conversation; set --token (or SOCIETY_API_TOKEN), add users"
            " (society users add NAME), or use 127.0.0.1"
        )
    from society.paths import log_to_file
    from ui.limits import serve

    check_settings()  # a broken file is one line now, not a 500 for every request later
    log_to_file()
    print(f"society: chat on http://{host}:{port}/ui, API docs at /docs", file=sys.stderr)
    if workers == 1:
        from ui.api import create_app

        serve(create_app(token=token, page=True, exposed=host not in LOOPBACK), host, port)
        return
    import os
    import shutil
    import tempfile

    from ui import prepare_page
    from ui.hub import MULTIPROCESS_ENV

    prepare_page()  # once, for every worker: the page's files and its login's secret
    figures = tempfile.mkdtemp(prefix="society-metrics-")  # this server's figures, fresh at each start
    os.environ.update({MULTIPROCESS_ENV: figures, **({WORKER_TOKEN_ENV: token} if token else {})})
    os.environ[EXPOSED_ENV] = "1" if host not in LOOPBACK else ""
    try:
        serve("ui.commands:worker_app", host, port, workers)
    finally:
        shutil.rmtree(figures, ignore_errors=True)


WORKER_TOKEN_ENV = "SOCIETY_API_TOKEN"
EXPOSED_ENV = "SOCIETY_EXPOSED"  # set for the workers of a server bound beyond loopback


def worker_app():
    """The app of one worker of `society ui --workers N` (uvicorn calls this in each)."""
    import os

    from society.paths import log_to_file
    from ui.api import create_app

    log_to_file()
    return create_app(
        token=os.environ.get(WORKER_TOKEN_ENV) or None,
        page=True,
        page_prepared=True,
        exposed=bool(os.environ.get(EXPOSED_ENV)),
    )
