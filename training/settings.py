"""Learning settings: `learning.json` in the data folder. Missing means the defaults."""

from __future__ import annotations

from society.paths import settings_dir
from society.settings import Settings, load

SETTINGS_NAME = "learning.json"


class LearningSettings(Settings):
    every_interactions: int = 100  # a learning cycle starts by itself after this many turns (0: never)
    # The Hugging Face model the chat's Ollama model was made from, trained as 4-bit QLoRA on
    # the GPU. None: found from Ollama's /api/show (training/target.py); the embedded model
    # trains as itself.
    hf_base: str | None = None
    ollama_model: str | None = None  # set by the cycle: the Ollama model a new tag is made from
    rank: int = 16
    # LoRA on this share of the model's layers, the top ones (1: all): backpropagation then
    # stops at the lowest adapted layer. bench_teach (the 0.5B, 2 cores), with anchor_batch 2
    # against all layers and 4, two cycles against one: the cycle 9.0 min instead of 12.1, a
    # step 5 s instead of 8; the child knew the report facts 10/10 and 8/10 (before: 8/10) and
    # general chat 16 and 17 of 20 (base 17; before: 17).
    lora_layers: float = 0.5
    alpha: int = 32
    # Passes over each adapter's examples: at 6 the development facts' parents held 12/12 and
    # 12/12 (11/12 at 5) and the report facts' child 24/24 (21-22/24 at 5), 2.8-2.9 min a cycle.
    epochs: float = 6.0
    steps: int | None = None  # a fixed number of optimizer steps instead of `epochs`
    max_steps: int = 120  # at most, whatever the epochs say (a cycle stays within minutes)
    learning_rate: float = 2e-3
    max_length: int = 256
    batch_size: int = 8  # per step (QLoRA: the memory plan may lower it; accumulation keeps 8)
    scorer_batch: int = 16  # chats scored at once when comparing children (QLoRA: set by the memory plan)
    # General chats mixed into each adapter's data as examples to copy: the shipped ones and the
    # base model's own answers (training/replay.py). 0: they are the anchor's instead, which
    # kept more (tests/bench_parent.py, one parent of the 0.5B: at 0.4 without the anchor it
    # answered 12 of 20 general questions and 14 of a second set's 30; at 0 with the anchor 15
    # and 18, the base 17 and 17) in the same training time.
    retention_share: float = 0.0
    # Each training step also pulls the model towards the base's own next-token probabilities
    # on a batch of `anchor_batch` general chats, weighted so (training/anchor.py). 0: off.
    # At 3 instead of 1 the parent above knew 7 of 10 facts instead of 9, and no more general.
    anchor_weight: float = 1.0
    anchor_batch: int = 2
    adapters_per_cycle: int = 2  # data slices, one adapter each
    population: int = 4  # CMA-ES population per generation
    # CMA-ES evaluations per evolution (each child answers the held-out questions): one
    # generation of 4; the heal after it does more than a longer search (merges before the
    # heal held 12-17 of 24 facts with 6 evaluations, 14 with 4; children 18-23 either way).
    evaluations: int = 4
    # After the merge, the chosen child trains this many steps on all its parents' examples
    # (merge, then heal). 0: none. It was 16, tuned on the 135M. In bench_teach's cycles of the
    # 0.5B the merges held 57-94 % of the kept-out wordings; of five heals two scored below
    # the merge and were discarded, three were kept, and none changed what was deployed. It
    # cost 2.5 of a cycle's 15.6 minutes.
    heal_steps: int = 0
    heal_learning_rate: float = 5e-4  # the training's rate undid the merge (measured: 12/24 facts, 21/24 at this)
    layer_groups: int = 3  # the genome has a weight and a density per parent per group
    retention_tolerance: float = 0.05  # allowed fall of the key words found in answers to general questions
    seed: int = 0


def load_settings() -> LearningSettings:
    return load(settings_dir() / SETTINGS_NAME, LearningSettings)
