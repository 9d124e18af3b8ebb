"""A judge has to earn its vote (training/calibration.py): its verdicts count nothing until
it ranks the correct answer above the wrong one on 80 % of the calibration pairs; labels
for the data curator come from settled rewards and follow them when they change."""

from __future__ import annotations

import json

from society.prompt_book import PromptBook
from society.storage.store import Store
from tests.conftest import scripted_gate, society
from training.calibration import Calibrations, load_pairs, measure
from training.datasets import Examples
from training.reward import Rewards
from training.rewarding import Rewarding

# A scripted judge answers with the one token it is asked for: a digit for a score, a letter
# for a comparison (backends without token probabilities count it with probability 1).
PAIR = ["5", "1", "A", "B"]  # per pair: the correct answer 5, the wrong 1, preferred in both orders


def test_the_shipped_set_has_forty_pairs_or_more_in_both_languages_split_for_reporting():
    pairs = load_pairs()
    assert len(pairs) >= 40 and len({p.id for p in pairs}) == len(pairs)
    for lang in ("en", "ja"):
        mine = [p for p in pairs if p.lang == lang]
        assert len(mine) >= 20 and {p.split for p in mine} == {"dev", "report"}
    assert all(p.good != p.bad and p.request for p in pairs)


async def test_accuracy_decides_trust_and_a_fallback_or_a_closing_is_no_measure():
    pairs = load_pairs()

    async def always_one(request, answer):
        return 1.0, "tiny"

    async def knows(request, answer):
        right = any(answer == p.good for p in pairs)
        return (9.0 if right else 2.0), "big"

    flat = await measure(always_one, "tiny")
    assert (flat.correct, flat.total, flat.trusted) == (0, len(pairs), False)  # a tie is no preference
    good = await measure(knows, "big")
    assert good.accuracy == 1.0 and good.trusted
    assert good.accuracy_of(split="report") == 1.0 and good.accuracy_of(lang="ja") == 1.0

    async def fell_back(request, answer):
        return 9.0, "another"

    assert await measure(fell_back, "big") is None
    assert await measure(knows, "big", going=lambda: False) is None
    calibrations = Calibrations(Store())
    calibrations.put(flat)
    calibrations.put(good)
    assert calibrations.weight("big", 0.5) == 0.5
    assert calibrations.weight("tiny", 0.5) == 0.0 and calibrations.weight("unmeasured", 0.5) == 0.0
    assert "below 80%" in calibrations.get("tiny").line() and "count 0" in calibrations.get("tiny").line()


def one_answer(store: Store, question: str = "What is 2+2?", answer: str = "4."):
    turn = store.begin_turn(question, "cli")
    said = store.add_message(turn.turn_id, "planner", answer, prompt_version=1, model="scripted")
    store.end_turn(turn.turn_id, "done")
    return turn.turn_id, said


async def test_a_new_judge_counts_nothing_until_calibrated_then_its_verdicts_count():
    store = Store()
    pairs = load_pairs()
    # The first verdict, then four per pair: two scores and two comparisons.
    replies = ["5"] + PAIR * len(pairs)
    gate, client = scripted_gate(replies, store)
    rewarding = Rewarding(store, gate, PromptBook(store), Examples(store), judging=True)
    turn_id, answer = one_answer(store)
    reward = await rewarding.judge_turn(turn_id)
    # Stored at once with weight 0; the calibration that followed made it count.
    assert reward.judge_score == 10 and reward.weights["judge"] == 0.0 and reward.reward is None
    found = Calibrations(store).get("scripted")
    assert found is not None and found.accuracy == 1.0 and found.total == len(pairs)
    after = Rewards(store).get(answer.id)
    assert after.weights["judge"] == 0.5 and after.reward == 1.0
    assert found.preferred() == 1.0
    # What the model was asked: each pair's request with its correct, then its wrong answer
    # to score, then both in one order and in the other to compare.
    sent = [str(call["messages"][-1].content) for call in client.create_calls]
    assert len(sent) == 1 + 4 * len(pairs)
    assert pairs[0].request in sent[1] and pairs[0].good in sent[1] and pairs[0].bad not in sent[1]
    assert pairs[0].bad in sent[2] and "Rate it from 1" in sent[2]
    first, second = sent[3], sent[4]
    assert first.index(pairs[0].good) < first.index(pairs[0].bad)  # position swap: good first...
    assert second.index(pairs[0].bad) < second.index(pairs[0].good)  # ...then second
    assert "Answer A:" in first and "one letter, A or B" in first
    assert any(p.request in sent[-1] for p in pairs if p.lang == "ja")
    # Its next verdict counts at once, and no second calibration runs.
    _, second = one_answer(store, "Capital of France?", "Paris.")
    gate_two, client_two = scripted_gate(["4"], store)
    rewarding.gate = gate_two
    assert (await rewarding.judge_turn(second.turn_id)).reward == round((7.75 - 5.5) / 4.5, 4)  # 4 of 5
    assert len(client_two.create_calls) == 1


