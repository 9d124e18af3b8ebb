"""The Chainlit page of the conversation (mounted by ui/__init__.py, talking through the
process's Hub): the recent history on open, each agent's message under its role name with
the model and time, reasoning and tool calls as collapsible steps, thumbs that record
feedback, and a monitoring panel refreshed every few seconds."""

from __future__ import annotations

import asyncio
import contextlib
import functools
from collections.abc import Awaitable, Callable
from typing import Any

import chainlit as cl

from society.conversation import Chunk
from society.errors import EXIT_FAILED, SocietyError
from society.storage.store import USER, Message
from society.storage.users import as_user
from ui import hub as hubs
from ui.bell import next_message
from ui.monitor import REFRESH_SECONDS
from ui.words import word

HISTORY_MESSAGES = 30
FOLLOW_SECONDS = 1.0  # how soon a message said through another door appears
COMMANDS = "/think (reasoning on or off), /good [comment], /bad [comment]"


def hub() -> hubs.Hub:
    """The hub of the user logged in on this page (every handler works for them: `for_user`)."""
    if hubs.current is None:
        raise RuntimeError("the page runs inside `society ui`, which opens the conversation")
    return hubs.current.current()


def page_user() -> str | None:
    """Whose conversation this page shows: the logged-in user's; None, the default one."""
    user = cl.user_session.get("user")
    return (user.metadata or {}).get("society_user") if user is not None else None


def for_user(handler: Callable[..., Awaitable[Any]]) -> Callable[..., Awaitable[Any]]:
    """Run a page handler, and the tasks it starts, for the logged-in user."""

    @functools.wraps(handler)  # keeps the signature: Chainlit passes arguments by name
    async def run(*args: Any, **kwargs: Any) -> Any:
        if not login_holds():
            line = word("this login no longer holds; reload the page and log in again", language())
            await cl.Message(content=f"⚠ {line}").send()
            return None
        with as_user(page_user()):
            return await handler(*args, **kwargs)

    return run


if hubs.current is not None:
    # Both logins are always there, whether the server has users now or not: users added
    # while it runs log in like the others. Each login's metadata is checked again on every
    # request and message (`login_holds`, and ui/api.py for the page's own requests).

    @cl.password_auth_callback
    def login(username: str, password: str) -> cl.User | None:
        """A user gives their name and their token; the owner any name and SOCIETY_API_TOKEN
        (the default conversation)."""
        allowed, user = hubs.current.who(password)
        if not allowed or not hubs.current.guarded or (user is not None and user != username.strip().lower()):
            return None
        return cl.User(identifier=user or username or "owner", metadata=hubs.current.login_metadata(user, password))

    @cl.header_auth_callback
    async def open_page(_headers) -> cl.User | None:
        """One person's machine (loopback, no token, no users): in without a login page."""
        if hubs.current.guarded:
            return None
        return cl.User(identifier="owner", metadata=hubs.current.login_metadata(None, None))


def login_holds() -> bool:
    """Whether this page's login still holds (the user not removed or re-keyed since)."""
    user = cl.user_session.get("user")
    return hubs.current is not None and hubs.current.still_valid(user.metadata if user is not None else None)


def without_images(text: str) -> str:
    """Markdown images as links: an image in a message (from a model, or a page it read) is
    fetched by every viewer's browser when shown, which sends the URL, and whatever a
    message put in it, to that server. Shown as a link, it is fetched only on a click (and
    the page's Content-Security-Policy refuses other servers' images anyway)."""
    return text.replace("![", "[image: ")


def language() -> str | None:
    """The browser's language (its first Accept-Language), for the page's own words."""
    with contextlib.suppress(Exception):  # outside a page's session: English
        return cl.context.session.language
    return None


def step_name(message: Message, kind: str) -> str:
    """A step's title: the role, and what the step is in the browser's language."""
    return f"{message.role} · {word(kind, language())}"


