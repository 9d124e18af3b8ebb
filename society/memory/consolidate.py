"""Consolidation: the memory work done after turns, while the user reads, never in their way
(Letta's sleep-time agents are the model). It

1. chunks every settled turn into `turn` memories (the user's words apart from the
   answers; a question nobody answered stays with the next message, its answer when two
   people talk), pulls facts, preferences and decisions out of what the user said
   (society/memory/extract.py; each keeps who said it), and keeps tool results, cut short;
   every memory keeps when its source was said;
2. embeds everything new in batches;
3. merges restatements of one kind (the newer wording wins; a memory that has been
   recalled is never merged away); text said twice word for word is one memory already;
   a correction ("No, I work at Toyota.") retires the statement it corrects;
4. lets unrecalled, unimportant chat chunks fade from recall after a while;
5. promotes what matters (important, or recalled again and again) to the long-term tier.

Nothing is deleted: faded and merged memories keep their rows, and the conversation itself
is untouched.
"""

from __future__ import annotations

import os
from collections import defaultdict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from society.listeners import TurnEvent, TurnListener
from society.memory.bank import MemoryBank, same_wording
from society.memory.extract import CORRECTION_LEAD, extract, speaker_of
from society.memory.extract import importance as rate
from society.storage.store import USER, Message

CHUNK_CHARS = 600
PAGE_MESSAGES = 2000
TOOL_RESULT_CHARS = 600
FADE_BELOW = 0.3
PROMOTE_AT = 0.6
PROMOTE_ACCESSES = 2
# Statements about the user can be restated and superseded; chat chunks and tool results are
# records of what happened, two similar ones are still two events.
MERGED_KINDS = ("fact", "preference", "decision", "note")
# Share of the shorter statement a correction and what it corrects say alike around the
# changed part: "I work at Honda." / "No, I work at Toyota." 0.75; 「私は大阪で働いています。」 /
# 「いや、私は東京で働いています。」 0.83; not "My cat is fluffy." / "No, my cat is called
# Mochi." 0.65, nor "I'm a nurse." / "No, I work at Toyota." 0.17.
SAME_FRAME = 0.7
SUPERSEDE_LOOKBACK = 500  # earlier statements of the kind a correction is compared with


@dataclass
class Report:
    turns: int = 0
    added: list[int] = field(default_factory=list)
    embedded: int = 0
    merged: list[tuple[int, int]] = field(default_factory=list)  # (merged, into)
    superseded: list[tuple[int, int]] = field(default_factory=list)  # (corrected, by)
    faded: list[int] = field(default_factory=list)
    promoted: list[int] = field(default_factory=list)


def chunks(lines: list[tuple[int, str]], size: int = CHUNK_CHARS) -> list[tuple[list[int], str]]:
    """(source message ids, text) pieces of at most about `size` characters; a line longer
    than that is split on its own."""
    pieces: list[tuple[list[int], str]] = []
    ids: list[int] = []
    buffer = ""
    for message_id, line in lines:
        while len(line) > size:
            pieces.append(([message_id], line[:size]))
            line = line[size:]
        if buffer and len(buffer) + len(line) + 1 > size:
            pieces.append((ids, buffer))
            ids, buffer = [], ""
        ids.append(message_id)
        buffer = f"{buffer}\n{line}" if buffer else line
    if buffer:
        pieces.append((ids, buffer))
    return pieces


def _label(message: Message) -> str:
    """How a line of the user's reads in a memory: "User: …", or as said when it names its
    speaker already ("Melanie: …", a conversation between people pasted or relayed)."""
    return message.content if speaker_of(message.content) else f"User: {message.content}"


def is_question(text: str) -> bool:
    return text.rstrip().endswith(("?", "？"))


