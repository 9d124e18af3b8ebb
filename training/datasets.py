"""Tuning examples in the database: supervised examples (a chat and its answer), preference
pairs (a chat, a chosen and a rejected answer) and labelled examples (a chat, an answer, good
or bad). The data curator makes them from conversation messages by id, edits, labels, deletes
(softly) and cleans them."""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field
from typing import Any

from sqlalchemy import func, or_, select, update

from society.errors import SocietyError
from society.storage.store import USER, Store, now
from training.tables import examples

# eval: a question kept out of training, asked to see what a cycle learnt (training/curate.py)
KINDS = ("sft", "pair", "label", "eval")
COLUMNS = (
    "id", "kind", "prompt", "completion", "rejected", "label", "source_message_ids", "created_by", "status",
    "created_at", "updated_at", "topic",
)  # fmt: skip
ACTIVE = examples.c.status == "active"


def _selected(*where) -> Any:
    """The examples' columns as Example reads them, where all of `where` hold, oldest first."""
    return select(*(examples.c[name] for name in COLUMNS)).where(*where).order_by(examples.c.id)


class ExampleError(SocietyError, ValueError):
    """A request the datasets cannot take; the message says what to fix."""


@dataclass
class Example:
    id: int
    kind: str
    prompt: list[dict[str, str]]
    completion: str
    rejected: str | None = None
    label: bool | None = None
    source_message_ids: list[int] = field(default_factory=list)
    created_by: str = "data_curator"
    status: str = "active"
    created_at: str = ""
    updated_at: str = ""
    topic: str | None = None  # what a curated example teaches: fact:…, wish:…, correction:…

    @classmethod
    def from_row(cls, row: Any) -> Example:
        values = list(row)
        values[2] = json.loads(values[2])
        values[5] = None if values[5] is None else bool(values[5])
        values[6] = json.loads(values[6] or "[]")
        return cls(*values)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def line(self) -> str:
        asked = next((m["content"] for m in reversed(self.prompt) if m.get("role") == "user"), "")
        mark = "" if self.label is None else (" good" if self.label else " bad")
        flat = " ".join(f"{asked} -> {self.completion}".split())
        return f"#{self.id} {self.kind}{mark}: {flat[:140]}  [{self.origin}]"

    @property
    def origin(self) -> str:
        """Where the example came from: who made it, from which messages, about what."""
        said = ", ".join(f"#{i}" for i in self.source_message_ids[:4]) or "no message"
        about = f" {self.topic}" if self.topic else ""
        return f"{self.created_by}{about} from {said}"


def _hash(kind: str, prompt: list[dict[str, str]], completion: str, rejected: str | None) -> str:
    blob = json.dumps([kind, prompt, completion.strip(), (rejected or "").strip()], ensure_ascii=False)
    return hashlib.sha256(blob.encode()).hexdigest()[:32]


