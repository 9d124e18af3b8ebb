"""The terminal chat: the answer appears as the model writes it, under its role's name;
other messages (tool calls and results) as soon as they are stored; reasoning is dimmed; the
model that answered is named. Ctrl-C during a turn stops it (what was written is kept) and
the chat goes on; Ctrl-C at the prompt, or a second one while stopping, quits."""

from __future__ import annotations

import asyncio
import signal
import threading
from typing import TYPE_CHECKING

from rich.console import Console

from society.assemble import open_conversation
from society.conversation import Chunk
from society.errors import EXIT_FAILED, SocietyError

if TYPE_CHECKING:
    from society.storage.store import Message

HELP = "/history [N]  /status  /think (toggle reasoning mode)  /good [comment]  /bad [comment]  /quit"


def read_line(console: Console, prompt: str) -> asyncio.Future[str]:
    """A line from the terminal, read in a daemon thread: quitting never waits for a line
    nobody will type (the loop's default executor would be joined at exit)."""
    loop = asyncio.get_running_loop()
    line: asyncio.Future[str] = loop.create_future()

    def settle(outcome, error: BaseException | None) -> None:
        if not line.done():
            line.set_exception(error) if error is not None else line.set_result(outcome)

    def read() -> None:
        try:
            text = console.input(prompt)
        except BaseException as err:  # noqa: BLE001 - EOF, a broken byte: handed to the loop
            loop.call_soon_threadsafe(settle, None, err)
        else:
            loop.call_soon_threadsafe(settle, text, None)

    threading.Thread(target=read, daemon=True).start()
    return line


class Interrupts:
    """Ctrl-C: the first during a turn stops the turn; otherwise it quits."""

    def __init__(self, conversation, console: Console):
        self.conversation = conversation
        self.console = console
        self.playing = False
        self.stopping = False
        self.main = asyncio.current_task()

    def install(self) -> None:
        try:
            asyncio.get_running_loop().add_signal_handler(signal.SIGINT, self.pressed)
        except (NotImplementedError, RuntimeError):  # Windows' loop: Ctrl-C quits as usual
            pass

    def pressed(self) -> None:
        if self.playing and not self.stopping and self.conversation.stop():
            self.stopping = True
            self.console.print("\n[yellow]stopping… (Ctrl-C again quits)[/]")
        elif self.main is not None:
            self.main.cancel()


async def loop() -> None:
    console = Console()
    spinner = console.status("thinking…")

    async def approve(action: str, detail: str) -> bool:
        spinner.stop()  # the question needs the terminal to itself
        try:
            answer = await read_line(console, f"[yellow]allow {action}[/]: {detail} [y/N] ")
        finally:
            spinner.start()
        return answer.strip().lower() in ("y", "yes", "はい")

    conversation = open_conversation(entry_point="chat", approver=approve)
    interrupts = Interrupts(conversation, console)
    interrupts.install()
    reasoning = False
    console.print(f"[bold]society[/] - one conversation that never ends. {HELP}")
    if conversation.interrupted:
        console.print(f"[yellow]turns {conversation.interrupted} were interrupted; their messages are kept.[/]")
    for message in conversation.store.last_messages(4):
        show(console, message)
    try:
        while True:
            try:
                line = await read_line(console, "[bold cyan]you>[/] ")
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
                from society.assemble import status as collect

                status.render(collect())
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
            interrupts.playing, interrupts.stopping = True, False
            try:
                await play(conversation.turn(line, reasoning, stream=True), console, spinner)
            except SocietyError as err:
                console.print(f"[red]{err}[/]" + (" (your message is saved)" if err.exit_code == EXIT_FAILED else ""))
            finally:
                interrupts.playing = False
            if interrupts.stopping:
                console.print("[yellow]stopped; what was written is kept[/]")
    except asyncio.CancelledError:
        asyncio.current_task().uncancel()
        console.print()
    finally:
        await conversation.close()


async def play(turn, console: Console, spinner) -> None:
    """One turn on the terminal: the answer as it is written, the rest as it is stored."""
    writing: str | None = None  # the role whose answer is being written out
    spinner.start()
    try:
        async for item in turn:
            if isinstance(item, Chunk):
                if writing != item.role:
                    spinner.stop()
                    console.print(f"[bold green]{item.role}[/]")
                    writing = item.role
                console.print(item.text, end="", markup=False, highlight=False, soft_wrap=True)
            elif item.role == "user":
                continue
            elif item.role == writing:
                console.print()
                show_footer(console, item)
                writing = None
                spinner.start()
            else:
                spinner.stop()
                show(console, item)
                spinner.start()
    finally:
        spinner.stop()


def show_footer(console, message: Message) -> None:
    """After an answer written out as it came: the model, its times, its reasoning."""
    from rich.markup import escape

    if message.model:
        first = f", first token {message.first_token_ms} ms" if message.first_token_ms is not None else ""
        console.print(f"[dim]({message.model}, {message.latency_ms} ms{first})[/]")
    if message.reasoning:
        console.print(f"[dim italic]{escape(message.reasoning)}[/]")


def show(console, message: Message) -> None:
    """One message under its role's name; reasoning dimmed; the model that answered; tool
    calls, results and approvals as indented steps."""
    from rich.markup import escape

    if not message.is_text:
        colour = {"tool_call": "magenta", "tool_result": "blue", "approval": "yellow", "recall": "dim"}.get(
            message.kind, "white"
        )
        body = message.content if len(message.content) <= 600 else message.content[:600] + " …"
        console.print(f"  [{colour}]{message.role} · {message.kind.replace('_', ' ')}[/] {escape(body)}")
        return
    colour = "bold cyan" if message.role == "user" else "bold green"
    model = f" [dim]({message.model}, {message.latency_ms} ms)[/]" if message.model else ""
    console.print(f"[{colour}]{message.role}[/]{model}")
    if message.reasoning:
        console.print(f"[dim italic]{escape(message.reasoning)}[/]")
    console.print(escape(message.content))