def unanswered_question(bank: MemoryBank, message: Message) -> Message | None:
    """The message just before `message`, when it is a question of the user's that nobody
    answered and `message` answers it (two people talking through one user: not a question
    itself, and by someone else when both name their speaker)."""
    if is_question(message.content):
        return None
    before = bank.store.message_before(message.id)
    if before is None or before.role != USER or not is_question(before.content):
        return None
    asker, answerer = speaker_of(before.content), speaker_of(message.content)
    if asker and asker == answerer:
        return None
    return Message(id=before.id, turn_id=0, role=USER, content=before.content[: CHUNK_CHARS // 2])


def _remember_turn(bank: MemoryBank, turn_id: int, messages: list[Message], report: Report) -> None:
    said = [m for m in messages if m.is_text]
    user_text = " ".join(m.content for m in said if m.role == USER)
    turn_importance = rate(user_text, "turn")
    when = messages[0].created_at or None

    def keep(content: str, kind: str, importance: float | None, sources: list[int]) -> None:
        item = bank.remember(content, kind, importance, "consolidation", sources, turn_id, False, when)
        report.added.append(item.id)

    # The user's words and the team's answers are chunked apart: a chunk mixing both embeds
    # as neither, and a plain statement of the user's is what recall most often needs.
    user_lines = [(m.id, _label(m)) for m in said if m.role == USER]
    if user_lines and (question := unanswered_question(bank, said[0])) is not None:
        user_lines.insert(0, (question.id, _label(question)))  # the answer matches its question's words
    for ids, text in chunks(user_lines):
        keep(text, "turn", turn_importance, ids)
    for ids, text in chunks([(m.id, f"{m.role}: {m.content}") for m in said if m.role != USER]):
        keep(text, "turn", turn_importance, ids)
    for message in said:
        if message.role != USER:
            continue
        speaker = speaker_of(message.content)
        for found in extract(message.content):
            content = found.content
            if speaker and not content.startswith(speaker):
                content = f"{speaker}: {content}"  # "We named it Biscuit." is Melanie's
            keep(content, found.kind, found.importance, [message.id])
    for message in messages:
        # The memory keeper's own results restate memories that exist already.
        if message.kind == "tool_result" and message.content.strip() and message.role != "memory_keeper":
            keep(message.content[:TOOL_RESULT_CHARS], "tool_result", None, [message.id])


def _merge_duplicates(bank: MemoryBank, new_ids: list[int], report: Report) -> None:
    fresh = bank.items.many(list(dict.fromkeys(new_ids)))
    fresh = [item for item in fresh if item.kind in MERGED_KINDS and item.status == "active"]
    vectors = bank.index().vectors([item.id for item in fresh])
    for item in fresh:
        if item.id not in vectors or bank.items.get(item.id).status != "active":
            continue
        for other_id, similarity in bank.index().query(vectors[item.id], 4):
            if other_id == item.id or similarity < bank.settings.merge_similarity:
                continue
            (other,) = bank.items.many([other_id]) or (None,)
            if other is None or other.status != "active" or other.kind != item.kind or other.access_count > 0:
                continue  # a recalled memory is never merged away
            if not same_wording(item.content, other.content):
                continue  # "Alice lives in Osaka" and "Brian lives in Osaka" embed alike; both stay
            older, newer = (other, item) if other.id < item.id else (item, other)
            bank.retire(older.id, "merged", merged_into=newer.id)
            bank.items.update(newer.id, importance=max(older.importance, newer.importance))
            bank.items.add_sources(newer.id, older.source_message_ids)
            report.merged.append((older.id, newer.id))
            if older.id == item.id:
                break  # this one is gone; its other look-alikes meet the newer one later


def corrects(correction: str, statement: str) -> bool:
    """Whether `correction` ("No, I work at Toyota.") says `statement` ("I work at Honda.")
    again with one part changed: the same words before and after that part."""
    if not CORRECTION_LEAD.match(correction):
        return False
    new = CORRECTION_LEAD.sub("", correction, count=1).strip().lower()
    old = CORRECTION_LEAD.sub("", statement, count=1).strip().lower()
    if not new or not old or new == old:
        return False
    before = len(os.path.commonprefix([new, old]))
    after = len(os.path.commonprefix([new[before:][::-1], old[before:][::-1]]))
    return (before + after) / min(len(new), len(old)) >= SAME_FRAME


def _supersede_corrected(bank: MemoryBank, new_ids: list[int], report: Report) -> None:
    """A correction retires the statement it corrects: recalled beside it, "I work at Honda."
    had the 0.5B answer "Which company employs me?" with Honda after the user said "No, I
    work at Toyota." Chat chunks stay: they are what was said, and when."""
    for item in bank.items.many(list(dict.fromkeys(new_ids))):
        if item.kind not in MERGED_KINDS or item.status != "active" or not CORRECTION_LEAD.match(item.content):
            continue
        for older in bank.items.listing(item.kind, limit=SUPERSEDE_LOOKBACK):
            if older.id < item.id and corrects(item.content, older.content):
                bank.retire(older.id, "superseded", merged_into=item.id)
                report.superseded.append((older.id, item.id))


def _fade_and_promote(bank: MemoryBank, report: Report) -> None:
    cutoff = (datetime.now(UTC) - timedelta(days=bank.settings.fade_after_days)).isoformat()
    for memory_id in bank.items.fade_candidates(cutoff, FADE_BELOW):
        bank.retire(memory_id, "faded")
        report.faded.append(memory_id)
    report.promoted = bank.items.promote(PROMOTE_AT, PROMOTE_ACCESSES)


def consolidate(bank: MemoryBank) -> Report:
    """One pass over everything said since the last pass. Safe to run at any time; two
    processes running it at once are kept apart by the database's write lock per step and
    the progress mark."""
    report = Report()
    with bank._lock:
        while messages := bank.store.settled_messages_after(bank.items.progress(), PAGE_MESSAGES):
            by_turn: dict[int, list[Message]] = defaultdict(list)
            for message in messages:
                by_turn[message.turn_id].append(message)
            if len(messages) == PAGE_MESSAGES and len(by_turn) > 1:
                by_turn.pop(messages[-1].turn_id)  # may go on in the next page: take it whole then
            for turn_id, turn in by_turn.items():
                _remember_turn(bank, turn_id, turn, report)
                bank.items.set_progress(turn[-1].id)
                report.turns += 1
        report.embedded = bank.embed_pending()
        _merge_duplicates(bank, report.added, report)
        _supersede_corrected(bank, report.added, report)
        _fade_and_promote(bank, report)
    return report


class ConsolidationListener(TurnListener):
    """Memory work for each turn that ended, in a worker thread while the user reads; one
    pass at a time (a pass picks up everything said since the last one, so a turn that ends
    during a pass is covered by the next). `quiet`, when given, is waited for first: the
    pass's embeddings would take the CPU from the model reading the user's next message."""

    def __init__(self, bank: MemoryBank, quiet: Callable[[], Awaitable[None]] | None = None):
        self.bank = bank
        self._quiet = quiet
        self._running = False

    async def turn_ended(self, event: TurnEvent) -> None:
        import asyncio

        if self._running:
            return
        self._running = True
        try:
            if self._quiet is not None:
                await self._quiet()
            await asyncio.to_thread(consolidate, self.bank)
        except Exception as err:  # noqa: BLE001 - the next pass retries; the log keeps everything
            self.bank.notify(f"memory consolidation failed ({type(err).__name__}: {err}); will retry")
        finally:
            self._running = False
