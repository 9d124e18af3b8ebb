"""Benchmark of what one adapter costs general chat; a script, not a test:

    uv run python tests/bench_parent.py BENCH_FOLDER [--set rank=4 --set learning_rate=3.1e-4 ...]

A learning cycle takes 12 minutes on 2 cores; this measures in 6 what decided every cycle of
tests/bench_teach.py so far: how much general knowledge an adapter that learnt the user's
facts keeps. It copies a finished bench_teach data folder, trains one parent as the cycle
does (its first slice of the curated examples, the general chats mixed in, learning.json's
settings with the `--set` ones over them) and asks, of the base and of the parent, alone
(Hugging Face greedy answers, no memory, no prompt of wishes):

  - the retention set as the cycle's guard scores it (training/fitness.py Recall; the cycle
    deploys nothing that falls more than `retention_tolerance` below the base), and its key
    words as bench_teach counts them;
  - tests/data/general_second_set.jsonl, which no setting was chosen on;
  - bench_teach's fact questions, recall off;
  - bench_teach's wish questions: is each standing wish followed without a prompt?
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("folder", type=Path, help="a data folder tests/bench_teach.py left (printed at its start)")
    parser.add_argument(
        "--set", action="append", default=[], metavar="NAME=JSON", help="a learning.json setting to try"
    )
    args = parser.parse_args()
    home = Path(tempfile.mkdtemp(prefix="bench-parent-"))
    shutil.copytree(args.folder, home, dirs_exist_ok=True, ignore=shutil.ignore_patterns("adapters", "*.lock"))
    os.environ.update({"SOCIETY_HOME": str(home), "SOCIETY_JUDGE": "0"})

    import bench_teach as teach

    from training.anchor import anchor_for
    from training.base import load_base
    from training.curate import wish_rows
    from training.cycle import _chat, curated_data, deal
    from training.fitness import Recall, says
    from training.lora import sized, train_adapter
    from training.replay import greedy_answers, replayed
    from training.retention import general_chats, retention_rows, with_retention
    from training.settings import LearningSettings, load_settings
    from training.wish_gate import taught_wishes

    tried = {key: json.loads(value) for key, _, value in (pair.partition("=") for pair in args.set)}
    model, tokenizer, name = load_base(None)
    # Set, not copied over: sized() leaves the settings a user chose as they are.
    settings = sized(LearningSettings(**{**load_settings().model_dump(exclude_unset=True), **tried}), model)
    rows, checks, wishes = curated_data(settings.seed)
    wishes, _ = taught_wishes(model, tokenizer, wishes, settings.retention_tolerance)
    rows = rows + [_chat(q, a) for q, a in wish_rows(wishes)]
    replay = replayed(model, tokenizer, wishes=wishes, base_name=name)
    second = [json.loads(line) for line in teach.SECOND_SET.read_text(encoding="utf-8").splitlines() if line.strip()]
    facts = teach.DEV + teach.REPORT
    general = [row["messages"][0]["content"] for row in retention_rows()]

    def measure(m, label: str) -> None:
        guard = Recall(tokenizer, retention_rows(wishes), 16).score(m)
        kept = teach.retention_kept(greedy_answers(m, tokenizer, general, 40))
        other_replies = greedy_answers(m, tokenizer, [row["q"] for row in second], 40)
        other = [says(row["key"], reply) for row, reply in zip(second, other_replies, strict=True)]
        replies = greedy_answers(m, tokenizer, [q for _, _, q, _ in facts], 40)
        known = [teach.knows(key, reply) for (*_, key), reply in zip(facts, replies, strict=True)]
        dev, report = known[: len(teach.DEV)], known[len(teach.DEV) :]
        wish_replies = greedy_answers(m, tokenizer, teach.WISH_QUESTIONS, 80)
        followed = " ".join(f"{sum(map(check, wish_replies))}/{len(wish_replies)}" for _, check in teach.WISHES)
        print(
            f"| {label} | {guard:.0%} | {sum(kept)}/{len(kept)} | {sum(other)}/{len(other)}"
            f" | {sum(dev)}/{len(dev)} | {sum(report)}/{len(report)} | {followed} |",
            flush=True,
        )

    print(
        "| model | the guard's general chat | general | second set | dev facts, recall off | report facts, recall off"
        " | wishes, no prompt (name, length, Japanese, plain) |"
    )
    print("|---|---|---|---|---|---|---|")
    measure(model, "base")
    first = deal(rows, settings.adapters_per_cycle, settings.seed)[0]  # the cycle's first parent's slice
    chats = general_chats(replay, wishes)  # as the cycle gives them
    mixed = with_retention(first, settings.retention_share, settings.seed, chats)
    started = time.perf_counter()
    anchor = anchor_for(model, tokenizer, chats, settings)
    trained = train_adapter("parent", mixed, [], home / "adapters", settings, (model, tokenizer, name), anchor=anchor)
    from peft import PeftModel

    seconds = time.perf_counter() - started
    measure(
        PeftModel.from_pretrained(model, str(trained.path)), f"parent: {len(mixed)} chats, {seconds:.0f} s, {tried}"
    )


if __name__ == "__main__":
    main()