async def test_a_judge_that_scores_everything_alike_never_counts():
    store = Store()
    pairs = load_pairs()
    gate, _ = scripted_gate(["1"] * (1 + 4 * len(pairs)), store)
    notes = []
    gate.notify = notes.append
    rewarding = Rewarding(store, gate, PromptBook(store), Examples(store), judging=True)
    turn_id, answer = one_answer(store)
    await rewarding.judge_turn(turn_id)
    assert Calibrations(store).get("scripted").accuracy == 0.0
    assert Rewards(store).get(answer.id).reward is None  # not -1: its 1/10 counted nothing
    assert any("0 of" in line and "engagement alone decides" in line for line in notes)
    # The user's engagement alone decides, and only then is the answer labelled.
    assert Examples(store).all_active() == []
    rewarding.followed_up("Thanks, that helps!", turn_id + 1)
    reward = Rewards(store).get(answer.id)
    assert reward.reward == 1.0
    labels = [(e.label, e.source_message_ids) for e in Examples(store).all_active()]
    assert labels == [(True, [answer.id])]


def test_labels_follow_the_settled_reward_when_it_changes():
    store = Store()
    gate, _ = scripted_gate([], store)
    rewarding = Rewarding(store, gate, PromptBook(store), Examples(store), judging=False)
    rewards = Rewards(store)
    _, answer = one_answer(store)
    rewarding._settle(rewards.judged(answer.id, {"score": 10.0, "reason": "r", "model": "big"}, 0.5))
    assert Examples(store).all_active() == []  # a verdict alone is not settled: the user has not spoken
    rewarding._settle(rewards.engaged(answer.id, "thanks"))
    assert [e.label for e in Examples(store).all_active()] == [True]
    rewarding._settle(rewards.engaged(answer.id, "correction"))  # 0.5 * 1 + 0.5 * -0.5 = 0.25
    assert Examples(store).all_active() == []  # withdrawn: the reward no longer supports a label
    rewarding._settle(rewards.feedback(answer.id, good=False))  # 0.5 * 1 + 0.5 * -1: unclear
    assert Examples(store).all_active() == []
    # An answer whose judge counts nothing: the user's word alone, revised when it changes.
    _, other = one_answer(store, "Capital of France?", "Lyon.")
    rewarding._settle(rewards.judged(other.id, {"score": 9.0, "reason": "r", "model": "tiny"}, 0.0))
    rewarding._settle(rewards.engaged(other.id, "thanks"))
    first = Examples(store).all_active()
    assert [(e.label, e.source_message_ids) for e in first] == [(True, [other.id])]
    rewarding._settle(rewards.feedback(other.id, good=False))
    revised = Examples(store).all_active()
    assert [(e.id, e.label) for e in revised] == [(first[0].id, False)]  # revised, never doubled


def test_status_and_rewards_say_what_the_judge_counts(tmp_path):
    store = Store()
    shown = json.loads(society("rewards", "--json", cwd=tmp_path).stdout)
    judge = shown["judge"]
    assert judge["trusted"] is False and "not calibrated yet" in judge["line"]
    model = judge["model"]
    assert model
    from training.calibration import Calibration

    detail = {str(i): {"split": "dev", "lang": "en", "good": 9.0, "bad": 2.0 if i < 21 else 9.0} for i in range(48)}
    Calibrations(store).put(Calibration(model, 21, 48, detail, "2026-11-30T00:00:00"))
    text = society("rewards", cwd=tmp_path).stdout
    assert f"judge {model}: 21 of 48 calibration pairs right (44%), below 80%" in text
    status = json.loads(society("status", "--json", cwd=tmp_path).stdout)
    assert status["judge"]["accuracy"] == round(21 / 48, 3) and status["judge"]["weight"] == 0.0
