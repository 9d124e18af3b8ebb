"""The memory bank: remember, recall, update, forget and reindex, over SQLite (the truth),
the FTS5 keyword index (in the same database) and the ChromaDB vector index (derived).

Recall is hybrid: the vector and keyword scores are normalised and combined (see recall()),
then weighted a little by importance and recency, and near-duplicates are dropped.
"""

from __future__ import annotations

import hashlib
import math
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from society.memory.extract import importance as rate
from society.memory.index import IndexUnreadable, VectorIndex
from society.memory.settings import MemorySettings, load_settings
from society.paths import data_dir
from society.storage.memories import Items, MemoryItem
from society.storage.store import Store
from society.text import cjk
from society.text.dates import period
from society.text.embeddings import Embedder, embedder
from society.text.keywords import STOP, terms, trigrams

VECTOR_WEIGHT = 0.5  # of the vector scores in hybrid recall; the keyword scores get the rest
# With a multilingual model, whose vectors also match across languages; tuned on the dev
# conversations of tests/bench_memory.py --conversations (0.5: recall@10 85.3; 0.7: 86.6).
MULTILINGUAL_VECTOR_WEIGHT = 0.7
FOREIGN_VECTOR_WEIGHT = 0.2  # for text an English-only embedding model reads poorly
# For a question naming a period (dev conversations, one memory: temporal recall@10 at 0.5
# 61.3, at 0.3 65.0, keywords alone 66.2; all questions 74.2 and 74.7).
PERIOD_VECTOR_WEIGHT = 0.3
CROSS_LINGUAL_NEAREST = 5  # nearest memories whose language tells a cross-lingual question
CANDIDATES = 30  # from each index, before fusion
RECENCY_DAYS = 90.0
# Share of character trigrams two memories may have in common and still both be shown (or
# kept): 「田中花子さんは大阪に住んでいます」 and 「田中太郎さんは…」 share 60% and are two facts.
DUPLICATE_OVERLAP = 0.9
EMBED_BATCH = 256
# Memories that match everything ("Melanie: I love it.") sit near the middle of all the
# vectors: a memory's vector similarity loses this much of its similarity to that middle.
HUB_WEIGHT = 0.75  # (0: recall@10 86.2 on the dev conversations; 0.5: 90.8; 1.0: 90.7)
HUB_SAMPLE = 2000  # vectors the middle is estimated from, again when the index grew by a fifth
SHORT_TERMS = 6  # a memory with fewer terms than this (speaker labels aside) counts for less
IN_PERIOD = 3.0  # a memory said in the period a question names ("in May", 「先週」)
BRIDGES = 3  # memories of the first search looked at for names, and names added to the second
# A name: a capitalised word (not one of the keyword stop words), or a katakana or kanji run.
NAME = re.compile(r"\b[A-Z][a-z][\w'-]*|[" + cjk.KATAKANA + "]{2,}|[" + cjk.KANJI + "]{2,}")


@dataclass(frozen=True)
class Recalled:
    item: MemoryItem
    score: float
    via: str  # vector, keyword or both


SPEAKER = re.compile(r"^\w+: ", re.MULTILINE)  # "User: " and "planner: " in turn chunks


def _trigrams(text: str) -> set[str]:
    return trigrams(SPEAKER.sub("", text))


def _covered(a: set[str], b: set[str]) -> float:
    """The share of `a`'s trigrams that `b` has too: 1.0 when `b` says all `a` says."""
    return len(a & b) / max(1, len(a))


def same_wording(a: str, b: str) -> bool:
    """Whether the two texts nearly repeat each other (each has nearly all of the other's trigrams)."""
    grams_a, grams_b = _trigrams(a), _trigrams(b)
    return min(_covered(grams_a, grams_b), _covered(grams_b, grams_a)) >= DUPLICATE_OVERLAP


def brevity(content: str) -> float:
    """1 for a memory that says something; less for "Melanie: I love it.", which matches
    any question about Melanie and answers none."""
    said = len(terms(SPEAKER.sub("", content)))
    return min(1.0, said / SHORT_TERMS) ** 0.5


def _age_days(created_at: str) -> float:
    try:
        created = datetime.fromisoformat(created_at)
    except ValueError:
        return 0.0
    return max(0.0, (datetime.now(UTC) - created).total_seconds() / 86400)


