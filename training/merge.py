"""Children of same-base LoRA adapters: PEFT's exact `cat` merge with DARE per parent.

A genome holds, per layer group and per parent, a weight and a density. PEFT's
`add_weighted_adapter` takes one weight per adapter for all layers and builds a new adapter
each call (0.6 s each here, nine per child with 3 groups and 2 parents), so the child is
built by it once and refilled per genome, group by group, with PEFT's own pruning function.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

MAX_WEIGHT = 1.5
MIN_DENSITY = 0.1


@dataclass
class Gene:
    weight: float
    density: float


def decode(x: np.ndarray, groups: int, parents: int) -> list[list[Gene]]:
    """CMA-ES works in [0, 1] per coordinate: weight = 1.5 x, density = 0.1 + 0.9 x."""
    values = np.clip(np.asarray(x, dtype=float), 0.0, 1.0).reshape(groups, parents, 2)
    return [[Gene(MAX_WEIGHT * w, MIN_DENSITY + (1 - MIN_DENSITY) * d) for w, d in row] for row in values]


def encode(genome: list[list[Gene]]) -> np.ndarray:
    return np.array(
        [[(g.weight / MAX_WEIGHT, (g.density - MIN_DENSITY) / (1 - MIN_DENSITY)) for g in row] for row in genome]
    ).ravel()


def lora_layers(peft_model) -> dict[str, object]:
    """Every LoRA-wrapped module by name."""
    from peft.tuners.lora import LoraLayer

    return {name: module for name, module in peft_model.named_modules() if isinstance(module, LoraLayer)}


def layer_index(name: str) -> int:
    found = re.search(r"\.layers\.(\d+)\.", name)
    return int(found.group(1)) if found else 0


def group_of(name: str, layers: range, groups: int) -> int:
    """The genome's group of module `name` among the adapted `layers` (an adapter may hold
    only the top ones: training/lora.py `lora_config`)."""
    return min(groups - 1, (layer_index(name) - layers.start) * groups // max(1, len(layers)))


def breed(peft_model, parents: list[str], genome: list[list[Gene]], child: str, seed: int = 0) -> str:
    """Make (or remake) adapter `child` of `peft_model` from the loaded adapters `parents`.

    The child's structure is PEFT's exact `cat` merge (made once with add_weighted_adapter;
    a reused name is silently ignored by PEFT, so an existing child is refilled instead):
    the child's update is sum_i w_i * s_i * B_i A_i over the parents, with each parent's A
    and B thinned by PEFT's DARE pruning (random drop, rescale) at its gene's density."""
    import torch
    from peft.utils.merge_utils import random_pruning

    if child not in peft_model.peft_config:
        peft_model.add_weighted_adapter(parents, [1.0] * len(parents), child, combination_type="cat")
    layers = lora_layers(peft_model)
    indices = [layer_index(name) for name in layers]
    adapted = range(min(indices), 1 + max(indices))
    generator_state = torch.random.get_rng_state()
    torch.manual_seed(seed)  # DARE drops at random: seeded, so a genome makes one child
    try:
        with torch.no_grad():
            for name, module in layers.items():
                genes = genome[group_of(name, adapted, len(genome))]
                row = 0
                for parent, gene in zip(parents, genes, strict=True):
                    a, b = module.lora_A[parent].weight, module.lora_B[parent].weight
                    if gene.density < 0.999:
                        a = random_pruning(a, gene.density, rescale=True)
                        b = random_pruning(b, gene.density, rescale=True)
                    factor = (gene.weight * module.scaling[parent]) ** 0.5
                    rank = a.shape[0]
                    module.lora_A[child].weight[row : row + rank].copy_(a * factor)
                    module.lora_B[child].weight[:, row : row + rank].copy_(b * factor)
                    row += rank
                module.scaling[child] = 1.0
    finally:
        torch.random.set_rng_state(generator_state)
    return child
