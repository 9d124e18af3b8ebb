"""Memory settings: `memory.json` in the data folder. Missing means the defaults; a bad field
stops with one line naming it."""

from __future__ import annotations

from pathlib import Path

from pydantic import field_validator

from society.paths import settings_dir
from society.settings import Settings, load
from society.text.embeddings import DEFAULT_MODEL, SHIPPED

SETTINGS_NAME = "memory.json"


class MemorySettings(Settings):
    # universal-sentence-encoder-multilingual-v3, all-MiniLM-L6-v2 (English only), or the folder of a
    # sentence-transformers model; `society memory reindex` re-embeds everything after a change
    embedding_model: str = DEFAULT_MODEL
    # set true with a multilingual model from a folder: its vectors then count fully for Japanese
    multilingual_embeddings: bool = False
    recall_limit: int = 5  # memories put before each request
    min_score: float = 0.0  # recall leaves out memories scored below this
    fade_after_days: float = 30.0  # unrecalled chat chunks of low importance leave recall after this
    merge_similarity: float = 0.93  # cosine at which two memories of one kind are the same memory
    # A Chroma server (`chroma run`), e.g. "http://127.0.0.1:8000", instead of the data folder's
    # index: for a server shared by several processes or hosts (docs/deploy.md)
    vector_server: str | None = None

    @field_validator("vector_server")
    @classmethod
    def _a_server_url(cls, url: str | None) -> str | None:
        if url is not None and not url.startswith(("http://", "https://")):
            raise ValueError("must be the Chroma server's URL, like http://127.0.0.1:8000")
        return url

    @field_validator("embedding_model")
    @classmethod
    def _a_model_folder(cls, name: str) -> str:
        # Checked when the file is read, so a wrong path stops the command (and `society ui`
        # at start) with this line, instead of every recall failing later.
        if name not in SHIPPED and not Path(name).expanduser().is_dir():
            shipped = "', '".join(SHIPPED)
            raise ValueError(f"must be '{shipped}' or the folder of a downloaded sentence-transformers model")
        return name


def load_settings() -> MemorySettings:
    return load(settings_dir() / SETTINGS_NAME, MemorySettings)
