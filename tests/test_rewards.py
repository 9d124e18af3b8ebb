"""Rewards: engagement signals in English and Japanese, recomputation from stored parts, the
bandit moving traffic off a losing prompt version, labels for the data curator, eval runs."""

import json
import random

import pytest

from society.assemble import open_conversation
from society.prompt_book import PromptBook
from society.storage.store import Store
from tests.conftest import scripted_gate, society
from training.datasets import Examples
from training.evals import EvalError, compare, load_suite
from training.reward import Rewards, classify, combine


@pytest.mark.parametrize(
    ("followup", "level"),
    [
        ("Thanks, that helps!", "thanks"),
        ("ありがとう、助かりました", "thanks"),
        ("No, that's wrong. It's Paris.", "correction"),
        ("違うよ、東京です", "correction"),
        ("That doesn't help at all", "negative"),
        ("答えになってないよ", "negative"),
        ("What is the capital of France??", "negative"),  # asked again
        ("And what about Germany?", "continue"),
        ("次はドイツについて教えて", "continue"),
    ],
)
def test_followups_are_read_as_engagement_levels(followup, level):
    assert classify("What is the capital of France?", followup) == level


def test_rewards_combine_the_stored_parts_and_recompute_under_new_weights():
    assert combine(10, None, None) == 1.0 and combine(1, None, None) == -1.0
    assert combine(None, "thanks", None) == 1.0 and combine(None, None, None) is None
    assert combine(10, "correction", None) == 0.25  # 0.5 * 1 + 0.5 * -0.5
    assert combine(10, "thanks", -1) == 0.0  # an explicit /bad overrides the thanks
    store = Store()
    turn = store.begin_turn("Capital of France?", "cli")
    answer = store.add_message(turn.turn_id, "planner", "Paris.", prompt_version=1)
    store.end_turn(turn.turn_id, "done")
    rewards = Rewards(store)
    rewards.judged(answer.id, {"helpful": 10, "correct": 10, "honest": 10, "follows_preferences": 10, "reason": "ok"})
    assert rewards.engaged(answer.id, "correction").reward == 0.25
    rewards.recompute({"judge": 1.0, "engagement": 0.0})
    kept = rewards.get(answer.id)
    assert kept.reward == 1.0 and kept.weights == {"judge": 1.0, "engagement": 0.0}
    assert (kept.judge_score, kept.level, kept.prompt_version) == (10.0, "correction", 1)


async def test_the_bandit_moves_traffic_away_from_a_prompt_version_that_keeps_losing():
    store = Store()
    book = PromptBook(store)
    book.edit("planner", "try a shouting style", "prompt_editor", append="ANSWER IN CAPITALS.")
    gate, client = scripted_gate(["An answer."] * 60, store)
    conversation = open_conversation(store, gate, enabled=["planner"], rng=random.Random(7))
    used = []
    try:
        for index in range(30):
            messages = [m async for m in conversation.turn(f"Question {index}")]
            answer = messages[-1]
            used.append(answer.prompt_version)
            conversation.feedback(good=answer.prompt_version == 1)  # the user dislikes the edit
    finally:
        await conversation.close()
    assert used[:3] == [2, 2, 2]  # the edit speaks alone for its trial
    assert set(used[3:]) == {1, 2}  # then both compete
    assert used[-10:].count(2) <= 2  # the losing edit has lost the traffic
    versions = {v.version: v for v in book.versions("planner")}
    assert versions[1].fitness == 1.0 and versions[2].fitness == -1.0
    # Answers whose reward is clear became labelled examples for the data curator.
    labels = {e.label for e in Examples(store).all_active()}
    assert labels == {True, False}
    # Every request actually sent used the version the answer was stored under.
    planner_calls = [c for c in client.create_calls if c["messages"][0].content.startswith("You are a helpful")]
    sent = [call["messages"][0].content.endswith("ANSWER IN CAPITALS.") for call in planner_calls]
    assert [2 if s else 1 for s in sent] == used


def test_the_rewards_command(tmp_path):
    store = Store()
    turn = store.begin_turn("Hi", "cli")
    answer = store.add_message(turn.turn_id, "planner", "Hello!", prompt_version=1)
    store.end_turn(turn.turn_id, "done")
    Rewards(store).feedback(answer.id, good=True)
    shown = society("rewards", "--json", cwd=tmp_path)
    data = json.loads(shown.stdout)
    assert data["rewards"][0]["reward"] == 1.0 and data["rewards"][0]["explicit"] == 1
    assert data["versions"]["planner"][0]["version"] == 1


def test_the_shipped_suite_and_bad_suites(tmp_path):
    name, tasks = load_suite(__import__("pathlib").Path("training/evals/default.yaml"))
    assert name == "default" and len(tasks) >= 30
    assert {t.kind for t in tasks} == {"chat", "reasoning", "tool"} and {t.lang for t in tasks} == {"en", "ja"}
    bad = tmp_path / "bad.yaml"
    bad.write_text("tasks:\n  - {id: a, prompt: hi, colour: red}\n")
    with pytest.raises(EvalError, match="unknown fields"):
        load_suite(bad)
    result = society("eval", str(tmp_path / "missing.yaml"), cwd=tmp_path)
    assert result.returncode == 2 and "no such suite file" in result.stderr


def test_two_runs_compare_task_by_task():
    def run(run_id, scores, exact):
        results = [
            {"id": f"t{i}", "score": s, "exact": e, "kind": "chat", "lang": "en"}
            for i, (s, e) in enumerate(zip(scores, exact, strict=True))
        ]
        passed = sum(1 for e in exact if e)
        summary = {"mean_score": sum(scores) / len(scores), "exact_passed": passed, "exact_total": len(exact)}
        return {"id": run_id, "suite": "s", "results": results, "summary": summary}

    text = compare(run(1, [2.0, 4.0], [False, True]), run(2, [3.0, 4.0], [True, True]))
    assert "t0                       2.00   3.00  +1.00  fail -> pass" in text
    assert text.splitlines()[-1] == "total                    3.00   3.50  +0.50  exact 1/2 -> 2/2  (2 tasks in both)"
