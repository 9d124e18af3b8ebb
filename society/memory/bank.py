"""The memory bank: remember, recall, update, forget and reindex, over SQLite (the truth),
the FTS5 keyword index (in the same database) and the ChromaDB vector index (derived).

Recall is hybrid: the vector and keyword scores are normalised and combined (see recall()),
then weighted a little by importance and recency, and near-duplicates are dropped.
"""

from __future__ import annotations

import math
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from society.memory.embed import Embedder, embedder
from society.memory.extract import importance as rate
from society.memory.index import IndexUnreadable, VectorIndex
from society.memory.items import Items, MemoryItem
from society.memory.keywords import trigrams
from society.memory.settings import MemorySettings, load_settings
from society.paths import data_dir
from society.store import Store

VECTOR_WEIGHT = 0.5  # of the vector scores in hybrid recall; the keyword scores get the rest
FOREIGN_VECTOR_WEIGHT = 0.2  # for text an English-only embedding model reads poorly
CANDIDATES = 30  # from each index, before fusion
RECENCY_DAYS = 90.0
# Share of character trigrams two memories may have in common and still both be shown (or
# kept): 「田中花子さんは大阪に住んでいます」 and 「田中太郎さんは…」 share 60% and are two facts.
DUPLICATE_OVERLAP = 0.9
EMBED_BATCH = 256


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
        self._lock = threading.RLock()  # consolidation runs in a worker thread

    @property
    def index_path(self):
        return data_dir() / "chroma"

    # -- the vector index -----------------------------------------------------------------

    def index(self) -> VectorIndex:
        """The open vector index. Unreadable, built with another model, or missing vectors
        the database says it has (its folder was deleted), it is rebuilt from SQLite."""
        with self._lock:
            if self._index is not None:
                return self._index
            model = self.settings.embedding_model
            index = VectorIndex(self.index_path, model)
            try:
                stale = index.built_with() != model
            except IndexUnreadable as err:
                moved = index.reset(broken=True)
                self.notify(f"{err}; rebuilding it from the conversation database (old files: {moved})")
                stale = True
            if stale or index.count() < self.items.embedded_count(model):
                self.items.forget_embeddings()
                index.reset()
                index = VectorIndex(self.index_path, model)
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
            index = VectorIndex(self.index_path, self.settings.embedding_model)
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
        """(id, cosine similarity) of the nearest active memories, nearest first."""
        vector = self.embedder.encode([query])[0]
        found = self.index().query(vector, limit)
        active = self.items.active_ids([i for i, _ in found])
        return [(i, similarity) for i, similarity in found if i in active]

    def vector_ids(self, query: str, limit: int = CANDIDATES) -> list[int]:
        return [i for i, _ in self.vector_search(query, limit)]

    def vector_weight(self, query: str) -> float:
        """How much the vector ranking counts against the keyword one. An English-only
        embedding model (the default) places Japanese text poorly, so for a Japanese query
        its share falls with the share of Japanese characters."""
        if self.settings.multilingual_embeddings:
            return VECTOR_WEIGHT
        letters = [c for c in query if c.isalnum()]
        foreign = sum(1 for c in letters if not c.isascii()) / max(1, len(letters))
        return VECTOR_WEIGHT * (1 - foreign) + FOREIGN_VECTOR_WEIGHT * foreign

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
        weights = {"vector": self.vector_weight(query) if mode == "hybrid" else 1.0}
        weights["keyword"] = 1.0 - weights["vector"] if mode == "hybrid" else 1.0
        rankings: dict[str, list[tuple[int, float]]] = {}
        if mode in ("hybrid", "vector"):
            rankings["vector"] = self.vector_search(query)
        if mode in ("hybrid", "keyword"):
            rankings["keyword"] = self.items.keyword_search(query, CANDIDATES)
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
            recency = math.exp(-_age_days(item.created_at) / RECENCY_DAYS)
            weight = (0.75 + 0.25 * item.importance) * (0.9 + 0.1 * recency)
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
            kept.append(grams)
            names = via[item.id]
            chosen.append(Recalled(item, score, "both" if len(names) > 1 else next(iter(names))))
            if len(chosen) == limit:
                break
        if touch:
            self.items.touch([r.item.id for r in chosen])
        return chosen
