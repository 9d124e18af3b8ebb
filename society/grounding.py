"""Tool-call arguments held to what the user's request says. A small model copies the
request's values badly: it cuts "2,000,000" to 2, writes "Manchester" for "Manhattan", swaps a
from/to pair, fills optional arguments with guesses and lists "tag1, tag2". Here the first call
of a turn is compared with the request: numbers as stated, names snapped to the request's own
words, choices the request makes taken, guesses left out; and where a required name is still
not the request's, a Grounding asks the model once more with that argument constrained to the
request's own spans (society/toolcalls.py makes that retry).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from autogen_core.tools import ToolSchema

from society.memory.keywords import STOP as STOP_WORDS
from society.tool_schema import LONG_TEXT, normalised, parameters


@dataclass
class Grounding:
    """Argument values a tool call must be drawn from, found by looking at what the call
    names (the file it edits, say): `properties` replace those parameters' schemas for one
    more constrained try, and `note` shows the model what it may choose from."""

    properties: dict[str, dict[str, Any]]
    note: str


# Given a call's arguments and the user's request, a Grounding when the arguments need one
# (None: the call is fine as it is, or nothing better is known).
Grounder = Callable[[dict[str, Any], str], Grounding | None]


def request_sentences(request: str) -> list[str]:
    """The request, whole and sentence by sentence, without "@role" addressing: the values a
    small model should take from it verbatim (a rule to follow, a fact to remember)."""
    clean = " ".join(re.sub(r"^\s*@\w+\s*", "", request).split())
    parts = [p.strip() for p in re.findall(r"[^.!?。！？]+[.!?。！？]?", clean) if len(p.strip()) > 2]
    return list(dict.fromkeys([clean, *parts])) if clean else []


# "m" is left out: metres and minutes are as likely as millions.
SCALES = {"thousand": 1e3, "million": 1e6, "billion": 1e9, "trillion": 1e12, "k": 1e3, "bn": 1e9,
          "万": 1e4, "億": 1e8, "千": 1e3, "百万": 1e6}  # fmt: skip
UNITS = {w: n for n, w in enumerate("zero one two three four five six seven eight nine ten eleven twelve thirteen "
                                    "fourteen fifteen sixteen seventeen eighteen nineteen".split())}  # fmt: skip
TENS = {w: 10 * n for n, w in enumerate("_ _ twenty thirty forty fifty sixty seventy eighty ninety".split()) if n > 1}
# A number of its own: not a piece of a date, a time or a phone number ("2026-12-20", "10:30").
NUMBER = re.compile(
    r"(?<![A-Za-z0-9.])(?<!\d[-/:])(\d{1,3}(?:,\d{3})+|\d+(?:\.\d+)?)(?![-/:]\d)"
    r"\s*(thousand|million|billion|trillion|bn|k|百万|万|億|千)?(?![A-Za-z0-9])",
    re.IGNORECASE,
)
NUMBER_WORDS = re.compile(
    r"\b((?:(?:" + "|".join([*UNITS, *TENS, "hundred", "and"]) + r")[\s-]*)+)(thousand|million|billion)?\b", re.I
)


def _words_value(words: str) -> float | None:
    total, any_word = 0, False
    for word in re.split(r"[\s-]+", words.lower()):
        if word in UNITS or word in TENS:
            total, any_word = total + UNITS.get(word, TENS.get(word, 0)), True
        elif word == "hundred":
            total = max(1, total) * 100
    return float(total) if any_word else None


def request_numbers(request: str) -> list[float]:
    """The numbers a request states, as values: "2,000,000", "213 million", "1.5k",
    "three hundred", "3万"."""
    found = []
    for digits, scale in NUMBER.findall(request):
        found.append(float(digits.replace(",", "")) * SCALES.get(scale.lower(), 1.0))
    for words, scale in NUMBER_WORDS.findall(request):
        value = _words_value(words)
        if value is not None:
            found.append(value * SCALES.get(scale.lower(), 1.0))
    return found


def with_stated_numbers(arguments: dict[str, Any], tool: ToolSchema, request: str) -> dict[str, Any]:
    """Numbers the model cut short put back as the request states them: 2 for "2,000,000"
    and 213 for "213 million" become 2000000 and 213000000 (the model copies the digits it
    reads first). A value the request states as it is stays."""
    stated = request_numbers(request)
    properties = parameters(tool)["properties"]
    fixed = dict(arguments)
    for name, value in arguments.items():
        kind = properties.get(name, {}).get("type")
        if kind not in ("integer", "number") or isinstance(value, bool) or not isinstance(value, int | float):
            continue
        if not stated or value in stated:
            continue
        longer = [n for n in stated if n != value and f"{n:.0f}".startswith(f"{value:g}".split(".")[0])]
        if len(longer) == 1 and (kind == "number" or longer[0].is_integer()):
            fixed[name] = int(longer[0]) if kind == "integer" else longer[0]
    return fixed


# Similarity at which a string argument the request does not contain is taken for a slip of
# words it does ("Manchester" for "Manhattan": 0.53); starting with the same letter as well.
SNAP_AT = 0.5
MAX_SNAPPED = 60  # characters: longer strings are written, not named (a message, a poem)


# The pieces of a request a named value is made of: words and numbers (an address, a date or a
# phone number is one piece), and in Japanese runs of kanji, of katakana and of hiragana.
PIECE = re.compile(
    r"\+?[A-Za-z0-9](?:[A-Za-z0-9'.@/+_:-]*[A-Za-z0-9])?|[\u4e00-\u9fff\u3005]+|[\u30a0-\u30ff]+|[\u3040-\u309f]+"
)
MAX_SPANS = 200  # choices offered in a grounding retry


def request_spans(request: str, longest: int = 8) -> list[str]:
    """Runs of up to `longest` pieces of the request, as it writes them ("pear, apple, fig",
    "洗濯物を取り込む"), shortest first."""
    pieces = list(PIECE.finditer(request))
    runs = (
        request[pieces[i].start() : pieces[i + n - 1].end()]
        for n in range(1, longest + 1)
        for i in range(len(pieces) - n + 1)
    )
    return list(dict.fromkeys(runs))


def _mentions(request: str, word: str) -> bool:
    """Whether the request says `word` as a word of its own (any case; in Japanese, anywhere)."""
    if not word.isascii():
        return word in request
    return re.search(rf"(?<![A-Za-z0-9]){re.escape(word)}(?![A-Za-z0-9])", request, re.IGNORECASE) is not None


def grounded_arguments(arguments: dict[str, Any], tool: ToolSchema, request: str) -> dict[str, Any]:
    """Arguments held to what the request says (`_grounded_object`), objects within them too."""
    return _grounded_object(arguments, parameters(tool), request)


# Similarity at which text meant to be written (a message, a text to translate) is still taken
# for the request's own words, slightly misspelt ("good_morning" for "good morning").
SNAP_LONG_AT = 0.85
# A named value is a part of the request, not most of it ("ドイツの人口は？" is no country).
MOST_OF_REQUEST = 0.6


def _grounded_object(arguments: dict[str, Any], params: dict[str, Any], request: str) -> dict[str, Any]:
    """A string the request does not contain but nearly does ("Manchester" for the
    request's "Manhattan") becomes the request's own words; a choice the request names is the
    one taken ("fahrenheit" when it says so), even when the model left it out; a list of
    numbers is the numbers the request states; an optional argument the request says nothing
    of is left out (its default applies), instead of a guess: a string it does not name (or
    that is most of the request, or another argument's value), a choice it does not make, a
    number it does not state, a switch whose name it does not use."""
    required = set(params.get("required", []))
    properties = params.get("properties", {})
    stated = request_numbers(request)
    fixed: dict[str, Any] = {}
    for name, value in arguments.items():
        spec = properties.get(name, {})
        optional = name not in required
        others = [v for k, v in arguments.items() if k != name and isinstance(v, str | int | float)]
        if isinstance(value, dict) and isinstance(spec.get("properties"), dict):
            value = _grounded_object(value, normalised(spec), request)
        elif _choices(spec):
            named = [option for option in _choices(spec) if _mentions(request, option)]
            if len(named) == 1:
                value = named[0]
            elif not named and optional:
                continue  # a choice the request never makes
        elif isinstance(value, str) and 0 < len(value) <= MAX_SNAPPED:
            if value.lower() not in request.lower():
                snapped = _snapped(value, request, SNAP_LONG_AT if name in LONG_TEXT else SNAP_AT)
                if snapped is None and optional and name not in LONG_TEXT:
                    continue  # a guess at something the request never mentions
                value = snapped or value
            elif optional and name not in LONG_TEXT and not _names_apart(value, request, others):
                continue  # the request, or another argument's value, is not this one's
        elif isinstance(value, bool):
            if optional and not any(_mentions(request, word) for word in name.split("_") if len(word) > 2):
                continue  # a switch the request never mentions
        elif isinstance(value, int | float) and optional and value not in stated:
            continue  # a number the request never states
        elif isinstance(value, list) and spec.get("items", {}).get("type") in ("number", "integer") and stated:
            listed = [n for n in stated if n not in others]
            if listed and any(item not in stated for item in value):
                value = [int(n) if spec["items"]["type"] == "integer" or n.is_integer() else n for n in listed]
        fixed[name] = value
    for name, spec in properties.items():
        if name not in fixed and name not in required and _choices(spec):
            named = [o for o in _choices(spec) if _mentions(request, o) and o.lower() not in STOP_WORDS]
            if len(named) == 1:
                fixed[name] = named[0]  # the request makes the choice the model left out
    return fixed


def _choices(spec: dict[str, Any]) -> list[str]:
    options = spec.get("enum")
    return options if isinstance(options, list) and options and all(isinstance(o, str) for o in options) else []


def _snapped(value: str, request: str, at: float) -> str | None:
    """The span of the request `value` nearly is (starting with the same letter), or None."""
    from difflib import SequenceMatcher

    spans = [s for s in request_spans(request) if s[:1].lower() == value[:1].lower()]
    ratio, best = max(((SequenceMatcher(None, value.lower(), s.lower()).ratio(), s) for s in spans), default=(0.0, ""))
    return best if ratio >= at else None


def _names_apart(value: str, request: str, others: list[Any]) -> bool:
    """Whether `value`, a piece of the request, can be a name of its own: shorter than most
    of the request, neither inside nor around another argument's value ("10 minutes" as the
    label of a 10-minute timer), and not starting or ending with a stop word or particle."""
    if len(PIECE.findall(request)) > 1 and len(value) > MOST_OF_REQUEST * len(request.strip()):
        return False
    for other in others:
        shown = f"{other:g}" if isinstance(other, float) else str(other)
        if shown and (shown.lower() in value.lower() or value.lower() in shown.lower()):
            return False
    return _could_name(value, set())


SOURCE = re.compile(r"(?:^|_)(?:from|source|origin|start|src)(?:_|$)")
TARGET = re.compile(r"(?:^|_)(?:to|target|destination|dest|end)(?:_|$)")


def directed(arguments: dict[str, Any], request: str) -> dict[str, Any]:
    """A from/to pair of arguments (from_currency and to_currency, origin and destination)
    the right way round, as the request says it: the value after "to", "into" or "in" (before
    に, へ or まで) is the target, the one after "from" (before から) the source; with neither
    said, the one the request names first is the source. Small models swap them often."""
    sources = [name for name in arguments if SOURCE.search(name)]
    targets = [name for name in arguments if TARGET.search(name)]
    if len(sources) != 1 or len(targets) != 1:
        return arguments
    source, target = sources[0], targets[0]
    a, b = arguments[source], arguments[target]
    if not isinstance(a, str) or not isinstance(b, str) or not a or not b or a.lower() == b.lower():
        return arguments
    at_a, at_b = request.lower().find(a.lower()), request.lower().find(b.lower())
    if at_a < 0 or at_b < 0:
        return arguments

    def said(value: str, english: str, japanese: str) -> bool:
        v = re.escape(value)
        return bool(re.search(rf"\b(?:{english})\s+{v}", request, re.I) or re.search(rf"{v}\s*(?:{japanese})", request))

    targets_said = (said(a, "to|into|in", "に|へ|まで"), said(b, "to|into|in", "に|へ|まで"))
    sources_said = (said(a, "from", "から"), said(b, "from", "から"))
    if any(targets_said) or any(sources_said):
        swap = (targets_said[0] and not targets_said[1]) or (sources_said[1] and not sources_said[0])
    else:
        swap = at_a > at_b
    return {**arguments, source: b, target: a} if swap else arguments


# Particles and okurigana a Japanese name neither starts nor ends with.
PARTICLES = frozenset("の を に で は が と へ や も から まで より って えて して".split())


def _could_name(span: str, taken: set[str]) -> bool:
    """Whether a span of the request could be the name an argument wants: not too long, not
    a value another argument already has, not a number, and not starting or ending with a
    stop word or particle ("えて", "in USD")."""
    pieces = PIECE.findall(span)
    if not pieces:
        return False
    if len(span) > MAX_SNAPPED or span.lower() in taken or request_numbers(span) and len(pieces) == 1:
        return False
    edges = {pieces[0].lower(), pieces[-1].lower()}
    return not edges & (STOP_WORDS | PARTICLES) and not ("\u3040" <= pieces[0][0] <= "\u309f" and len(pieces[0]) < 3)


# Values a tool may rightly be given in words the request does not use: a file name to write
# to, a command for "list the files", a search query, an address.
MADE_UP = frozenset({"path", "file", "filename", "directory", "dir", "command", "query", "url", "pattern", "code"})


def span_grounding(arguments: dict[str, Any], tool: ToolSchema, request: str) -> Grounding | None:
    """For the first call of a turn whose required names are not the request's (the model
    wrote "Taiwan" for "大阪の天気", "Sydney" as both origin and destination, "Oslo on", the
    whole request as a country, "tag1" in a list of tags): those arguments to be chosen from
    the request's own spans, in one more constrained try. None when every value is fine."""
    params = parameters(tool)
    properties = params["properties"]
    loose, seen = [], set()
    for name in params.get("required", []):
        value, spec = arguments.get(name), properties.get(name, {})
        if name in LONG_TEXT | MADE_UP or {"enum", "const"} & spec.keys():
            continue
        numbers = [v for v in arguments.values() if isinstance(v, int | float) and not isinstance(v, bool)]
        if isinstance(value, str):
            if (
                value.lower() not in request.lower()
                or value.lower() in seen
                or not _names_apart(value, request, numbers)
            ):
                loose.append(name)
            seen.add(value.lower())
        elif isinstance(value, list) and spec.get("items", {}).get("type") == "string":
            if not value or any(not isinstance(item, str) or item.lower() not in request.lower() for item in value):
                loose.append(name)
    taken = {str(v).lower() for k, v in arguments.items() if k not in loose and isinstance(v, str)}
    longest = MOST_OF_REQUEST * len(request.strip())
    spans = [s for s in request_spans(request) if _could_name(s, taken) and len(s) <= longest][:MAX_SPANS]
    if not loose or not spans:
        return None
    grounded = {
        name: (
            {"type": "array", "items": {"type": "string", "enum": spans}, "minItems": 1, "maxItems": 8}
            if properties[name].get("type") == "array"
            else {"type": "string", "enum": spans}
        )
        for name in loose
    }
    return Grounding(properties=grounded, note=f"Take {', '.join(loose)} word for word from the user's request.")
