"""What a statement of the user's teaches, as questions and the answer to give: "My cat is
called Mochi." -> "What is my cat called?", "What's the name of my cat?", ... -> "Your cat is
called Mochi.", and back ("Who is Mochi?" -> "Mochi is your cat."). English and Japanese.

Rules, not a model: they run in the learning cycle on any machine, and the 135M embedded
model's own paraphrases were not questions a user asks. A model learns a fact asked in new
words only when it was trained on several wordings of it; one wording is memorised as a
string. Each card keeps its last wording out of training (`held`): the cycle asks it to
check what was learnt, so every fact is trained and none is withheld.

A statement no rule reads becomes a card asked by its topic ("What did I tell you about my
marathon?"), so nothing the user stated is dropped.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from society.text.keywords import query_terms


@dataclass(frozen=True)
class Card:
    """One thing to know: `key` names what it answers (a later card with the same key
    replaces it: "my cat's name"), `questions` ask it (the last is `held`, kept for
    evaluation), `answer` is what to say."""

    key: str
    questions: tuple[str, ...]
    answer: str

    @property
    def taught(self) -> tuple[str, ...]:
        return self.questions[:-1] if len(self.questions) > 2 else self.questions

    @property
    def held(self) -> str | None:
        return self.questions[-1] if len(self.questions) > 2 else None


LEAD_IN = re.compile(
    r"^\s*(?:(?:oh|ok(?:ay)?|so|well|by the way|btw|fyi|also|and|hey|actually|just so you know|"
    r"(?:please )?(?:remember|note|keep in mind|don'?t forget)(?: that)?|for the record)\b[,:]?\s*|"
    r"(?:no|nope|wrong|not quite|that'?s (?:wrong|not right))[,.!]\s*)+",  # a correction's "no," (not "No pets")
    re.IGNORECASE,
)
JA_LEAD_IN = re.compile(
    r"^(?:ところで|ちなみに|あと|そういえば|実は|違う|違います|いや|覚えておいて(?:ね|ください)?[、。:：]?)[、,。]?\s*"
)
JA_TAIL = re.compile(r"(?:って)?(?:覚えておいて|覚えて|忘れないで|メモして)(?:ね|ください|下さい)?[。!！]*$")
END = re.compile(r"[\s.!?。！？、,]+$")

SELF_TO_YOU = [
    (r"\bI am\b", "you are"), (r"\bI'm\b", "you're"), (r"\bI was\b", "you were"), (r"\bI've\b", "you've"),
    (r"\bI\b", "you"), (r"\bme\b", "you"), (r"\bmy\b", "your"), (r"\bMy\b", "Your"), (r"\bmine\b", "yours"),
    (r"\bmyself\b", "yourself"), (r"\bour\b", "your"), (r"\bwe\b", "you"), (r"\bus\b", "you"),
]  # fmt: skip
JA_SELF = re.compile(r"(私|僕|俺|わたし|ぼく|おれ|自分)")


def to_you(text: str) -> str:
    """The user's words said back to them: "my cat" -> "your cat", "I am" -> "you are"."""
    for pattern, replacement in SELF_TO_YOU:
        text = re.sub(pattern, replacement, text)
    return text[:1].upper() + text[1:]


def clean(statement: str) -> str:
    text = " ".join(statement.split())
    text = LEAD_IN.sub("", text)
    text = JA_TAIL.sub("", JA_LEAD_IN.sub("", text))
    return END.sub("", text).strip()


def _sentence(text: str) -> str:
    text = text.strip()
    return text if text.endswith((".", "!", "。", "！")) else text + ("。" if not text.isascii() else ".")


def _name_like(text: str) -> bool:
    return bool(re.fullmatch(r"[A-Z][\w'.-]*(?: [A-Z][\w'.-]*){0,2}", text))


# -- English ------------------------------------------------------------------------------

