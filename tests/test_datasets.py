"""Tuning datasets: examples from conversation messages, editing, labelling, cleaning, and
exports that `datasets` loads in the shapes TRL's trainers read."""

import json

import pytest

from roles.data_curator import data_tools
from society.storage.store import Store
from tests.conftest import society
from training.datasets import ExampleError, Examples
from training.export import export


def converse(store, pairs):
    """Stored turns of (user, answer); the answers' message ids."""
    ids = []
    for question, answer in pairs:
        turn = store.begin_turn(question, "cli")
        ids.append(store.add_message(turn.turn_id, "planner", answer).id)
        store.end_turn(turn.turn_id, "done")
    return ids


async def call(tools, name, **arguments):
    return await {t.name: t for t in tools}[name].run_json(arguments, None)


async def test_the_curators_tools_make_edit_label_and_delete_examples():
    store = Store()
    first, second = converse(store, [("Capital of France?", "Lyon."), ("Capital of Japan?", "Tokyo.")])
    examples = Examples(store)
    tools = data_tools(examples)
    assert "#1 sft: Capital of Japan? -> Tokyo." in await call(tools, "add_example")  # the last answer
    assert "#2 sft bad: Capital of France? -> Lyon." in await call(tools, "add_example", message_id=first, good=False)
    assert "#2 label bad" in await call(tools, "label_example", example_id=2, good=False)
    assert "Paris." in await call(tools, "edit_example", example_id=2, completion="Paris.")
    assert "deleted #1" in await call(tools, "delete_example", example_id=1)
    # Each line says where the example came from: who made it, from which answer.
    listed = await call(tools, "list_examples")
    assert listed == f"#2 label bad: Capital of France? -> Paris.  [data_curator from #{first}]"
    assert "#3 pair" in await call(tools, "add_pair", chosen_id=second, rejected_id=second)
    assert examples.counts() == {"label": 1, "pair": 1}
    with pytest.raises(ExampleError, match="no example #99"):
        await call(tools, "delete_example", example_id=99)
    # The user's message id means the team's answer to it.
    assert examples.from_message(first - 1).completion == "Lyon."


def test_examples_are_never_doubled_and_cleaning_drops_broken_ones():
    store = Store()
    (answer,) = converse(store, [("Hi", "Hello!")])
    examples = Examples(store)
    assert examples.from_message(answer).id == examples.from_message(answer).id
    with pytest.raises(ExampleError, match="answer is empty"):
        examples.add("sft", [{"role": "user", "content": "x"}], "  ")
    broken = examples.add("sft", [{"role": "user", "content": "Hi"}, {"role": "assistant"}], "Hey")
    twin = examples.add("sft", [{"role": "user", "content": "Hi"}], "HELLO!")
    assert examples.clean() == {"duplicates": 1, "empty": 0, "broken": 1}
    assert {e.id for e in examples.all_active()} == {1} and broken.id != twin.id


def test_exports_load_with_datasets_in_the_shapes_trl_reads(tmp_path):
    from datasets import load_dataset
    from trl.data_utils import is_conversational

    store = Store()
    ids = converse(store, [(f"Question {i}?", f"Answer {i}.") for i in range(10)])
    examples = Examples(store)
    for i, message_id in enumerate(ids):
        made = examples.from_message(message_id)
        if i % 3 == 0:
            examples.label(made.id, good=i % 2 == 0)
    examples.pair_from_messages(ids[0], ids[1])

    counts = {}
    for format in ("sft", "dpo", "kto"):
        counts[format] = export(format, tmp_path / format, eval_share=0.2, seed=1, examples=examples)
        files = {split: str(tmp_path / format / f"{split}.jsonl") for split in ("train", "eval")}
        loaded = load_dataset("json", data_files={k: v for k, v in files.items() if counts[format][k]})
        row = loaded["train"][0]
        assert is_conversational(row)
        if format == "sft":
            assert set(row) == {"messages"} and [m["role"] for m in row["messages"]] == ["user", "assistant"]
        elif format == "dpo":
            assert set(row) == {"prompt", "chosen", "rejected"}
            assert row["chosen"][0]["role"] == row["rejected"][0]["role"] == "assistant"
        else:
            assert set(row) == {"prompt", "completion", "label"} and isinstance(row["label"], bool)
    # Bad answers are never taught by SFT; every labelled one feeds KTO; the pair feeds DPO.
    assert counts == {
        "sft": {"train": 6, "eval": 2},  # 10 answers, 2 labelled bad
        "dpo": {"train": 1, "eval": 0},
        "kto": {"train": 3, "eval": 1},
    }
    again = export("sft", tmp_path / "again", eval_share=0.2, seed=1, examples=examples)
    assert again == counts["sft"]
    assert (tmp_path / "again" / "eval.jsonl").read_text() == (tmp_path / "sft" / "eval.jsonl").read_text()


def test_the_data_commands(tmp_path):
    store = Store()
    (answer,) = converse(store, [("Hi", "Hello!")])
    Examples(store).from_message(answer)
    listed = society("data", "list", "--json", cwd=tmp_path)
    assert json.loads(listed.stdout)[0]["completion"] == "Hello!"
    out = tmp_path / "out"
    exported = society("data", "export", str(out), "--format", "sft", cwd=tmp_path)
    assert exported.stdout.strip() == f"sft: 1 train, 0 eval rows in {out}/train.jsonl, eval.jsonl"
    bad = society("data", "export", str(out), "--format", "ppo", cwd=tmp_path)
    assert bad.returncode == 2
    assert bad.stderr.strip() == "society: error: --format must be one of sft, dpo, kto, got 'ppo'"
