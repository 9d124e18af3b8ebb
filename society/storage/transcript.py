"""The conversation as a file: exported whole (every turn with its messages, reasoning, tool
calls and results, recalled memories) as JSON or Markdown, and imported into a data folder,
after whatever it holds already.

The Markdown is for reading and still imports exactly: before each turn and each message an
HTML comment (invisible when rendered) carries its fields and the length of its text, so text
that itself looks like Markdown or like these comments is read back as it was.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from typing import Any

from society.errors import SocietyError
from society.storage.store import Store

FORMAT = "society-conversation"
VERSION = 1
TURN_FIELDS = ("entry_point", "status", "stop_reason", "started_at", "ended_at")
MESSAGE_FIELDS = (
    "role",
    "content",
    "kind",
    "reasoning",
    "model",
    "prompt_tokens",
    "completion_tokens",
    "latency_ms",
    "created_at",
    "prompt_version",
    "first_token_ms",
    "generation_ms",
)
KINDS = frozenset({"text", "tool_call", "tool_result", "approval", "recall"})
# A header is one line at the start of a line, and short: found by position and bounded, so
# no input makes the search quadratic (a 209 kB body of openers took 20 s with `.*?`).
MARK = re.compile(r"^<!-- society:(turn|message) (\{[^\n]{0,4000}?\}) -->\n", re.M)
TIMES = {"turn": ("started_at", "ended_at"), "message": ("created_at",)}
NUMBERS = ("prompt_tokens", "completion_tokens", "latency_ms", "prompt_version", "first_token_ms", "generation_ms")


class TranscriptError(SocietyError, ValueError):
    """A file that is not a conversation export, or one damaged or edited past reading."""


def export_data(store: Store) -> dict[str, Any]:
    return {
        "format": FORMAT,
        "version": VERSION,
        "exported_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "turns": store.export_turns(),
    }


def export_json(store: Store) -> str:
    return json.dumps(export_data(store), ensure_ascii=False, indent=1)


def export_markdown(store: Store) -> str:
    data = export_data(store)
    out = [f"# Conversation\n\n*exported {data['exported_at']}; `society import` reads this file back*\n\n"]
    for number, turn in enumerate(data["turns"], 1):
        fields = {key: turn.get(key) for key in TURN_FIELDS}
        out.append(f"<!-- society:turn {json.dumps(fields, ensure_ascii=False)} -->\n")
        when = (turn.get("started_at") or "")[:16].replace("T", " ")
        out.append(f"## Turn {number} · {when} · {turn.get('entry_point')}\n\n")
        for message in turn["messages"]:
            fields = {key: message.get(key) for key in MESSAGE_FIELDS if key not in ("content", "reasoning")}
            content, reasoning = message.get("content") or "", message.get("reasoning") or ""
            fields["content_chars"], fields["reasoning_chars"] = len(content), len(reasoning)
            out.append(f"<!-- society:message {json.dumps(fields, ensure_ascii=False)} -->\n")
            out.append(f"{_heading(message)}\n\n{content}\n\n")
            if reasoning:
                out.append(f"<details><summary>reasoning</summary>\n\n{reasoning}\n\n</details>\n\n")
    return "".join(out)


def _heading(message: dict[str, Any]) -> str:
    kind = message.get("kind") or "text"
    label = {"text": "", "tool_call": " · tool call", "tool_result": " · tool result"}.get(kind, f" · {kind}")
    model = f" *({message['model']})*" if message.get("model") else ""
    return f"**{message.get('role')}**{label}{model}"


def read_markdown(text: str) -> dict[str, Any]:
    """The export data of a Markdown export, read back by its comments and lengths."""
    turns: list[dict[str, Any]] = []
    at = 0
    while match := MARK.search(text, at):
        what, fields = match.group(1), _fields(match.group(2))
        at = match.end()
        if what == "turn":
            turns.append({**fields, "messages": []})
            continue
        if not turns:
            raise TranscriptError("the Markdown has a message before its first turn; export it again")
        start = text.index("\n\n", at) + 2  # after the heading line
        content, at = _take(text, start, fields.pop("content_chars", 0))
        reasoning = ""
        if chars := fields.pop("reasoning_chars", 0):
            opening = "<details><summary>reasoning</summary>\n\n"
            start = text.find(opening, at)
            if start < 0:
                raise TranscriptError("a message's reasoning is missing from the Markdown; export it again")
            reasoning, at = _take(text, start + len(opening), chars)
        turns[-1]["messages"].append({**fields, "content": content, "reasoning": reasoning or None})
    if not turns:
        raise TranscriptError("no conversation found: the file is neither a JSON nor a Markdown export of society")
    return {"format": FORMAT, "version": VERSION, "turns": turns}


def _fields(raw: str) -> dict[str, Any]:
    try:
        fields = json.loads(raw)
    except ValueError:
        raise TranscriptError("a turn or message header in the Markdown is damaged; export it again") from None
    if not isinstance(fields, dict):
        raise TranscriptError("a turn or message header in the Markdown is damaged; export it again")
    return fields


def _take(text: str, start: int, chars: Any) -> tuple[str, int]:
    if not isinstance(chars, int) or chars < 0 or start + chars > len(text):
        raise TranscriptError(
            "a message in the Markdown was cut or edited (its length does not match); use the JSON export"
        )
    return text[start : start + chars], start + chars


def parse(raw: str) -> dict[str, Any]:
    """Export data from a JSON or Markdown export, checked: one line naming what is wrong."""
    if raw.lstrip().startswith("{"):
        try:
            return checked(json.loads(raw))
        except ValueError as err:
            if isinstance(err, TranscriptError):
                raise
            raise TranscriptError(f"the JSON export does not parse ({err})") from None
    return checked(read_markdown(raw))


def checked(data: Any) -> dict[str, Any]:
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise TranscriptError(f'not a conversation export (no "format": "{FORMAT}")')
    if data.get("version") != VERSION:
        raise TranscriptError(f"export version {data.get('version')!r} is not one this society reads ({VERSION})")
    turns = data.get("turns")
    if not isinstance(turns, list):
        raise TranscriptError('"turns" must be a list')
    for number, turn in enumerate(turns, 1):
        messages = turn.get("messages") if isinstance(turn, dict) else None
        if not isinstance(messages, list) or not messages:
            raise TranscriptError(f"turn {number} has no messages")
        _check_times(turn, TIMES["turn"], f"turn {number}")
        for message in messages:
            if not isinstance(message, dict) or not isinstance(message.get("role"), str):
                raise TranscriptError(f"turn {number}: a message without a role")
            if not isinstance(message.get("content"), str):
                raise TranscriptError(f"turn {number}: a message without text content")
            _check_role(message, number)
            _check_times(message, TIMES["message"], f"turn {number}")
            for name in NUMBERS:
                value = message.get(name)
                if value is not None and (not isinstance(value, int) or isinstance(value, bool) or value < 0):
                    raise TranscriptError(f"turn {number}: {name} must be a whole number, not {value!r}")
    return data


def _check_role(message: dict[str, Any], number: int) -> None:
    """Only the roles and kinds the society itself writes: an imported "system" message, or a
    tool result said by the user, would reach the models as what they are not."""
    from roles import ROLE_NAMES
    from society.storage.store import USER

    role, kind = message["role"], message.get("kind") or "text"
    if kind not in KINDS:
        raise TranscriptError(f"turn {number}: unknown message kind {kind!r}")
    if role == USER:
        if kind != "text":
            raise TranscriptError(f"turn {number}: a user message of kind {kind!r}; the user only says text")
    elif role == "approval":
        if kind != "approval":
            raise TranscriptError(f"turn {number}: an approval record of kind {kind!r}")
    elif role not in ROLE_NAMES:
        raise TranscriptError(f"turn {number}: unknown role {role!r}; roles: user, approval, {', '.join(ROLE_NAMES)}")
    elif kind == "approval":
        raise TranscriptError(f"turn {number}: {role} cannot record an approval")


def _check_times(fields: dict[str, Any], names: tuple[str, ...], where: str) -> None:
    """Timestamps as the export writes them (ISO 8601 with a zone): one that is not breaks
    every later read of the conversation."""
    for name in names:
        value = fields.get(name)
        if value is None:
            continue
        try:
            parsed = datetime.fromisoformat(value) if isinstance(value, str) else None
        except ValueError:
            parsed = None
        if parsed is None or parsed.tzinfo is None:
            raise TranscriptError(f"{where}: {name} {value!r} is not an ISO 8601 time with a zone")


def import_data(store: Store, data: dict[str, Any]) -> tuple[int, int]:
    """The turns of `data` (as `parse` returns it, checked) added after what the store
    holds, each in one transaction; (turns, messages) added. A turn the store holds already
    (its first message, same role, text and time) is skipped: importing twice adds nothing."""
    turns = messages = 0
    for turn in data["turns"]:
        first = turn["messages"][0]
        if first.get("created_at") and store.has_message(first["role"], first["content"], first["created_at"]):
            continue
        store.import_turn(
            {key: turn.get(key) for key in TURN_FIELDS},
            [{key: m.get(key) for key in MESSAGE_FIELDS} for m in turn["messages"]],
        )
        turns, messages = turns + 1, messages + len(turn["messages"])
    return turns, messages
