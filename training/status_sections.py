"""What `society status` shows of learning: what the judge's scores count, and what a
learning cycle would train now. Added to the core's report by society/assemble.py."""

from __future__ import annotations

from typing import Any

from society.models import ladder
from society.models.backends.ollama.api import described


def judge(entries, readings, reachable, store, **_: Any) -> dict[str, Any]:
    """The model that would judge now and what its scores count (training/calibration.py)."""
    from training.calibration import Calibrations, judge_line
    from training.reward import WEIGHTS

    chosen = ladder.plan(
        "judge", [described(e, readings.ollama_facts.get(e.model)) for e in entries], readings, reachable
    )
    model = chosen[0].entry.model if chosen else None
    calibrations = Calibrations(store)
    found = calibrations.get(model)
    return {
        "judge": {
            "model": model,
            "accuracy": round(found.accuracy, 3) if found else None,
            "weight": calibrations.weight(model, WEIGHTS["judge"]),
            "line": judge_line(calibrations, model),
        }
    }


def learning(entries, readings, roles, **_: Any) -> dict[str, Any]:
    """What a learning cycle would train now (training/target.py): the planner's model."""
    from training.settings import load_settings
    from training.target import learning_target

    chat_model = roles.get("planner", {}).get("model")
    entry = next((e for e in entries if e.model == chat_model), None)
    if entry is None:
        from training.schedule import last_line

        cycle = last_line()
        line = "learning: no model answers now, nothing to train" + (f"\n{cycle}" if cycle else "")
        return {"learning": {"hf_base": None, "missing": None, "line": line, "last_cycle": cycle}}
    target = learning_target(entry.model, entry.kind, readings.ollama_facts.get(entry.model), load_settings().hf_base)
    from society.memory.wish_verdicts import held_back
    from training.schedule import last_line

    cycle = last_line()
    line = "\n".join([target.line(), *([cycle] if cycle else []), *held_back(entry.model)])
    return {"learning": {"hf_base": target.hf_base, "missing": target.missing, "line": line, "last_cycle": cycle}}


SECTIONS = (judge, learning)