EN_RULES: list[tuple[re.Pattern[str], str]] = [
    (re.compile(r"^(?:my name is|i'?m called|i am called|call me|you can call me|please call me) (?P<y>.+)$", re.I), "name"),
    (re.compile(r"^(?:my|our) (?P<x>[\w' -]{1,40}?)(?:'s name)? (?:is|are) (?:called|named) (?P<y>.+)$", re.I), "named"),
    (re.compile(r"^(?:my|our) (?P<x>[\w' -]{1,40}?)'s name (?:is|was) (?P<y>.+)$", re.I), "named"),
    (re.compile(r"^(?:my|our) (?P<x>[\w' -]{1,40}?) (?P<v>is|are|was|were) (?P<y>.+)$", re.I), "is"),
    (re.compile(r"^(?P<y>[A-Z][\w'.-]*(?: [A-Z][\w'.-]*)?) (?:is|was) my (?P<x>[\w' -]{1,40})$"), "who"),
    (re.compile(r"^(?:my|our) (?P<x>[\w' -]{1,30}?) (?P<v>lives|works|studies) (?:in|at|for) (?P<y>.+)$", re.I), "their"),
    (re.compile(r"^i(?: live|(?: am|'m) living) in (?P<y>.+)$", re.I), "live"),
    (re.compile(r"^i(?: work|(?: am|'m) working) (?:at|for) (?P<y>.+)$", re.I), "work"),
    (re.compile(r"^i(?: work as| am|'m) (?P<a>an?) (?P<y>[\w' -]{1,40})$", re.I), "job"),
    (re.compile(r"^i was born (?P<p>in|on) (?P<y>.+)$", re.I), "born"),
    (re.compile(r"^i(?:'m| am) allergic to (?P<y>.+)$", re.I), "allergic"),
    (re.compile(r"^i (?:really )?(?P<v>like|love|enjoy|prefer|hate|dislike) (?P<y>.+)$", re.I), "like"),
    (re.compile(r"^i (?:have|own|'ve got|have got) (?P<y>.+)$", re.I), "have"),
]  # fmt: skip


def _first_rule(rules: list[tuple[re.Pattern[str], str]], text: str) -> tuple[re.Match[str] | None, str]:
    """The first rule that reads `text`: (its match, its name), or (None, "")."""
    return next(((found, rule) for pattern, rule in rules if (found := pattern.match(text))), (None, ""))


def _who(name: str, what: str) -> Card:
    """A name asked back: "Who is Mochi?" -> "Mochi is your cat."."""
    return Card(
        f"who {name.lower()}",
        (f"Who is {name}?", f"Do you know who {name} is?", f"Who's {name}?"),
        f"{name} is your {what}.",
    )


def _english(text: str) -> list[Card]:
    found, rule = _first_rule(EN_RULES, text)
    if found is None:
        return []
    parts = {k: v.strip() for k, v in found.groupdict().items() if v}
    y = parts.get("y", "")
    x = parts.get("x", "").lower()
    if rule == "name":
        return [
            Card(
                "name",
                ("What is my name?", "What's my name?", "Do you know my name?", "What should you call me?",
                 "Who am I?", "How should you address me?", "Tell me my name."),
                f"Your name is {y}.",
            )
        ]  # fmt: skip
    if rule == "named":
        forward = Card(
            f"{x} name",
            (f"What is my {x} called?", f"What's the name of my {x}?", f"What is my {x}'s name?",
             f"Do you remember my {x}'s name?", f"What did I name my {x}?", f"Tell me my {x}'s name.",
             f"What do I call my {x}?"),
            f"Your {x} is called {y}.",
        )  # fmt: skip
        return [forward, _who(y, x)]
    if rule == "is":
        verb = parts["v"].lower()
        past = verb in ("was", "were")
        what = "Who" if _name_like(y) else "What"
        forward = Card(
            f"my {x}",
            (f"{what} {verb} my {x}?", f"Tell me my {x}.", f"Do you remember my {x}?", f"What did I say my {x} {verb}?",
             f"Remind me, {what.lower()} {verb} my {x}?", f"Do you know my {x}?",
             f"What's my {x}?" if not past else f"Which {x} did I have?"),
            f"Your {x} {verb} {y}.",
        )  # fmt: skip
        # Asked back only for a name: "What is green?" must stay a question about green.
        if _name_like(y) and not past:
            return [forward, _who(y, x)]
        return [forward]
    if rule == "their":
        verb = {"lives": "live", "works": "work", "studies": "study"}[parts["v"].lower()]
        where = "Where" if verb != "study" else "What"
        return [
            Card(
                f"{x} {verb}",
                (f"{where} does my {x} {verb}?", f"Do you remember where my {x} {parts['v'].lower()}?",
                 f"Tell me where my {x} {parts['v'].lower()}.", f"In which place does my {x} {verb}?",
                 f"{where} does my {x} {verb} now?"),
                _sentence(to_you(text)),
            )
        ]  # fmt: skip
    if rule == "who":
        return [
            Card(
                f"{x} name",
                (f"Who is my {x}?", f"What is my {x}'s name?", f"Do you remember my {x}?", f"Tell me who my {x} is.",
                 f"What's my {x} called?", f"Who's my {x}?"),
                f"Your {x} is {y}.",
            ),
            _who(y, x),
        ]  # fmt: skip
    questions = {
        "live": ("Where do I live?", "Which city do I live in?", "Where is my home?", "Do you remember where I live?",
                 "Where am I living now?", "Where's my home town?", "Where do I live now?"),
        "work": ("Where do I work?", "Which company do I work for?", "Who is my employer?",
                 "Do you remember where I work?", "Where's my workplace?", "Who do I work for?"),
        "job": ("What is my job?", "What do I do for a living?", "What's my profession?", "What do I work as?",
                "Do you remember my job?", "What is my occupation?"),
        "born": ("Where was I born?", "Where am I from?", "Do you know where I was born?", "What's my birthplace?")
        if parts.get("p", "").lower() == "in" and not re.search(r"\d", y)
        else ("When was I born?", "What is my birthday?", "Do you know when I was born?", "When is my birthday?"),
        "allergic": ("What am I allergic to?", "Do I have any allergies?", "What allergy do I have?",
                     "Do you remember my allergy?", "Which food should I avoid?"),
        "like": (f"What do I {parts.get('v', 'like').lower()}?", f"Do you know what I {parts.get('v', 'like').lower()}?",
                 f"Tell me something I {parts.get('v', 'like').lower()}.", "What did I say about my tastes?",
                 f"What is something I {parts.get('v', 'like').lower()}?"),
        "have": ("What do I have?", "Do you remember what I have?", "What did I tell you I have?", "What do I own?"),
    }[rule]  # fmt: skip
    return [Card(rule if rule != "like" else f"like {y.lower()}", questions, _sentence(to_you(text)))]


