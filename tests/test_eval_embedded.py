"""Judge-scored evaluation and judging with the real embedded model."""

import json

import pytest

from society.assemble import open_conversation
from society.paths import data_dir
from society.storage.store import Store
from tests.conftest import society
from training.calibration import Calibrations
from training.reward import Rewards

pytestmark = pytest.mark.slow


def test_an_eval_run_on_the_embedded_model_writes_a_report_and_compares(tmp_path):
    suite = tmp_path / "mini.yaml"
    suite.write_text(
        "name: mini\ntasks:\n"
        "  - {id: capital, kind: chat, lang: en, prompt: 'What is the capital of France?', expected: Paris}\n"
        "  - {id: add, kind: reasoning, lang: ja, prompt: '2たす2は?', expected: '4'}\n",
        encoding="utf-8",
    )
    first = society("eval", str(suite), "--json", cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    report = json.loads(first.stdout)
    assert report["summary"]["tasks"] == 2 and report["summary"]["exact_total"] == 2
    for result in report["results"]:
        assert result["answer"] and result["models"] == ["smollm2-135m-instruct"]
        # Read from the model's token probabilities: an expected value over all five digits,
        # not one sampled digit (the real llama.cpp logits: every digit has some chance).
        assert set(result["judge"]) == {"score", "chances", "reason", "model"}
        chances = result["judge"]["chances"]
        assert list(chances) == ["1", "2", "3", "4", "5"] and abs(sum(chances.values()) - 1) < 0.01
        assert all(0 < p < 1 for p in chances.values())
        expected = sum(int(digit) * p for digit, p in chances.items())
        assert 1 <= result["score"] <= 10 and abs(result["score"] - (1 + (expected - 1) * 9 / 4)) < 0.01
    assert (data_dir() / "evals" / f"run-{report['id']}.md").read_text().startswith("# Evaluation run")
    assert Store().last_messages(1) == []  # the user's conversation was not touched
    second = society("eval", str(suite), cwd=tmp_path)
    assert second.returncode == 0
    compared = society("eval", "--compare", str(report["id"]), str(report["id"] + 1), cwd=tmp_path)
    assert compared.returncode == 0 and compared.stdout.splitlines()[-1].startswith("total")


async def test_the_judge_scores_each_answer_in_the_background(monkeypatch):
    monkeypatch.setenv("SOCIETY_JUDGE", "1")
    conversation = open_conversation(enabled=["planner"])
    try:
        messages = [m async for m in conversation.turn("What is 2 + 2?")]
    finally:
        await conversation.close()  # waits for the judge
    reward = Rewards(conversation.store).get(messages[-1].id)
    assert reward is not None and 1 <= reward.judge_score <= 10 and reward.judge["model"] == messages[-1].model
    # Not calibrated yet (a closing conversation does not wait minutes for it): counts nothing.
    assert reward.weights["judge"] == 0.0 and reward.reward is None
    assert Calibrations(conversation.store).get(messages[-1].model) is None
    assert reward.prompt_version == 1 and reward.role == "planner"
