"""The data curator's standing job: what the user states, prefers and corrects becomes tuning
data, before every learning cycle (and on `society data curate`).

- Facts the memory keeper consolidated ("My cat is called Mochi.", 「私は京都に住んでいます」)
  become questions in several wordings, each with the answer to give, both ways ("What is my
  cat called?" -> "Your cat is called Mochi."; "Who is Mochi?" -> "Mochi is your cat."),
  in the language they were said in (training/wordings.py). A newer statement of the same
  thing replaces the older one's examples.
- A correction ("No, it's Mochi.") makes the corrected answer the example for the question
  it corrects, and a preference pair against the answer it corrected.
- Standing wishes ("call me Ken", "answer in Japanese", "two sentences at most") become
  general chats answered the way the user asked (society/memory/wishes.py), so a trained
  model follows them without the prompt saying so; every other answer taught is given the
  way they ask too (the name, the length), as are the base model's replayed general chats
  (training/replay.py).

Each example keeps where it came from: the message ids and a topic (`fact:…`, `wish:…`,
`correction:…`), shown by `society data list`. Each fact's last wording is kept out of
training as an `eval` example: the cycle asks it to see what was learnt, so every fact is
trained and none is withheld.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path

from society.memory.extract import CORRECTION_LEAD, speaker_of
from society.memory.wishes import Wish, follow, read_wishes, shaped
from society.storage.store import USER, Store
from training.datasets import Example, Examples
from training.wordings import clean, to_you

CURATOR = "curator"
TAUGHT_KINDS = ("fact", "preference", "decision", "note")
WISH_CHATS = Path(__file__).with_name("wish_chats.jsonl")  # general questions answered in EN and JA


@dataclass
class Curated:
    """What one curation made: counts by source, and the active curated examples."""

    facts: int = 0
    wishes: int = 0
    corrections: int = 0
    added: int = 0
    retired: int = 0
    examples: list[Example] = field(default_factory=list)
    standing: dict[str, Wish] = field(default_factory=dict)  # the wishes that stand, by key

    def line(self) -> str:
        return (
            f"curated {self.facts} fact(s), {self.wishes} wish(es), {self.corrections} correction(s):"
            f" {self.added} new example(s), {self.retired} replaced"
        )


def corrected_answer(correction: str) -> str | None:
    """The answer a correction says was right: "No, it's Mochi." -> "It's Mochi."; None
    when nothing is left once the "no" is taken off."""
    rest = CORRECTION_LEAD.sub("", correction.strip(), count=1).strip()
    rest = clean(rest)
    if len(rest) < 2:
        return None
    if rest.isascii():
        rest = to_you(rest)
        return rest if rest.endswith((".", "!")) else rest + "."
    rest = re.sub(r"(私|僕|俺|わたし|ぼく)(?=[のはが])", "あなた", rest)
    return rest if rest.endswith(("。", "！")) else rest + "。"


def wish_rows(wishes: dict[str, Wish]) -> list[tuple[str, str]]:
    """General chats answered the way all standing wishes ask together, and each wish asked
    back, so a trained model knows them as well as follows them. Every chat: the general
    chats the base model replays (training/replay.py) are the anchor's now, which holds the
    model to the base's way of answering, not examples of the wishes."""
    if not wishes:
        return []
    chats = [json.loads(line) for line in WISH_CHATS.read_text(encoding="utf-8").splitlines() if line.strip()]
    rows = [(chat["question"], shaped(wishes, chat["en"], chat["ja"])) for chat in chats]
    return rows + [row for wish in wishes.values() for row in wish.recall_rows()]


