"""The family tree as a picture: every individual's fitness per generation (dots), the kept
adapters (labelled) and lines from parents to children."""

from __future__ import annotations

from pathlib import Path

from training.lineage import Lineage


def plot_lineage(target: Path, lineage: Lineage | None = None) -> Path:
    import matplotlib

    matplotlib.use("Agg")  # files only, no display
    import matplotlib.pyplot as plt

    lineage = lineage or Lineage()
    adapters = lineage.adapters()
    figure, axis = plt.subplots(figsize=(9, 5))
    child_generation = {a.name: a.generation for a in adapters}
    for person in lineage.individuals():
        if person["fitness"] is not None:
            # Just left of the child their run produced, spread by CMA-ES generation.
            x = child_generation.get(f"run{person['run']}-child", 1) - 0.45 + 0.05 * person["generation"]
            axis.scatter(x, person["fitness"], s=8, color="0.75")
    where = {}
    for adapter in adapters:
        if adapter.fitness is None:
            continue
        x = adapter.generation
        where[adapter.name] = (x, adapter.fitness)
        axis.scatter(x, adapter.fitness, s=40, color="tab:blue" if adapter.kind == "trained" else "tab:red")
        axis.annotate(adapter.name, (x, adapter.fitness), fontsize=7, xytext=(4, 2), textcoords="offset points")
    for adapter in adapters:
        for parent in adapter.parents:
            if adapter.name in where and parent in where:
                (x0, y0), (x1, y1) = where[parent], where[adapter.name]
                axis.plot([x0, x1], [y0, y1], color="0.5", linewidth=0.8)
    current = lineage.current()
    axis.set_title(f"society lineage (deployed: {current.adapter if current and current.adapter else 'base model'})")
    axis.set_xlabel("generation (grey: CMA-ES individuals of each evolution)")
    axis.set_ylabel("fitness (held-out answer recall)")
    figure.tight_layout()
    figure.savefig(target, dpi=120)
    plt.close(figure)
    return target
