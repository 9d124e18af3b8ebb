"""`society run`, `history`, `status` and `chat`: the conversation from the terminal."""

from __future__ import annotations

import json
import sys
from typing import TYPE_CHECKING, Annotated

import typer

from society.commands import EXIT_FAILED, guard

if TYPE_CHECKING:
    pass

app = typer.Typer()


def _standard_input() -> str:
    from society.conversation import InputError

    try:
        return sys.stdin.buffer.read().decode("utf-8")
    except UnicodeDecodeError as err:
        raise InputError(f"standard input is not UTF-8 text (byte {err.start}); convert it to UTF-8") from None


@app.command()
def run(
    task: Annotated[str, typer.Argument(help="What to ask the team; - reads it from standard input.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
    think: Annotated[bool, typer.Option("--think", help="Reasoning mode: think, then answer.")] = False,
    approve: Annotated[
        bool, typer.Option("--approve", help="Allow tool actions whose policy is 'ask' (nobody is there to ask).")
    ] = False,
) -> None:
    """Run one headless turn of the conversation and print the answer."""
    import asyncio

    text = _standard_input() if task == "-" else task

    from society.assemble import ask
    from society.tools.approval import allow_all, refuse_all

    approver = allow_all if approve else refuse_all
    messages, conversation = guard(lambda: asyncio.run(ask(text, reasoning=think, approver=approver)))
    turn_id = messages[0].turn_id
    answer = next((m.content for m in reversed(messages) if m.role != "user" and m.is_text), "")
    if as_json:
        print(
            json.dumps(
                {
                    "turn_id": turn_id,
                    "status": conversation.store.turn_status(turn_id),
                    "answer": answer,
                    "messages": [m.to_dict() for m in messages],
                    "fallbacks": conversation.store.fallbacks(turn_id),
                },
                ensure_ascii=False,
            )
        )
    else:
        from rich.console import Console

        from society.chat import show

        console = Console()
        for message in messages[1:]:
            show(console, message)
    if not answer:
        raise typer.Exit(EXIT_FAILED)


@app.command()
def history(
    last: Annotated[int, typer.Option("--last", "-n", min=1, help="How many messages.")] = 20,
    as_json: Annotated[bool, typer.Option("--json", help="Print a JSON list.")] = False,
) -> None:
    """Show the newest messages of the conversation."""
    from society.storage.store import Store

    messages = Store().last_messages(last)
    if as_json:
        print(json.dumps([m.to_dict() for m in messages], ensure_ascii=False))
        return
    from rich.console import Console

    from society.chat import show

    console = Console()
    for message in messages:
        show(console, message)


@app.command()
def status(as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False) -> None:
    """The ladder and what is reachable, VRAM, CPU, RAM and the database."""
    from society import status as report
    from society.assemble import status as collect

    info = guard(collect)
    if as_json:
        print(json.dumps(info, ensure_ascii=False))
    else:
        report.render(info)


@app.command()
def chat() -> None:
    """Talk to the society in the terminal: /history, /status, /think, /quit."""
    import asyncio

    from society.chat import loop

    guard(lambda: asyncio.run(loop()))