# -- Japanese ------------------------------------------------------------------------------

JA_RULES: list[tuple[re.Pattern[str], str]] = [
    (re.compile(r"^(?:私|僕|俺|わたし|ぼく)(?:の名前)?は(?P<y>[^、。]+?)(?:と申します|といいます|と言います)$"), "name"),
    (re.compile(r"^(?:私|僕|俺|わたし|ぼく)の名前は(?P<y>[^、。]+?)(?:です|だ|だよ)?$"), "name"),
    (re.compile(r"^(?P<y>[^、。]+?)(?:って|と)呼んで(?:ね|ください|下さい|ほしい|欲しい)?$"), "name"),
    (re.compile(r"^(?:私|僕|俺|わたし|ぼく)の(?P<x>[^、。は]+?)の名前は(?P<y>[^、。]+?)(?:です|だ|だよ|といいます)?$"), "named"),
    (re.compile(r"^(?:私|僕|俺|わたし|ぼく)の(?P<x>[^、。は]+?)は(?P<y>[^、。]+?)(?:という名前|って名前)(?:です|だ|だよ)?$"), "named"),
    (re.compile(r"^(?:私|僕|俺|わたし|ぼく)の(?P<x>[^、。は]+?)は(?P<y>[^、。]+?)(?:です|だ|だよ|でした)?$"), "is"),
    (re.compile(r"^(?:私|僕|俺|わたし|ぼく)は(?P<y>[^、。]+?)に住んで(?:います|いる|る|ます)$"), "live"),
    (re.compile(r"^(?:私|僕|俺|わたし|ぼく)は(?P<y>[^、。]+?)で働いて(?:います|いる|る|ます)$"), "work"),
    (re.compile(r"^(?:私|僕|俺|わたし|ぼく)は(?P<y>[^、。]+?)が(?:大)?好き(?:です|だ|だよ)?$"), "like"),
    (re.compile(r"^(?:私|僕|俺|わたし|ぼく)は(?P<y>[^、。]+?)アレルギー(?:です|だ|があります)?$"), "allergic"),
]  # fmt: skip


