"""The terminal chat: each agent's message appears under its role's name as soon as it is
stored; reasoning is dimmed; the model that answered is named."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

from rich.console import Console

from society.assemble import open_conversation
from society.errors import EXIT_FAILED, SocietyError

if TYPE_CHECKING:
    from society.store import Message

HELP = "/history [N]  /status  /think (toggle reasoning mode)  /good [comment]  /bad [comment]  /quit"


async def loop() -> None:
    console = Console()
    spinner = console.status("thinking…")

    async def approve(action: str, detail: str) -> bool:
        spinner.stop()  # the question needs the terminal to itself
        try:
            answer = await asyncio.to_thread(console.input, f"[yellow]allow {action}[/]: {detail} [y/N] ")
        finally:
            spinner.start()
        return answer.strip().lower() in ("y", "yes", "はい")

    conversation = open_conversation(entry_point="chat", approver=approve)
    reasoning = False
    console.print(f"[bold]society[/] - one conversation that never ends. {HELP}")
    if conversation.interrupted:
        console.print(f"[yellow]turns {conversation.interrupted} were interrupted; their messages are kept.[/]")
    for message in conversation.store.last_messages(4):
        show(console, message)
    try:
        while True:
            try:
                line = await asyncio.to_thread(console.input, "[bold cyan]you>[/] ")
            except EOFError:
                break
            except UnicodeDecodeError:
                console.print("[red]that line was not UTF-8 text; set the terminal to UTF-8 and type it again[/]")
                continue
            command = line.strip()
            if command in ("/quit", "/exit"):
                break
            if command.startswith("/history"):
                count = int(command.split()[1]) if len(command.split()) > 1 and command.split()[1].isdigit() else 10
                for message in conversation.store.last_messages(count):
                    show(console, message)
                continue
            if command == "/status":
                from society import status

                status.render(status.collect())
                continue
            if command == "/think":
                reasoning = not reasoning
                console.print(f"reasoning mode {'on' if reasoning else 'off'}")
                continue
            if command.split(" ", 1)[0] in ("/good", "/bad"):
                verdict, _, comment = command.partition(" ")
                reward = conversation.feedback(verdict == "/good", comment.strip() or None)
                if reward is None:
                    console.print("no answer yet to rate")
                else:
                    console.print(f"noted: answer #{reward.message_id} {verdict[1:]}, reward {reward.reward:+.2f}")
                continue
            if command.startswith("/"):
                console.print(f"unknown command {command}; {HELP}")
                continue
            try:
                with spinner:
                    async for message in conversation.turn(line, reasoning):
                        if message.role != "user":
                            show(console, message)
            except SocietyError as err:
                console.print(f"[red]{err}[/]" + (" (your message is saved)" if err.exit_code == EXIT_FAILED else ""))
    finally:
        await conversation.close()


def show(console, message: Message) -> None:
    """One message under its role's name; reasoning dimmed; the model that answered; tool
    calls, results and approvals as indented steps."""
    from rich.markup import escape

    if not message.is_text:
        colour = {"tool_call": "magenta", "tool_result": "blue", "approval": "yellow"}.get(message.kind, "white")
        body = message.content if len(message.content) <= 600 else message.content[:600] + " …"
        console.print(f"  [{colour}]{message.role} · {message.kind.replace('_', ' ')}[/] {escape(body)}")
        return
    colour = "bold cyan" if message.role == "user" else "bold green"
    model = f" [dim]({message.model}, {message.latency_ms} ms)[/]" if message.model else ""
    console.print(f"[{colour}]{message.role}[/]{model}")
    if message.reasoning:
        console.print(f"[dim italic]{escape(message.reasoning)}[/]")
    console.print(escape(message.content))
