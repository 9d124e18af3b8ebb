"""What is worth remembering in what the user says, and how much it matters.

Rules, not a model: they run after every turn in the background on any machine, including
one whose only model is the 135M embedded one, whose extractions were junk when tried (see
docs/changelog.md). The memory keeper's `remember` tool is the model-driven path.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from society.memory.wishes import read_wish
from society.text import cjk

BASE_IMPORTANCE = {
    "fact": 0.7,
    "preference": 0.75,
    "decision": 0.7,
    "note": 0.6,
    "tool_result": 0.35,
    "turn": 0.3,
}

# (kind, pattern) on one sentence of the user's; the first that matches decides.
RULES: list[tuple[str, re.Pattern[str]]] = [
    (
        "preference",
        re.compile(
            r"\b(i (really )?(like|love|prefer|hate|dislike|enjoy)|i don'?t like|from now on|always|never|"
            r"please (always|don'?t|do not))\b|"
            r"好き|嫌い|苦手|これから(は)?|今後|いつも|必ず|しないで|して欲しい|してほしい",
            re.IGNORECASE,
        ),
    ),
    (
        "decision",
        re.compile(
            r"\b(we (decided|agreed|chose)|let'?s (go with|use)|i (decided|will go with|chose))\b|"
            r"決めた|決定|にしよう|にします",
            re.IGNORECASE,
        ),
    ),
    (
        "fact",
        re.compile(
            # What the learning cycle's wordings read (training/wordings.py): "my sister lives
            # in Osaka" and "Hana is my daughter" were left as chat lines, so never taught.
            r"\b(my|our) [\w' -]{1,40}? (is|are|was|were|lives|works|studies)\b|\b\w+ (is|was) (my|our) \w|"
            r"\b(i am|i'm|i live|i work|i study|i was born|i have|call me|my name)\b|"
            r"私の|僕の|俺の|私は|僕は|住んで|働いて|と呼んで|名前は",
            re.IGNORECASE,
        ),
    ),
]
EXPLICIT = re.compile(r"\b(remember|don'?t forget|keep in mind|note that)\b|覚えて|忘れないで|メモして", re.IGNORECASE)
TRIVIA = re.compile(
    r"^\s*(ok(ay)?|thanks?( you)?|thx|hi|hello|hey|bye|yes|no|sure|cool|nice|great|はい|いいえ|ありがとう|"
    r"こんにちは|了解|うん|ok\W*)\W*$",
    re.IGNORECASE,
)
# What starts a correction: "No, it's Mochi.", 「違う、モチです」.
CORRECTION_LEAD = re.compile(
    r"^\s*(?:no+|nope|wrong|incorrect|not quite|that'?s (?:not right|wrong|incorrect)|you'?re wrong|actually)"
    r"\b[,.!:;\s-]*|"
    r"^\s*(?:違う|違います|ちがう|いや|いいえ|そうじゃなく(?:て)?)[よね]?[、。,!！\s]*",
    re.IGNORECASE,
)
SENTENCE = re.compile(r"[^.!?。！？\n]+[.!?。！？]?")
# "Melanie: …", "Mary Jane: …", "健太: …": a message that names its speaker (a conversation
# between people, relayed). Capitalised, at most two words, so "Note: …" is not a person's
# only by luck of the list below.
SPEAKER_LABEL = re.compile(
    r"^((?:[A-Z][\w'.-]{0,23})(?: [A-Z][\w'.-]{0,23})?|[" + cjk.KANA + cjk.IDEOGRAPHS + r"]{1,8})[:：] ?"
)
NOT_SPEAKERS = frozenset({"Note", "Todo", "TODO", "Re", "Q", "A", "Question", "Answer", "Example", "Error", "Warning"})


@dataclass(frozen=True)
class Extracted:
    kind: str
    content: str
    importance: float


def importance(text: str, kind: str) -> float:
    """0..1: the kind's base, raised when the user asks to remember, lowered for trivia."""
    score = BASE_IMPORTANCE.get(kind, 0.3)
    if EXPLICIT.search(text):
        score += 0.25
    short = 5 if not text.isascii() else 12  # Japanese says in 9 characters what English says in 30
    if TRIVIA.match(text) or len(text.strip()) < short:
        score -= 0.25
    return round(max(0.05, min(1.0, score)), 3)


def speaker_of(text: str) -> str | None:
    """The speaker a message names at its start ("Melanie: I adopted a dog."), if any."""
    found = SPEAKER_LABEL.match(text)
    return found.group(1) if found and found.group(1) not in NOT_SPEAKERS else None


def extract(user_text: str) -> list[Extracted]:
    """Facts, preferences and decisions stated in one user message, one per sentence."""
    found = []
    for sentence in (s.strip() for s in SENTENCE.findall(user_text)):
        if len(sentence) < 6 or sentence.endswith(("?", "？")):
            continue  # a question states nothing to remember
        if read_wish(sentence) is not None:  # "call me Ken", "answer in Japanese": how to answer, always
            found.append(Extracted("preference", sentence, importance(sentence, "preference")))
            continue
        for kind, pattern in RULES:
            if pattern.search(sentence):
                found.append(Extracted(kind, sentence, importance(sentence, kind)))
                break
        else:
            if EXPLICIT.search(sentence):
                found.append(Extracted("note", sentence, importance(sentence, "note")))
    return found
