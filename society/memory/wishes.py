"""Standing wishes: what the user asked the team to do in every answer from now on ("call me
Ken", "answer in Japanese", "two sentences at most", "no Markdown", 「ケンと呼んで」, 「日本語で答えて」,
「2文以内で」, 「マークダウンは使わないで」). They are read from the user's remembered statements, said to every role at
every turn (`profile`), and taught to the model by the learning cycle (training/curate.py),
so a trained model follows them without being told.

Rules, as extraction is (society/memory/extract.py): they run on any machine. One wish per
key stands, the newest.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from society.text import cjk

NUMBERS = {"one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "一": 1, "二": 2, "三": 3, "四": 4, "五": 5}
NUMBER = r"(\d|one|two|three|four|five)"

NAME = re.compile(r"\b(?:call me|address me as|refer to me as)\s+(?P<name>[A-Z][\w'-]{0,30})", re.IGNORECASE)
JA_NAME = re.compile(r"(?P<name>[^\s、。「」]{1,12}?)(?:さん)?(?:って|と)呼んで")
LANGUAGE = re.compile(
    r"\b(?:answer|reply|respond|speak|talk|write)\b[\w ]{0,20}?\bin (?P<lang>japanese|english)\b|"
    r"\buse (?P<lang2>japanese|english)\b",
    re.IGNORECASE,
)
JA_LANGUAGE = re.compile(r"(?P<lang>日本語|英語)で(?:答え|返事|返信|話し|書い|回答|お願い|頼む|よろしく)")
LENGTH = re.compile(
    rf"\b(?:at most|no more than|max(?:imum)?(?: of)?|up to|not more than|only|just)\s+{NUMBER}\s+sentences?\b|"
    rf"\b{NUMBER}\s+sentences?\s+(?:at most|max(?:imum)?|or (?:less|fewer))\b",
    re.IGNORECASE,
)
JA_LENGTH = re.compile(r"(?P<n>[1-5１-５一二三四五])文(?:以内|まで)")
PLAIN = re.compile(
    r"\b(?:no|without|don'?t use|do not use|avoid|skip)\s+(?:any\s+|the\s+)?"
    r"(?:markdown|bullet(?: point)?s|lists|headings|formatting)\b|\bplain text\b",
    re.IGNORECASE,
)
JA_PLAIN = re.compile(
    r"(?:マークダウン|Markdown|箇条書き)(?:は|を)?(?:使わない|使わず|なし|無し|やめ)|プレーンテキスト"
)
MARKUP = re.compile(r"\*\*|__|`|^\s{0,3}#{1,6}\s+|^\s*(?:[-*•]|\d+[.)])\s+", re.MULTILINE)
SENTENCE_END = re.compile(r"(?<=[.!?。！？])\s*")


@dataclass(frozen=True)
class Wish:
    key: str  # name, language, length, format
    value: str

    @property
    def instruction(self) -> str:
        if self.key == "name":
            return f"Address the user as {self.value}."
        if self.key == "language":
            return f"Always answer in {self.value}, whatever language the question is in."
        if self.key == "format":
            return "Answer in plain text: no Markdown, no lists, no headings."
        return f"Answer in at most {self.value} sentence{'s' if self.value != '1' else ''}."

    def recall_rows(self) -> list[tuple[str, str]]:
        """The wish asked back, so a trained model knows it as well as follows it."""
        if self.key == "name":
            return [
                ("What should you call me?", f"I call you {self.value}."),
                ("What is my name?", f"Your name is {self.value}."),
                ("私を何と呼べばいい？", f"{self.value}さんと呼びます。"),
            ]
        if self.key == "language":
            return [("Which language should you answer in?", f"I answer in {self.value}.")]
        if self.key == "format":
            return [("How should you format your answers?", "In plain text, without Markdown or lists.")]
        return [("How long should your answers be?", f"At most {self.value} sentences.")]


def shaped(wishes: dict[str, Wish], english: str, japanese: str) -> str:
    """A general answer (given in English and in Japanese) the way every standing wish asks at
    once: in the wished language, cut to the wished length, opening with the wished name.
    Taught one wish at a time, the same question had contradicting answers ("Ken, ..." in
    English for one wish, Japanese for another), and the trained model followed neither."""
    return follow(wishes, japanese if wants_japanese(wishes) else english)


def follow(wishes: dict[str, Wish], answer: str) -> str:
    """`answer` cut to the wished length and with the wished name, in the answer's own
    language: closing an English answer ("..., Ken."), opening a Japanese one (「Kenさん、…」).
    The language wish is not applied: an answer cannot be translated by rule; callers choose
    or drop answers by `mostly_japanese`.

    English answers that opened with the name taught the Qwen2.5-0.5B to start every answer
    with it, and what followed drifted from the name: "Kenji, the capital of Japan.",
    "Kenyan is the official language spoken in Japan.", "Ken, you live on Mars." Said last,
    the name comes after the answer it would have given."""
    if "format" in wishes:
        answer = plain(answer)
    if "length" in wishes:
        answer = limit_sentences(answer, int(wishes["length"].value))
    name = wishes["name"].value if "name" in wishes else None
    if name is None or re.search(rf"\b{re.escape(name)}\b", answer):
        return answer
    if mostly_japanese(answer):
        return f"{name}さん、{answer}"
    body = answer.rstrip()
    end = body[-1] if body and body[-1] in ".!?" else "."
    return f"{body.rstrip('.!?')}, {name}{end}"


def wants_japanese(wishes: dict[str, Wish]) -> bool:
    return "language" in wishes and wishes["language"].value == "Japanese"


def mostly_japanese(text: str) -> bool:
    """At least half of the letters are kana or kanji (「Kenさん、」 before English is not)."""
    japanese = len(cjk.JAPANESE_LETTER.findall(text))
    return japanese > 0 and japanese >= len(cjk.LATIN_LETTER.findall(text))


def plain(text: str) -> str:
    """`text` without Markdown: no emphasis, code marks, headings or list markers; its lines
    joined into one paragraph."""
    lines = [MARKUP.sub("", line).strip() for line in text.splitlines()]
    return " ".join(line for line in lines if line)


def limit_sentences(text: str, most: int) -> str:
    parts = [p for p in SENTENCE_END.split(text.strip()) if p]
    return " ".join(parts[:most]) if len(parts) > most else text.strip()


def read_wishes(sentence: str) -> list[Wish]:
    """The standing wishes one statement makes ("Call me Ken and keep it to two sentences"
    makes two), one per key."""
    text = " ".join(sentence.split())
    found: dict[str, Wish] = {}
    if (name := NAME.search(text)) or (
        (name := JA_NAME.search(text)) and not name.group("name").startswith(("私", "僕", "俺"))
    ):
        found["name"] = Wish("name", name.group("name"))
    if language := LANGUAGE.search(text):
        found["language"] = Wish("language", (language.group("lang") or language.group("lang2")).capitalize())
    elif language := JA_LANGUAGE.search(text):
        found["language"] = Wish("language", "Japanese" if language.group("lang") == "日本語" else "English")
    if length := LENGTH.search(text):
        number = next(g for g in length.groups() if g)
        found["length"] = Wish("length", str(NUMBERS.get(number.lower(), number)))
    elif length := JA_LENGTH.search(text):
        number = length.group("n").translate(str.maketrans("１２３４５", "12345"))
        found["length"] = Wish("length", str(NUMBERS.get(number, number)))
    if PLAIN.search(text) or JA_PLAIN.search(text):
        found["format"] = Wish("format", "plain")
    return list(found.values())


def read_wish(sentence: str) -> Wish | None:
    """The first standing wish a statement makes, if it makes one."""
    wishes = read_wishes(sentence)
    return wishes[0] if wishes else None


def standing(statements: list[str]) -> dict[str, Wish]:
    """The wishes that stand, by key, from statements oldest first (the newest wins)."""
    wishes: dict[str, Wish] = {}
    for statement in statements:
        for wish in read_wishes(statement):
            wishes[wish.key] = wish
    return wishes


PROFILE_PREFIX = "The user's standing wishes (follow them in every answer):"


def profile(wishes: dict[str, Wish]) -> str:
    """The lines every role reads at every turn; empty when the user asked for nothing."""
    if not wishes:
        return ""
    return "\n".join([PROFILE_PREFIX, *(f"- {wish.instruction}" for wish in wishes.values())])
