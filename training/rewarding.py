"""Where reward comes from and where it goes, for one conversation: the user's next message
rates the last answer (engagement), the judge scores each final answer in the background,
explicit /good and /bad override; every reward updates its prompt version's fitness, steers
the bandit that picks the version each role speaks with, and labels the answer for the data
curator (good or bad, the KTO format) once it is clear.

It listens to the conversation (society/listeners.py): a turn that starts rates the answer
before it, a turn that ends is judged; both in the background, off the path to the answer."""

from __future__ import annotations

import asyncio
import os
import random

from society.errors import NotFoundError
from society.listeners import FeedbackListener, TurnEvent
from society.prompt_book import PromptBook, PromptVersion
from society.storage.store import USER, Message, Store
from training import bandit
from training.calibration import Calibration, Calibrations, measure
from training.datasets import ExampleError, Examples
from training.judge import JudgeFailed, compare, judge, mean
from training.reward import WEIGHTS, Reward, Rewards, classify

JUDGE_ENV = "SOCIETY_JUDGE"  # 0 turns the background judge off (scripted tests)
LABEL_AT = 0.5  # |reward| from which an answer becomes a labelled example


class Rewarding(FeedbackListener):
    def __init__(
        self,
        store: Store,
        gate,
        book: PromptBook,
        examples: Examples,
        rng: random.Random | None = None,
        judging: bool | None = None,
    ):
        """`judging`: whether the judge scores each answer (default: unless SOCIETY_JUDGE=0;
        an eval run judges in the open instead)."""
        self.store = store
        self.gate = gate
        self.book = book
        self.examples = examples
        self.rewards = Rewards(store)
        self.calibrations = Calibrations(store)
        self._calibrating: set[str] = set()
        self.rng = rng or random.Random()
        self.judging = os.environ.get(JUDGE_ENV, "1") != "0" if judging is None else judging

    async def turn_started(self, event: TurnEvent) -> None:
        await asyncio.to_thread(self.followed_up, event.text, event.turn_id)

    async def turn_ended(self, event: TurnEvent) -> None:
        if event.status == "done":
            await self.judge_turn(event.turn_id)

    def last_answer(self, before_turn: int | None = None) -> tuple[Message, Message] | None:
        """(the user's message, the team's final text answer) of the newest finished turn."""
        for message in reversed(self.store.last_messages(40)):
            if before_turn is not None and message.turn_id >= before_turn:
                continue
            if message.role != USER and message.is_text:
                asked = [m for m in self.store.turn_messages(message.turn_id) if m.role == USER]
                return (asked[0], message) if asked else None
        return None

    def version_for(self, role: str) -> PromptVersion:
        return bandit.choose(self.book, self.rewards, role, self.rng)

    def _settle(self, reward: Reward) -> Reward:
        """A reward changed: the prompt version's fitness follows, and so does the answer's
        label. An answer is labelled once the user has spoken (engagement or /good, /bad)
        and the reward is clear; a label whose reward changed is revised, and withdrawn when
        the reward no longer supports one."""
        bandit.update_fitness(self.book, self.rewards, reward.role)
        settled = reward.level is not None or bool(reward.explicit)
        labelled = self.examples.labelled_by_reward(reward.message_id)
        if settled and reward.reward is not None and abs(reward.reward) >= LABEL_AT:
            good = reward.reward > 0
            if labelled is not None:
                if labelled.label != good:
                    self.examples.label(labelled.id, good)
                return reward
            try:
                self.examples.from_message(reward.message_id, "label", good, by="reward")
            except ExampleError:
                pass  # an answer without its question cannot be an example
        elif labelled is not None:
            self.examples.delete(labelled.id)
        return reward

    def followed_up(self, text: str, turn_id: int) -> Reward | None:
        """The user's new message rates the answer before it."""
        found = self.last_answer(before_turn=turn_id)
        if found is None:
            return None
        asked, answer = found
        return self._settle(self.rewards.engaged(answer.id, classify(asked.content, text)))

    def feedback(
        self, good: bool, comment: str | None = None, source: str = "cli", message_id: int | None = None
    ) -> Reward | None:
        """Rate the last answer, or the answer `message_id` (ValueError when that is not one)."""
        if message_id is None:
            found = self.last_answer()
            if found is None:
                return None
            message_id = found[1].id
        else:
            message = self.store.message(message_id)
            if message is None or message.role == USER or not message.is_text:
                raise NotFoundError(f"message #{message_id} is not an answer of the team")
        return self._settle(self.rewards.feedback(message_id, good, comment, source))

    async def judge_turn(self, turn_id: int) -> Reward | None:
        """Score the turn's final answer; a judge that fails leaves the reward to engagement."""
        messages = self.store.turn_messages(turn_id)
        asked = [m for m in messages if m.role == USER]
        answers = [m for m in messages if m.role != USER and m.is_text]
        if not self.judging or not asked or not answers:
            return None
        preferences = [item.content for item in _preferences(self.store)]
        try:
            scores = await judge(
                self.gate, self.book.current("judge").text, asked[0].content, answers[-1].content, preferences
            )
        except Exception as err:  # noqa: BLE001 - no model, a reply not read as scores (JudgeFailed): no score
            self.gate.notify(f"the judge could not score the answer ({type(err).__name__}); engagement decides")
            return None
        model = scores.get("model")
        reward = self._settle(
            self.rewards.judged(answers[-1].id, scores, self.calibrations.weight(model, WEIGHTS["judge"]))
        )
        if model and self.calibrations.get(model) is None:
            await self.calibrate(model)
        return reward

    async def calibrate(self, model: str) -> Calibration | None:
        """Measure `model` as a judge on the calibration set (its calls are background calls
        when run by a listener: they yield to the user) and give the rewards it judged the
        weight it earned. None when it could not be measured now: another model answered,
        the conversation is closing, or it is being measured already."""
        if model in self._calibrating:
            return None
        self._calibrating.add(model)
        prompt = self.book.current("judge").text

        async def score(request: str, answer: str) -> tuple[float | None, str | None]:
            try:
                scores = await judge(self.gate, prompt, request, answer, [])
                return mean(scores), scores["model"]
            except JudgeFailed as err:
                return None, err.model  # an unread verdict: the pair counts as missed

        async def head_to_head(request: str, first: str, second: str) -> tuple[float | None, str | None]:
            try:
                return await compare(self.gate, prompt, request, first, second)
            except JudgeFailed as err:
                return None, err.model

        try:
            found = await measure(score, model, going=lambda: not self.gate.queue.ending, compare=head_to_head)
        finally:
            self._calibrating.discard(model)
        if found is None:
            return None
        self.calibrations.put(found)
        self.gate.notify(found.line())
        weight = WEIGHTS["judge"] if found.trusted else 0.0
        for reward in self.rewards.reweigh_judge(model, weight):
            self._settle(reward)
        return found


def _preferences(store: Store):
    from society.storage.memories import Items

    return Items(store.engine).listing("preference", limit=5)
