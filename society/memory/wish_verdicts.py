"""Standing wishes a model was measured unable to follow, kept per model in the data folder.

A learning cycle measures whether the model it trains keeps what it knows when it answers in
the wished language (training/wish_gate.py). When it does not, asking it for that language
in every prompt asks it to lose what it knows: the Qwen2.5-0.5B, asked to answer the
retention questions in Japanese, says 27 % of the key words it says in English (66 %). So
the wish is kept (it is the user's, and a model that speaks the language follows it), but it
is not put in that model's prompt, and the user is told once why. A later cycle whose model passes clears
the verdict.

The file is written by the cycle's process and read by every conversation's process, as
deployments are; the core never imports training/.
"""

from __future__ import annotations

from society.memory.wishes import Wish, read_wishes
from society.paths import data_dir
from society.settings import read_json_object, save

VERDICTS = "wish_verdicts.json"


def _path():
    return data_dir() / VERDICTS


def record(model: str, wish: Wish, why: str | None) -> None:
    """What the cycle measured for `model` and `wish`: `why` it cannot follow it, or None
    when it can (the verdict, if any, is cleared)."""
    verdicts = read_json_object(_path())
    held = dict(verdicts.get(model) or {})
    if why is None:
        if held.pop(wish.key, None) is None:
            return
    else:
        held[wish.key] = {"value": wish.value, "why": why, "told": False}
    verdicts[model] = held
    save(_path(), {name: kept for name, kept in verdicts.items() if kept})


def followable(wishes: dict[str, Wish], model: str) -> tuple[dict[str, Wish], list[str]]:
    """(the wishes `model`'s prompt carries, lines to tell the user once): a wish measured
    beyond `model` is left out; its line is returned the first time only."""
    verdicts = read_json_object(_path())
    held = verdicts.get(model) or {}
    kept, tell = dict(wishes), []
    for key, verdict in held.items():
        if key in kept and kept[key].value == verdict.get("value"):
            del kept[key]
            if not verdict.get("told"):
                tell.append(
                    f'your wish "{wishes[key].instruction}" is kept but not given to {model}: {verdict.get("why")};'
                    " a model that speaks the language (qwen2.5:7b on Ollama, for one) will follow it"
                )
                verdict["told"] = True
    if tell:
        save(_path(), verdicts)
    return kept, tell


def without_held_back(prompt: str, model: str) -> str:
    """`prompt` without its lines that ask for a wish measured beyond `model`. The prompt
    editor writes the user's wishes into a role's prompt as rules ("From now on answer in
    Japanese." as the planner's version 2), and the reward bandit serves that version on some
    turns: measured with the bench's deployed 0.5B, such turns answered "Which company
    employs me?" with 「Kenさん、あなたは大阪で働いています。」 while the others said Toyota."""
    held = read_json_object(_path()).get(model) or {}
    if not held:
        return prompt

    def asks_held_back(line: str) -> bool:
        return any(held.get(wish.key, {}).get("value") == wish.value for wish in read_wishes(line))

    return "\n".join(line for line in prompt.split("\n") if not asks_held_back(line))


def held_back(model: str) -> list[str]:
    """One line per wish measured beyond `model` (`society status`)."""
    held = read_json_object(_path()).get(model) or {}
    return [f"the wish for {v.get('value')} ({key}) is not given to {model}: {v.get('why')}" for key, v in held.items()]