def footer(message: Message) -> str:
    """The model that answered, the time it took, its speed and the prompt version."""
    said = language()
    parts = [message.model or word("no model", said)]
    if message.latency_ms:
        parts.append(f"{message.latency_ms / 1000:.1f} s")
        if message.first_token_ms is not None:
            parts.append(f"{word('first token', said)} {message.first_token_ms / 1000:.1f} s")
        if message.tokens_per_second:
            parts.append(f"{message.tokens_per_second:.0f} {word('tokens/s', said)}")
    if message.prompt_version:
        parts.append(f"{word('prompt', said)} v{message.prompt_version}")
    return "\n\n*" + " · ".join(parts) + "*"


def thumbs(message: Message) -> list[cl.Action]:
    return [
        cl.Action(name="feedback", payload={"message_id": message.id, "good": good}, icon=icon, tooltip=tip, label="")
        for good, icon, tip in ((True, "thumbs-up", "Good answer"), (False, "thumbs-down", "Bad answer"))
    ]


class Shown:
    """What the page has shown so far: steps hang under the user message of their turn (as
    Chainlit places its own steps), a role's tool call waits for its result, and the stored
    messages already on the page (by id) are not shown twice."""

    def __init__(self, asked_id: str | None = None, ids: set[int] | None = None):
        self.asked_id = asked_id
        self.open_tools: dict[str, cl.Step] = {}
        self.ids = ids if ids is not None else set()


async def show(message: Message, shown: Shown, streamed: cl.Message | None = None) -> None:
    """One stored message in the page; `streamed` is the page message its text was already
    written into as the model wrote it (it gets the whole text, the footer and the thumbs)."""
    open_tools = shown.open_tools
    shown.ids.add(message.id)
    if message.role == USER:
        sent = cl.Message(content=without_images(message.content), author="you", type="user_message")
        await sent.send()
        shown.asked_id = sent.id
    elif message.kind == "tool_call":
        step = cl.Step(
            name=step_name(message, "tool call"),
            type="tool",
            show_input="json",
            parent_id=shown.asked_id,
        )
        step.input = message.content
        await step.send()
        open_tools[message.role] = step
    elif message.kind == "tool_result":
        step = open_tools.pop(message.role, None)
        if step is None:
            step = cl.Step(
                name=step_name(message, "tool result"),
                type="tool",
                show_input=False,
                parent_id=shown.asked_id,
            )
            step.output = without_images(message.content)
            await step.send()
        else:
            step.output = without_images(message.content)
            step.end = cl.utils.utc_now()
            await step.update()
    elif message.kind == "recall":  # the memories the answer was given, beside it
        step = cl.Step(name=step_name(message, "memories recalled"), type="retrieval", parent_id=shown.asked_id)
        step.output = without_images(message.content)
        await step.send()
    elif message.kind == "approval":
        await cl.Message(content=f"⚠ {without_images(message.content)}", author=message.role).send()
    else:
        content = f"**{message.role}**\n\n{without_images(message.content)}{footer(message)}"
        if streamed is not None:
            answer = streamed
            answer.content, answer.actions = content, thumbs(message)
            await answer.update()
        else:
            answer = cl.Message(content=content, author=message.role, actions=thumbs(message))
            await answer.send()
        if message.reasoning:  # a collapsed step inside the answer it led to
            step = cl.Step(
                name=step_name(message, "reasoning"),
                type="llm",
                show_input=False,
                parent_id=answer.id,
            )
            step.output = without_images(message.reasoning)
            await step.send()


async def open_monitor() -> None:
    """The Monitoring panel, sent once: it reads fresh figures itself every REFRESH_SECONDS
    (ui/elements/Monitoring.jsx asks the API's /monitoring/panel, which any worker answers),
    so a panel the user closed stays closed."""
    panel = cl.CustomElement(
        name="Monitoring",
        props={"every": REFRESH_SECONDS, "reading": word("reading the machine...", language())},
        display="side",
    )
    await cl.ElementSidebar.set_elements([panel], key="monitoring")