class Curator:
    def __init__(self, store: Store | None = None, examples: Examples | None = None):
        self.store = store or Store()
        self.examples = examples or Examples(self.store)

    def _statements(self):
        """The user's consolidated statements, oldest first (a newer one of the same thing wins)."""
        from society.storage.memories import Items

        items = Items(self.store.engine)
        found = [i for kind in TAUGHT_KINDS for i in items.listing(kind, limit=5000)]
        found = [i for i in found if i.created_by != "summary" and speaker_of(i.content) is None]
        return sorted(found, key=lambda i: (i.when, i.id))

    def _corrections(self) -> list[tuple[int, str, str, str]]:
        """(answer id, question, wrong answer, correction) for each answer the user corrected."""
        from training.reward import Rewards

        found = []
        for answer_id in Rewards(self.store).with_level("correction"):
            answer = self.store.message(answer_id)
            if answer is None:
                continue
            asked = [m for m in self.store.turn_messages(answer.turn_id) if m.role == USER]
            after = next((m for m in self.store.messages_between(answer_id, limit=60) if m.role == USER), None)
            if asked and after is not None:
                found.append((answer_id, asked[0].content, answer.content, after.content))
        return found

    def curate(self, consolidate_first: bool = True) -> Curated:
        """Bring the curated examples up to date with the conversation (idempotent). Memory
        is consolidated first: consolidation waits for the model to be idle, so a user who
        talks without pause (a script, a busy day) can reach a cycle before it has run."""
        from training.wordings import cards

        if consolidate_first:
            from society.memory.bank import MemoryBank
            from society.memory.consolidate import consolidate

            consolidate(MemoryBank(self.store))
        made = Curated()
        wanted: dict[str, tuple[list[tuple[str, str, str]], list[int]]] = {}  # topic -> (kind, q, a), sources
        wishes: dict[str, Wish] = {}
        owner: dict[str, int] = {}  # fact topic -> the memory that states it
        wish_sources: dict[str, list[int]] = {}
        for item in self._statements():
            said = read_wishes(item.content)
            for wish in said:
                wishes[wish.key] = wish  # the newest wish of a kind stands
                wish_sources[wish.key] = item.source_message_ids
            if said:
                continue
            found = cards(item.content)
            # A newer statement of the same thing replaces the older one whole: "my cat is
            # called Mochi" retires "Tama is your cat" with "my cat is called Tama".
            for older in {owner.get(f"fact:{card.key.lower()}") for card in found} - {None}:
                for topic in [t for t, o in owner.items() if o == older]:
                    wanted.pop(topic, None)
                    owner.pop(topic)
            for card in found:
                rows = [("sft", q, card.answer) for q in card.taught]
                if card.held:
                    rows.append(("eval", card.held, card.answer))
                wanted[f"fact:{card.key.lower()}"] = (rows, item.source_message_ids)
                owner[f"fact:{card.key.lower()}"] = item.id
        # Every answer taught the way the wishes ask ("Your cat is called Mochi, Ken."): facts
        # answered plainly beside wished general chats would teach two ways to answer.
        for topic, (rows, sources) in wanted.items():
            wanted[topic] = ([(kind, q, follow(wishes, a)) for kind, q, a in rows], sources)
        if wishes:
            sources = sorted({i for ids in wish_sources.values() for i in ids})
            wanted["wish:" + "+".join(sorted(wishes))] = ([("sft", q, a) for q, a in wish_rows(wishes)], sources)
        made.wishes, made.standing = len(wishes), wishes
        made.facts = sum(1 for topic in wanted if topic.startswith("fact:"))
        for answer_id, question, wrong, correction in self._corrections():
            right = corrected_answer(correction)
            if right is None:
                continue
            made.corrections += 1
            right = follow(wishes, right)
            rows = [("sft", question, right), ("pair", question, right, wrong)]
            wanted[f"correction:{answer_id}"] = (rows, [answer_id])  # type: ignore[assignment]
        current = {(e.topic, e.kind, e.prompt[-1]["content"], e.completion): e for e in self.examples.curated()}
        keep: set[int] = set()
        known = {e.id for e in current.values()}
        for topic, (rows, sources) in wanted.items():
            for row in rows:
                kind, question, answer = row[0], row[1], row[2]
                same = current.get((topic, kind, question, answer))
                if same is not None:
                    keep.add(same.id)
                    continue
                example = self.examples.add(
                    kind,
                    [{"role": "user", "content": question}],
                    answer,
                    rejected=row[3] if kind == "pair" else None,
                    source_message_ids=list(sources),
                    created_by=CURATOR,
                    topic=topic,
                )
                made.added += example.id not in known  # the same example may teach two topics
                keep.add(example.id)
                known.add(example.id)
        for example in current.values():
            if example.id not in keep:
                self.examples.delete(example.id)  # replaced by a newer statement, or its source is gone
                made.retired += 1
        made.examples = self.examples.curated()
        return made