def _japanese(text: str) -> list[Card]:
    found, rule = _first_rule(JA_RULES, text)
    if found is None:
        return []
    y = found.group("y").strip()
    x = found.groupdict().get("x") or ""
    if rule == "name":
        return [
            Card(
                "name",
                ("私の名前は何ですか？", "私の名前は？", "私の名前を覚えていますか？", "私を何と呼べばいい？",
                 "私は誰でしょう？", "私の名前を教えて。", "私のこと、何て呼ぶんだっけ？"),
                f"あなたの名前は{y}です。",
            )
        ]  # fmt: skip
    if rule == "named":
        return [
            Card(
                f"{x} name",
                (f"私の{x}の名前は何ですか？", f"私の{x}の名前は？", f"私の{x}の名前を覚えていますか？",
                 f"私の{x}は何という名前？", f"私の{x}の名前を教えて。", f"私の{x}って何て名前だっけ？"),
                f"あなたの{x}の名前は{y}です。",
            ),
            Card(f"who {y}", (f"{y}って誰？", f"{y}は誰ですか？", f"{y}を知っていますか？"), f"{y}はあなたの{x}です。"),
        ]  # fmt: skip
    if rule == "is":
        return [
            Card(
                f"my {x}",
                (f"私の{x}は何ですか？", f"私の{x}は？", f"私の{x}を覚えていますか？", f"私の{x}を教えて。",
                 f"私の{x}って何だっけ？", f"私の{x}は何でしたか？"),
                f"あなたの{x}は{y}です。",
            ),
        ]  # fmt: skip
    questions, answer = {
        "live": (("私はどこに住んでいますか？", "私の住んでいる所は？", "私はどこに住んでる？", "私の住まいはどこ？",
                  "私の住んでいる場所を覚えていますか？", "私が住んでいる町は？"), f"あなたは{y}に住んでいます。"),
        "work": (("私はどこで働いていますか？", "私の職場は？", "私の勤め先はどこ？", "私がどこで働いているか覚えていますか？",
                  "私の会社はどこ？"), f"あなたは{y}で働いています。"),
        "like": (("私は何が好きですか？", "私の好きなものは？", "私が好きなものを覚えていますか？", "私の好物は何？",
                  "私は何が好きだっけ？"), f"あなたは{y}が好きです。"),
        "allergic": (("私は何のアレルギーですか？", "私のアレルギーは？", "私のアレルギーを覚えていますか？",
                      "私が避けるべき食べ物は？"), f"あなたは{y}アレルギーです。"),
    }[rule]  # fmt: skip
    # 「大阪で働いています」 says where the work is, "I work at Toyota" who employs: neither
    # replaces the other (the same key would).
    key = {"like": f"like {y}", "work": "workplace"}.get(rule, rule)
    return [Card(key, questions, answer)]


def _by_topic(text: str) -> list[Card]:
    """A statement no rule reads: asked by its topic, answered with the statement said back."""
    japanese = not text.isascii()
    if japanese:
        answer = _sentence(JA_SELF.sub("あなた", text))
        topic = next((t for t in query_terms(text) if len(t) >= 2), None)
        if topic is None:
            return []
        return [Card(f"about {text}", (f"{topic}について私が何を言ったか覚えていますか？", f"{topic}について私は何と言った？",
                                       f"{topic}について教えて。", f"{topic}について何を覚えていますか？"), answer)]  # fmt: skip
    skipped = {"i", "i'm", "you", "me", "my", "we", "our", "am", "is", "are", "was", "were", "have", "has", "just"}
    words = re.findall(r"[A-Za-z][\w'-]*", text)
    terms = set(query_terms(text))
    # The topic: a name and the word after it ("the Tokyo marathon"), else the last two words
    # that say something.
    named = re.search(r"(?<!^)\b([A-Z][\w'-]+(?: [A-Z][\w'-]+)*)(?: ([a-z][\w'-]+))?", text)
    content = [w for w in words if w.lower() not in skipped and w.lower() in terms]
    if named and named.group(1) != "I":
        topic = " ".join(g for g in named.groups() if g and (g == named.group(1) or g.lower() in terms))
    elif content:
        topic = " ".join(content[-2:])
    else:
        return []
    return [
        Card(
            f"about {text.lower()}",
            (f"What did I tell you about {topic}?", f"Do you remember what I said about {topic}?",
             f"What do you know about my {topic}?", f"What did I say about {topic}?"),
            _sentence(to_you(text)),
        )
    ]  # fmt: skip


SECRET = re.compile(
    r"\b(pass(?:word|phrase|code)|pin|token|api[ _-]?key|secret|credit card|card number|cvv|ssn|social security)\b|"
    r"パスワード|暗証番号|トークン|秘密鍵|クレジットカード",
    re.IGNORECASE,
)


def cards(statement: str) -> list[Card]:
    """What one statement of the user's teaches (empty for a question, nothing at all, or a
    secret: a password said once must never be in the weights, where no redaction reaches)."""
    text = clean(statement)
    if len(text) < 4 or statement.strip().endswith(("?", "？")) or SECRET.search(text):
        return []
    found = _english(text) if text.isascii() else _japanese(text)
    return found or _by_topic(text)