async def follow(shown_ids: set[int], after_id: int) -> None:
    """The one conversation, live: what any other door (the terminal, the API, a headless
    run, another page, another worker) says appears here, read from the database, so doors
    in other processes count too: at once on Postgres (ui/bell.py), within FOLLOW_SECONDS on
    SQLite. While this page plays a turn it shows that turn
    itself; messages it already shows are skipped by id."""
    store = hub().conversation().store
    shown = Shown(ids=shown_ids)
    while True:
        await next_message(store, FOLLOW_SECONDS)  # at once on Postgres (any worker or host), else polled
        if cl.user_session.get("playing"):
            continue
        try:
            # In the event loop, not a worker thread: an indexed read of a few rows, and the
            # worker threads may all be busy with a turn's work (recall, consolidation).
            new = store.messages_between(after_id, limit=500)
        except Exception:  # noqa: BLE001 - a busy database: the next poll tries again
            continue
        for message in new:
            if message.id not in shown.ids:
                await show(message, shown)
            after_id = max(after_id, message.id)
        shown.ids.difference_update([i for i in shown.ids if i <= after_id])  # read past: no need to remember


@cl.on_chat_start
@for_user
async def opened() -> None:
    cl.user_session.set("think", False)
    shown = Shown()
    history = hub().conversation().store.last_messages(HISTORY_MESSAGES)
    for message in history:
        await show(message, shown)
    cl.user_session.set("shown_ids", shown.ids)
    await open_monitor()
    cl.user_session.set("follow", asyncio.create_task(follow(shown.ids, history[-1].id if history else 0)))


@cl.on_stop
@for_user
async def stopped() -> None:
    """Stop: the model stops writing at once; what it wrote is kept, marked as stopped."""
    hub().stop()


@cl.on_chat_end
async def closed() -> None:
    for name in ("follow",):
        task = cl.user_session.get(name)
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task


async def command(text: str) -> None:
    name, _, rest = text.partition(" ")
    if name == "/think":
        think = not cl.user_session.get("think")
        cl.user_session.set("think", think)
        await cl.Message(content=f"reasoning mode {'on' if think else 'off'}", author="society").send()
    elif name in ("/good", "/bad"):
        await rate(name == "/good", rest.strip() or None, None)
    else:
        await cl.Message(content=f"unknown command {name}; try {COMMANDS}", author="society").send()


async def rate(good: bool, comment: str | None, message_id: int | None) -> None:
    try:
        reward = hub().feedback(good, comment, message_id)
    except SocietyError as err:
        await cl.context.emitter.send_toast(str(err), "error")
        return
    if reward is None:
        await cl.context.emitter.send_toast("there is no answer to rate yet", "warning")
        return
    figure = f", reward {reward.reward:+.2f}" if reward.reward is not None else ""
    await cl.context.emitter.send_toast(
        f"noted: answer #{reward.message_id} {'thumbs up' if good else 'thumbs down'}{figure}", "success"
    )


@cl.action_callback("feedback")
@for_user
async def feedback(action: cl.Action) -> None:
    await rate(bool(action.payload["good"]), None, int(action.payload["message_id"]))


@cl.on_message
@for_user
async def said(message: cl.Message) -> None:
    text = message.content.strip()
    if text.startswith("/"):
        await command(text)
        return
    user = page_user()
    client = f"user {user}" if user else (cl.context.session.environ or {}).get("REMOTE_ADDR") or "unknown"
    if refused := hub().budget.refusal("page", client):
        await cl.Message(content=f"⚠ {refused}", author="society").send()
        return
    shown = Shown(asked_id=message.id, ids=cl.user_session.get("shown_ids"))
    writing: dict[str, cl.Message] = {}  # answers being written, by role
    cl.user_session.set("playing", True)
    try:
        think = bool(cl.user_session.get("think"))
        async for stored in hub().turn(text, think, entry_point="web", stream=True):
            if isinstance(stored, Chunk):  # the answer as the model writes it
                if stored.role not in writing:
                    writing[stored.role] = cl.Message(content="", author=stored.role)
                    await writing[stored.role].stream_token(f"**{stored.role}**\n\n")
                await writing[stored.role].stream_token(without_images(stored.text))
            elif stored.role != USER:  # the page shows the user's words already
                await show(stored, shown, writing.pop(stored.role, None))
            else:
                shown.ids.add(stored.id)
    except SocietyError as err:
        saved = " (your message is saved)" if err.exit_code == EXIT_FAILED else ""
        await cl.Message(content=f"⚠ {err}{saved}", author="society").send()
    finally:
        cl.user_session.set("playing", False)
