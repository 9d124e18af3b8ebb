"""The vector index: a persistent ChromaDB collection in the data folder (or on a Chroma
server that several processes and hosts share: `vector_server` in memory.json), holding one
vector per active memory. It is derived data: `rebuild()` (or `society memory reindex`)
makes it again from the database, and an index that cannot be opened is moved aside and
rebuilt."""

from __future__ import annotations

import shutil
import time
from pathlib import Path

import numpy as np

from society.errors import UnavailableError

COLLECTION = "memories"
# ChromaDB's default search breadth (ef 10) missed the nearest memories when many stored
# chunks are alike (measured by tests/bench_memory.py); a wider search costs a few ms.
HNSW = {"hnsw:space": "cosine", "hnsw:search_ef": 128, "hnsw:construction_ef": 200, "hnsw:M": 32}


class IndexUnreadable(RuntimeError):
    """The index folder exists but ChromaDB cannot open it."""


class IndexUnavailable(UnavailableError):
    """The Chroma server named in memory.json does not answer."""


def server_client(url: str):
    """A ChromaDB client of the server at `url` (http://host:port)."""
    from urllib.parse import urlsplit

    import chromadb
    from chromadb.config import Settings

    parts = urlsplit(url)
    return chromadb.HttpClient(
        host=parts.hostname or "localhost",
        port=parts.port or (443 if parts.scheme == "https" else 8000),
        ssl=parts.scheme == "https",
        settings=Settings(anonymized_telemetry=False),
    )


class VectorIndex:
    def __init__(self, path: Path, model: str, server: str | None = None, collection: str = COLLECTION):
        """The index in the folder `path`, or in `collection` on the Chroma `server`."""
        self.path = path
        self.model = model
        self.server, self.name = server, collection
        self._collection = None
        # Counting costs 13 ms at 100,000 vectors and every search needs the size: counted
        # when opened and after each change, not per search.
        self._size: int | None = None

    def _open(self):
        if self._collection is not None:
            return self._collection
        import chromadb
        from chromadb.config import Settings

        try:
            if self.server:
                client = server_client(self.server)
            else:
                client = chromadb.PersistentClient(path=str(self.path), settings=Settings(anonymized_telemetry=False))
            collection = client.get_or_create_collection(self.name, metadata={**HNSW, "embedding_model": self.model})
            self._size = collection.count()
        except Exception as err:  # noqa: BLE001 - any failure to open means the files are unusable
            if self.server:  # a server down is not a broken index: nothing to move aside
                raise IndexUnavailable(f"the Chroma server at {self.server} cannot be reached ({err})") from err
            raise IndexUnreadable(f"the memory index at {self.path} cannot be read ({type(err).__name__})") from err
        self._client, self._collection = client, collection
        return collection

    def _reopened(self):
        """The collection opened afresh. Another process may have rebuilt the folder
        (`society memory reindex` while a server runs); ChromaDB keeps one system per folder
        per process, which then reads files that are gone, so that system is dropped."""
        from chromadb.api.client import SharedSystemClient

        self._collection = None
        if not self.server:
            SharedSystemClient.clear_system_cache()
        return self._open()

    def _call(self, operation):
        """`operation(collection)`, once more on a reopened collection if the files changed
        under this process."""
        try:
            return operation(self._open())
        except (IndexUnreadable, IndexUnavailable):
            raise
        except Exception:  # noqa: BLE001 - chromadb's own errors for files replaced under it
            return operation(self._reopened())

    def built_with(self) -> str | None:
        return (self._call(lambda c: c.metadata) or {}).get("embedding_model")

    def count(self) -> int:
        self._size = self._call(lambda c: c.count())
        return self._size

    def size(self) -> int:
        """The count as of the last change this process made (another process's additions
        show after its next change or reopening)."""
        return self._size if self._size is not None and self._collection is not None else self.count()

    def add(self, ids: list[int], vectors: np.ndarray) -> None:
        def upsert(collection) -> None:
            step = max(1, min(5000, self._client.get_max_batch_size()))
            for start in range(0, len(ids), step):
                chunk = slice(start, start + step)
                collection.upsert(ids=[str(i) for i in ids[chunk]], embeddings=vectors[chunk])

        self._call(upsert)
        self.count()

    def delete(self, ids: list[int]) -> None:
        if ids:
            self._call(lambda c: c.delete(ids=[str(i) for i in ids]))
            self.count()

    def query(self, vector: np.ndarray, limit: int) -> list[tuple[int, float]]:
        """(memory id, cosine similarity), nearest first."""

        def nearest(collection) -> list[tuple[int, float]]:
            count = self.size()
            if count < limit:  # small, or another process has added since: counting is cheap then
                count = self.count()
            if count == 0:
                return []
            found = collection.query(query_embeddings=[vector], n_results=min(limit, count), include=["distances"])
            return [(int(i), 1.0 - float(d)) for i, d in zip(found["ids"][0], found["distances"][0], strict=True)]

        return self._call(nearest)

    def vectors(self, ids: list[int]) -> dict[int, np.ndarray]:
        if not ids:
            return {}
        found = self._call(lambda c: c.get(ids=[str(i) for i in dict.fromkeys(ids)], include=["embeddings"]))
        return {int(i): np.asarray(v) for i, v in zip(found["ids"], found["embeddings"], strict=True)}

    def sample(self, limit: int) -> np.ndarray:
        """Up to `limit` of the stored vectors."""
        found = self._call(lambda c: c.get(limit=limit, include=["embeddings"]))
        return np.asarray(found["embeddings"], dtype=np.float32)

    def reset(self, broken: bool = False) -> Path | None:
        """Start empty. A folder that cannot be opened (`broken`, or failing now) is kept
        beside it for a bug report, not deleted; returns where it went."""
        import chromadb
        from chromadb.api.client import SharedSystemClient
        from chromadb.config import Settings

        self._collection = None
        if self.server:
            try:
                server_client(self.server).delete_collection(self.name)
            except Exception:  # noqa: BLE001 - not there yet: nothing to reset
                pass
            return None
        if not self.path.exists():
            return None
        if not broken:
            try:
                client = chromadb.PersistentClient(path=str(self.path), settings=Settings(anonymized_telemetry=False))
                client.delete_collection(COLLECTION)
                return None
            except Exception:  # noqa: BLE001 - unreadable: move it aside instead
                pass
        # ChromaDB keeps one system per folder per process; drop it with the folder.
        SharedSystemClient.clear_system_cache()
        moved = self.path.with_name(f"{self.path.name}.broken-{int(time.time() * 1000)}")
        shutil.move(str(self.path), moved)
        return moved