class Examples:
    def __init__(self, store: Store | None = None):
        self.store = store or Store()

    # -- making ---------------------------------------------------------------------------

    def add(
        self,
        kind: str,
        prompt: list[dict[str, str]],
        completion: str,
        rejected: str | None = None,
        label: bool | None = None,
        source_message_ids: list[int] | None = None,
        created_by: str = "data_curator",
        topic: str | None = None,
    ) -> Example:
        """A new example, or the same one already kept (examples are never doubled)."""
        if kind not in KINDS:
            raise ExampleError(f"example kind must be one of {', '.join(KINDS)}, got '{kind}'")
        if not completion.strip():
            raise ExampleError("the answer is empty; an example needs an answer")
        if kind == "pair" and not (rejected or "").strip():
            raise ExampleError("a preference pair needs a rejected answer")
        if not any(m.get("role") == "user" and m.get("content", "").strip() for m in prompt):
            raise ExampleError("an example needs the user's message it answers")
        digest = _hash(kind, prompt, completion, rejected)
        with self.store.engine.connect() as conn:
            same = conn.execute(select(examples.c.id).where(examples.c.content_hash == digest, ACTIVE)).scalar()
        if same is not None:
            return self.get(same)
        at = now()
        with self.store.engine.begin() as conn:
            example_id = conn.execute(
                examples.insert()
                .values(
                    kind=kind,
                    prompt=json.dumps(prompt, ensure_ascii=False),
                    completion=completion.strip(),
                    rejected=rejected.strip() if rejected else None,
                    label=None if label is None else int(label),
                    source_message_ids=json.dumps(source_message_ids or []),
                    created_by=created_by,
                    status="active",
                    content_hash=digest,
                    created_at=at,
                    updated_at=at,
                    topic=topic,
                )
                .returning(examples.c.id)
            ).scalar_one()
        return self.get(example_id)

    def answer_message(self, message_id: int | None):
        """The team's answer `message_id` (or the last answer to user message `message_id`),
        or the newest answer when None or 0."""
        # An answer by its id; a user's message by its id means the team's answer to it.
        found = self.store.answer_id(message_id)
        if found is None:
            which = f"message #{message_id} is not an answer of the team" if message_id else "no answer yet"
            raise ExampleError(f"{which}; see `society history`")
        return self.store.message(found)

    def prompt_for(self, answer) -> list[dict[str, str]]:
        """The chat an answer replied to: the user's message of its turn."""
        asked = [m for m in self.store.turn_messages(answer.turn_id) if m.role == USER and m.id < answer.id]
        if not asked:
            raise ExampleError(f"message #{answer.id} answers no user message")
        return [{"role": "user", "content": asked[-1].content}]

    def from_message(
        self, message_id: int | None, kind: str = "sft", label: bool | None = None, by: str = "data_curator"
    ) -> Example:
        answer = self.answer_message(message_id)
        return self.add(kind, self.prompt_for(answer), answer.content, None, label, [answer.id], by)

    def labelled_by_reward(self, message_id: int) -> Example | None:
        """The active example the rewards labelled from answer `message_id`, if any."""
        with self.store.engine.connect() as conn:
            found = conn.execute(
                select(func.max(examples.c.id)).where(
                    examples.c.created_by == "reward",
                    examples.c.kind == "label",
                    ACTIVE,
                    examples.c.source_message_ids == json.dumps([message_id]),
                )
            ).scalar()
        return None if found is None else self.get(found)

    def pair_from_messages(self, chosen_id: int, rejected_id: int, by: str = "data_curator") -> Example:
        chosen, rejected = self.answer_message(chosen_id), self.answer_message(rejected_id)
        return self.add(
            "pair", self.prompt_for(chosen), chosen.content, rejected.content, None, [chosen.id, rejected.id], by
        )

    # -- reading --------------------------------------------------------------------------

    def get(self, example_id: int) -> Example:
        with self.store.engine.connect() as conn:
            row = conn.execute(_selected(examples.c.id == example_id)).first()
        if row is None:
            raise ExampleError(f"no example #{example_id}; see `society data list`")
        return Example.from_row(row)

    def listing(self, kind: str | None = None, limit: int = 50, query: str | None = None) -> list[Example]:
        where = [ACTIVE]
        if kind:
            where.append(examples.c.kind == kind)
        if query:
            where.append(or_(*(examples.c[name].like(f"%{query}%") for name in ("prompt", "completion", "rejected"))))
        with self.store.engine.connect() as conn:
            rows = conn.execute(_selected(*where).order_by(None).order_by(examples.c.id.desc()).limit(limit)).all()
        return [Example.from_row(row) for row in rows]

    def all_active(self) -> list[Example]:
        with self.store.engine.connect() as conn:
            rows = conn.execute(_selected(ACTIVE)).all()
        return [Example.from_row(row) for row in rows]

    def curated(self) -> list[Example]:
        """The active examples the curator made from the conversation (training/curate.py)."""
        with self.store.engine.connect() as conn:
            rows = conn.execute(_selected(ACTIVE, examples.c.topic.is_not(None))).all()
        return [Example.from_row(row) for row in rows]

    def counts(self) -> dict[str, int]:
        with self.store.engine.connect() as conn:
            rows = conn.execute(select(examples.c.kind, func.count()).where(ACTIVE).group_by(examples.c.kind))
            return {kind: count for kind, count in rows}

    # -- changing -------------------------------------------------------------------------

    def _set(self, example_id: int, **fields: Any) -> Example:
        current = self.get(example_id)  # before the write: every connection begins IMMEDIATE
        merged = {**current.to_dict(), **fields}
        digest = _hash(merged["kind"], merged["prompt"], merged["completion"], merged["rejected"])
        with self.store.engine.begin() as conn:
            conn.execute(
                update(examples)
                .where(examples.c.id == example_id)
                .values(
                    completion=merged["completion"],
                    rejected=merged["rejected"],
                    label=None if merged["label"] is None else int(merged["label"]),
                    status=merged["status"],
                    kind=merged["kind"],
                    content_hash=digest,
                    updated_at=now(),
                )
            )
        return self.get(example_id)

    def edit(self, example_id: int, completion: str) -> Example:
        if not completion.strip():
            raise ExampleError("the new answer is empty; use delete_example to drop an example")
        return self._set(example_id, completion=completion.strip())

    def label(self, example_id: int, good: bool) -> Example:
        """Mark an example's answer good or bad; a supervised example becomes a labelled one."""
        example = self.get(example_id)
        kind = "label" if example.kind == "sft" else example.kind
        return self._set(example_id, label=good, kind=kind)

    def delete(self, example_id: int) -> Example:
        """Soft: the row stays with status 'deleted' and leaves every export."""
        return self._set(example_id, status="deleted")

    def clean(self) -> dict[str, int]:
        """Delete (softly) duplicates, and examples that are empty or broken."""
        removed = {"duplicates": 0, "empty": 0, "broken": 0}
        seen: set[str] = set()
        for example in self.all_active():
            asked = [m for m in example.prompt if isinstance(m, dict) and m.get("role") == "user"]
            if not example.completion.strip() or (example.kind == "pair" and not (example.rejected or "").strip()):
                reason = "empty"
            elif not asked or any(not isinstance(m, dict) or "content" not in m for m in example.prompt):
                reason = "broken"
            elif (
                key := " ".join(json.dumps([example.kind, example.prompt, example.completion.lower()]).split())
            ) in seen:
                reason = "duplicates"
            else:
                seen.add(key)
                continue
            self.delete(example.id)
            removed[reason] += 1
        return removed
