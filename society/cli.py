"""The `society` command. Heavy libraries load inside the commands, never at import, so
`society --help` answers at once."""

from __future__ import annotations

import json
import sys
from typing import TYPE_CHECKING, Annotated

import typer

if TYPE_CHECKING:
    from society.store import Message

app = typer.Typer(
    help="A self-learning local agent society: one never-ending conversation.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

EXIT_USAGE = 2
EXIT_FAILED = 1


def fail(message: str, code: int = EXIT_USAGE) -> typer.Exit:
    """Print one line naming what to fix and return the exit to raise."""
    print(f"society: error: {message}", file=sys.stderr)
    return typer.Exit(code)


def _guard(fn):
    """Turn the errors a user can fix into one line each; library logs go to a file."""
    from society.config import ConfigError
    from society.conversation import InputError, TurnFailed
    from society.gate import NoModelAvailable
    from society.paths import log_to_file

    log_to_file()
    try:
        return fn()
    except (ConfigError, InputError) as err:
        raise fail(str(err)) from None
    except (NoModelAvailable, TurnFailed) as err:
        raise fail(str(err), EXIT_FAILED) from None
    except KeyboardInterrupt:
        raise fail("interrupted; what was said so far is saved", 130) from None


@app.command()
def run(
    task: Annotated[str, typer.Argument(help="What to ask the team; - reads it from standard input.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
    think: Annotated[bool, typer.Option("--think", help="Reasoning mode: think, then answer.")] = False,
) -> None:
    """Run one headless turn of the conversation and print the answer."""
    import asyncio

    text = sys.stdin.read() if task == "-" else task

    from society.conversation import ask

    messages, conversation = _guard(lambda: asyncio.run(ask(text, reasoning=think)))
    turn_id = messages[0].turn_id
    answer = next((m.content for m in reversed(messages) if m.role != "user"), "")
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
    from society.store import Store

    messages = Store().last_messages(last)
    if as_json:
        print(json.dumps([m.to_dict() for m in messages], ensure_ascii=False))
        return
    from rich.console import Console

    console = Console()
    for message in messages:
        show(console, message)


@app.command()
def status(as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False) -> None:
    """The ladder and what is reachable, VRAM, CPU, RAM and the database."""
    from society import status as report

    info = _guard(report.collect)
    if as_json:
        print(json.dumps(info, ensure_ascii=False))
    else:
        report.render(info)


@app.command()
def chat() -> None:
    """Talk to the society in the terminal: /history, /status, /think, /quit."""
    import asyncio

    from society.chat import loop

    _guard(lambda: asyncio.run(loop()))


def show(console, message: Message) -> None:
    """One message under its role's name; reasoning dimmed; the model that answered."""
    from rich.markup import escape

    colour = "bold cyan" if message.role == "user" else "bold green"
    model = f" [dim]({message.model}, {message.latency_ms} ms)[/]" if message.model else ""
    console.print(f"[{colour}]{message.role}[/]{model}")
    if message.reasoning:
        console.print(f"[dim italic]{escape(message.reasoning)}[/]")
    console.print(escape(message.content))


if __name__ == "__main__":
    app()