class MemoryBank:
    def __init__(
        self,
        store: Store | None = None,
        settings: MemorySettings | None = None,
        notify: Callable[[str], None] | None = None,
    ):
        self.store = store or Store()
        self.settings = settings or load_settings()
        self.items = Items(self.store.engine)
        self.notify = notify or (lambda line: None)
        self.embedder: Embedder = embedder(self.settings.embedding_model)
        self._index: VectorIndex | None = None
        self._middle: tuple[int, object] | None = None  # (index size, unit mean vector)
        self._lock = threading.RLock()  # consolidation runs in a worker thread

    @property
    def index_path(self):
        return data_dir() / "chroma"

    def _vector_index(self) -> VectorIndex:
        """The index of this conversation: the data folder's, or on the Chroma server a
        collection named after the database, so conversations sharing a server stay apart."""
        server = self.settings.vector_server
        collection = f"memories-{hashlib.sha256(self.store.where.encode()).hexdigest()[:16]}" if server else "memories"
        return VectorIndex(self.index_path, self.settings.embedding_model, server, collection)

    # -- the vector index -----------------------------------------------------------------

    def index(self) -> VectorIndex:
        """The open vector index. Unreadable, built with another model, or missing vectors
        the database says it has (its folder was deleted), it is rebuilt from SQLite."""
        with self._lock:
            if self._index is not None:
                return self._index
            model = self.settings.embedding_model
            index = self._vector_index()
            try:
                stale = index.built_with() != model
            except IndexUnreadable as err:
                moved = index.reset(broken=True)
                self.notify(f"{err}; rebuilding it from the conversation database (old files: {moved})")
                stale = True
            if stale or index.count() < self.items.embedded_count(model):
                self.items.forget_embeddings()
                index.reset()
                index = self._vector_index()
            self._index = index
            self.embed_pending()
            return index

    def embed_pending(self) -> int:
        """Embed every active memory without a vector from the current model, in batches."""
        with self._lock:
            index = self._index or self.index()
            done = 0
            while batch := self.items.unembedded(self.settings.embedding_model, EMBED_BATCH):
                vectors = self.embedder.encode([item.content for item in batch])
                index.add([item.id for item in batch], vectors)
                self.items.mark_embedded([item.id for item in batch], self.settings.embedding_model)
                done += len(batch)
            return done

    def reindex(self) -> int:
        """Rebuild the vector index from SQLite; the number of memories indexed."""
        with self._lock:
            index = self._vector_index()
            moved = index.reset()
            if moved:
                self.notify(f"the old index could not be opened; kept it at {moved}")
            self._index = None
            self.items.forget_embeddings()
            self.index()
            return self._index.count() if self._index else 0

    # -- writing --------------------------------------------------------------------------

    def remember(
        self,
        content: str,
        kind: str = "fact",
        importance: float | None = None,
        created_by: str = "memory_keeper",
        source_message_ids: list[int] | None = None,
        turn_id: int | None = None,
        embed: bool = True,
        said_at: str | None = None,
    ) -> MemoryItem:
        content = content.strip()
        if not content:
            raise ValueError("the memory is empty; say what to remember")
        item = self.items.add(
            kind,
            content,
            rate(content, kind) if importance is None else importance,
            created_by,
            source_message_ids,
            turn_id,
            said_at,
        )
        if embed:
            self.embed_pending()
        return item

    def update(self, memory_id: int, content: str) -> MemoryItem:
        content = content.strip()
        if not content:
            raise ValueError("the new content is empty; use forget to drop a memory")
        with self._lock:
            item = self.items.update(memory_id, content=content, embedded_with=None)
            self.embed_pending()
            return item

    def forget(self, memory_id: int) -> MemoryItem:
        """Leave recall; the memory stays in the database with status 'forgotten'."""
        with self._lock:
            item = self.items.update(memory_id, status="forgotten")
            self.index().delete([memory_id])
            return item

    def retire(self, memory_id: int, status: str, merged_into: int | None = None) -> None:
        """Consolidation: a memory fades or is merged into another."""
        with self._lock:
            self.items.update(memory_id, status=status, merged_into=merged_into)
            self.index().delete([memory_id])

    # -- recall ---------------------------------------------------------------------------

    def vector_search(self, query: str, limit: int = CANDIDATES) -> list[tuple[int, float]]:
        """(id, cosine similarity less the memory's hubness) of the nearest active
        memories, best first."""
        import numpy as np

        vector = self.embedder.encode([query])[0]
        index = self.index()
        found = index.query(vector, limit)
        active = self.items.active_ids([i for i, _ in found])
        found = [(i, similarity) for i, similarity in found if i in active]
        middle = self._middle_vector(index)
        if middle is None or not found:
            return found
        vectors = index.vectors([i for i, _ in found])
        hubness = {i: float(np.dot(v, middle)) for i, v in vectors.items()}
        found = [(i, similarity - HUB_WEIGHT * hubness.get(i, 0.0)) for i, similarity in found]
        return sorted(found, key=lambda pair: pair[1], reverse=True)

    def _middle_vector(self, index: VectorIndex):
        """The unit mean of (a sample of) the stored vectors: what generic text is near."""
        import numpy as np

        count = index.size()
        if count < 50:
            return None  # too few memories for a middle that means anything
        if self._middle is None or count > self._middle[0] * 1.2:
            sample = index.sample(HUB_SAMPLE)
            mean = sample.mean(axis=0)
            self._middle = (count, mean / max(1e-9, float(np.linalg.norm(mean))))
        return self._middle[1]

    def vector_ids(self, query: str, limit: int = CANDIDATES) -> list[int]:
        return [i for i, _ in self.vector_search(query, limit)]

    def multilingual(self) -> bool:
        return self.settings.multilingual_embeddings or self.embedder.multilingual

    def vector_weight(self, query: str, vector_found: list[tuple[int, float]], in_period: bool) -> float:
        """How much the vector ranking counts against the keyword one (which gets the rest).

        - A question in one language about memories in another (its nearest memories are
          mostly in the other script): the vectors alone, since no keyword can match across
          languages (crowded dev conversations: cross-lingual recall@10 75.0 -> 90.6).
        - A question naming a period ("in May"): the keywords mostly, whose search also looks
          at what was said then (temporal recall@10 55.6 -> 65.0).
        - Otherwise a multilingual model's share is MULTILINGUAL_VECTOR_WEIGHT; an English-only
          model (MiniLM) places Japanese poorly, so its share falls with the query's share of
          Japanese letters."""
        if self.multilingual() and vector_found:
            nearest = self.items.many([i for i, _ in vector_found[:CROSS_LINGUAL_NEAREST]])
            other = sum(1 for item in nearest if _mostly_foreign(_said(item.content)) != _mostly_foreign(query))
            if other * 2 > len(nearest):
                return 1.0
        if in_period:
            return PERIOD_VECTOR_WEIGHT
        if self.multilingual():
            return MULTILINGUAL_VECTOR_WEIGHT
        share = _foreign_share(query)
        return VECTOR_WEIGHT * (1 - share) + FOREIGN_VECTOR_WEIGHT * share

    def recall(
        self,
        query: str,
        limit: int | None = None,
        mode: str = "hybrid",
        touch: bool = True,
        skip_turns_from: int | None = None,
    ) -> list[Recalled]:
        """The memories most relevant to `query`, best first. `mode`: hybrid, vector or
        keyword. Chunks of turns from `skip_turns_from` on are left out (the verbatim
        history already shows them). Recalled memories count as accessed when `touch`."""
        limit = limit or self.settings.recall_limit
        if not query.strip():
            return []
        rankings: dict[str, list[tuple[int, float]]] = {}
        span = period(query)
        said_between = (span[0].isoformat(), span[1].isoformat()) if span else None
        if mode in ("hybrid", "vector"):
            rankings["vector"] = self.vector_search(query)
        if mode in ("hybrid", "keyword"):
            found = self.items.keyword_search(query, CANDIDATES)
            if said_between:  # what was said then, even when other times match the words better
                seen = {i for i, _ in found}
                found += [p for p in self.items.keyword_search(query, CANDIDATES, said_between) if p[0] not in seen]
                found.sort(key=lambda pair: pair[1], reverse=True)
            rankings["keyword"] = found
        weights = {"vector": 1.0, "keyword": 1.0}
        if mode == "hybrid":
            weights["vector"] = self.vector_weight(query, rankings["vector"], said_between is not None)
            weights["keyword"] = 1.0 - weights["vector"]
        # Convex combination of min-max normalised scores: better than rank fusion when the
        # scores mean something (Bruch et al., "An Analysis of Fusion Functions for Hybrid
        # Retrieval", 2023), and it lets one list count for more than the other.
        fused: dict[int, float] = {}
        via: dict[int, set[str]] = {}
        for name, found in rankings.items():
            if not found:
                continue
            top, bottom = found[0][1], min(score for _, score in found)
            spread = top - bottom
            for memory_id, score in found:
                normalised = (score - bottom) / spread if spread > 1e-9 else 1.0
                fused[memory_id] = fused.get(memory_id, 0.0) + weights[name] * normalised
                via.setdefault(memory_id, set()).add(name)
        scored = []
        for item in self.items.many(list(fused)):
            if skip_turns_from is not None and item.kind == "turn" and (item.turn_id or 0) >= skip_turns_from:
                continue
            recency = math.exp(-_age_days(item.when) / RECENCY_DAYS)
            weight = (0.75 + 0.25 * item.importance) * (0.9 + 0.1 * recency) * brevity(item.content)
            if said_between and said_between[0] <= item.when < said_between[1]:
                weight *= IN_PERIOD
            scored.append((fused[item.id] * weight, item))
        scored.sort(key=lambda pair: pair[0], reverse=True)
        chosen: list[Recalled] = []
        kept: list[set[str]] = []
        for score, item in scored:
            grams = _trigrams(item.content)
            if any(_covered(grams, other) >= DUPLICATE_OVERLAP for other in kept):
                continue  # says nothing a better memory above it did not
            if score < self.settings.min_score:
                continue
            names = via[item.id]
            found = Recalled(item, score, "both" if len(names) > 1 else next(iter(names)))
            # A fact extracted from a turn, shown above the turn: the turn takes its place
            # (it says the fact with who said it and what came with it) instead of a second line.
            inside = next((n for n, other in enumerate(kept) if _covered(other, grams) >= DUPLICATE_OVERLAP), None)
            if inside is not None:
                kept[inside], chosen[inside] = grams, Recalled(item, chosen[inside].score, found.via)
                continue
            kept.append(grams)
            chosen.append(found)
            if len(chosen) == limit:
                break
        if touch:
            self.items.touch([r.item.id for r in chosen])
        return chosen

    def recall_two_step(self, query: str, limit: int | None = None, touch: bool = True) -> list[Recalled]:
        """Recall, then once more with the names the best memories mention that the question
        does not ("the sister of the person who adopted Biscuit" -> "Melanie: We named it
        Biscuit." -> search again with "Melanie"), for questions whose answer hangs on a
        first one. The second search's new finds take the last places, at most two."""
        limit = limit or self.settings.recall_limit
        first = self.recall(query, limit, touch=False)
        asked = query.lower()
        bridges: list[str] = []
        for found in first[:BRIDGES]:  # the best memory that names something new: the others may be wrong
            bridges = [n for n in dict.fromkeys(NAME.findall(found.item.content)) if n.lower() not in asked]
            bridges = [n for n in bridges if n.lower() not in STOP]
            if bridges:
                break
        chosen = first
        if bridges:
            seen = {r.item.id for r in first}
            second = self.recall(f"{query} {' '.join(bridges[:BRIDGES])}", limit, touch=False)
            new = [r for r in second if r.item.id not in seen][:2]
            chosen = first[: limit - len(new)] + new
        if touch:
            self.items.touch([r.item.id for r in chosen])
        return chosen


def _foreign_share(text: str) -> float:
    """Share of the letters of `text` that are not ASCII (Japanese, mostly)."""
    letters = [c for c in text if c.isalnum()]
    return sum(1 for c in letters if not c.isascii()) / max(1, len(letters))


def _mostly_foreign(text: str) -> bool:
    return _foreign_share(text) > 0.3


def _said(content: str) -> str:
    """A memory's words without its speaker label ("Melanie: ..."), which is in the
    script of the name, not of what was said."""
    head, colon, rest = content.partition(":")
    return rest if colon and len(head) <= 40 else content
