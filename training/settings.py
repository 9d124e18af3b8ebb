"""Learning settings: `learning.json` in the data folder. Missing means the defaults."""

from __future__ import annotations

from society.paths import data_dir
from society.settings import Settings, load

SETTINGS_NAME = "learning.json"


class LearningSettings(Settings):
    every_interactions: int = 100  # a learning cycle starts by itself after this many turns (0: never)
    # Ollama users: the Hugging Face model their Ollama model was made from (for example
    # "Qwen/Qwen2.5-7B-Instruct"), trained as 4-bit QLoRA on the GPU. None: the embedded model.
    hf_base: str | None = None
    ollama_model: str | None = None  # the Ollama model the adapter is added to (a new tag)
    rank: int = 8
    alpha: int = 16
    steps: int = 60
    learning_rate: float = 1e-3
    max_length: int = 256
    adapters_per_cycle: int = 2  # data slices, one adapter each
    population: int = 12  # CMA-ES population per generation
    evaluations: int = 60  # CMA-ES evaluations per evolution
    layer_groups: int = 3  # the genome has a weight and a density per parent per group
    retention_tolerance: float = 0.1  # allowed fall of the retention log-likelihood per token
    seed: int = 0


def load_settings() -> LearningSettings:
    return load(data_dir() / SETTINGS_NAME, LearningSettings)
