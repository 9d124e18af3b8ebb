"""Tool-call arguments held to what the user's request says. A small model copies the
request's values badly: it cuts "2,000,000" to 2, writes "Manchester" for "Manhattan", swaps a
from/to pair, fills optional arguments with guesses and lists "tag1, tag2". Here the first call
of a turn is compared with the request: numbers as stated, names snapped to the request's own
words, choices the request makes taken, guesses left out; and where a required name is still
not the request's, a Grounding asks the model once more with that argument constrained to the
request's own spans (society/toolcalls/client.py makes that retry).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from autogen_core.tools import ToolSchema

from society.text import cjk
from society.text.keywords import STOP as STOP_WORDS
from society.toolcalls.schema import FREE_FORM, LONG_TEXT, MAX_ITEMS, normalised, parameters


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


def with_unused_number(arguments: dict[str, Any], tool: ToolSchema, request: str) -> dict[str, Any]:
    """A number the request states and no argument holds, given to the one optional number
    parameter the call left out: "I need 3 seats from Tokyo to Seattle" -> passengers 3.
    Small models drop optional arguments the user did state. Only when there is one such
    number and one such parameter: otherwise which goes where would be a guess."""
    import jsonschema

    params = parameters(tool)
    properties, required = params.get("properties", {}), set(params.get("required", []))
    left_out = [
        name
        for name, spec in properties.items()
        if name not in arguments
        and name not in required
        and spec.get("type") in ("integer", "number")
        and not {"enum", "const"} & spec.keys()
    ]
    if len(left_out) != 1:
        return arguments
    numbers, texts = _held(arguments)
    unused = {n for n in request_numbers(request) if n not in numbers and not any(_written_in(n, t) for t in texts)}
    if len(unused) != 1:
        return arguments
    name, value = left_out[0], unused.pop()
    if properties[name]["type"] == "integer":
        if not value.is_integer():
            return arguments
        value = int(value)
    within = jsonschema.Draft202012Validator(properties[name]).is_valid(value)  # its minimum, maximum
    return {**arguments, name: value} if within else arguments


def _written_in(number: float, text: str) -> bool:
    """Whether `text` has `number` in it as a whole number ("Room 101"; not 2 in "2027-03-01")."""
    return re.search(rf"(?<![\d.]){re.escape(f'{number:g}')}(?![\d.])", text) is not None


def _held(value: Any) -> tuple[set[float], list[str]]:
    """The numbers and the strings within an argument value, however nested."""
    if isinstance(value, bool):
        return set(), []
    if isinstance(value, int | float):
        return {float(value)}, []
    if isinstance(value, str):
        return set(), [value]
    numbers: set[float] = set()
    texts: list[str] = []
    for item in value.values() if isinstance(value, dict) else value if isinstance(value, list) else ():
        more_numbers, more_texts = _held(item)
        numbers |= more_numbers
        texts += more_texts
    return numbers, texts


# Similarity at which a string argument the request does not contain is taken for a slip of
# words it does ("Manchester" for "Manhattan": 0.53); starting with the same letter as well.
SNAP_AT = 0.5
MAX_SNAPPED = 60  # characters: longer strings are written, not named (a message, a poem)


# The pieces of a request a named value is made of: words and numbers (an address, a date or a
# phone number is one piece), and in Japanese runs of kanji, of katakana and of hiragana.
PIECE = re.compile(
    r"\+?[A-Za-z0-9](?:[A-Za-z0-9'.@/+_:-]*[A-Za-z0-9])?"
    f"|[{cjk.KANJI}{cjk.ITERATION_MARK}]+|[{cjk.KATAKANA}]+|[{cjk.HIRAGANA}]+"
)
MAX_SPANS = 200  # choices offered in a grounding retry


def _mentions(request: str, word: str) -> bool:
    """Whether the request says `word` as a word of its own (any case; in Japanese, anywhere)."""
    if not word.isascii():
        return word in request
    return re.search(rf"(?<![A-Za-z0-9]){re.escape(word)}(?![A-Za-z0-9])", request, re.IGNORECASE) is not None


def grounded_arguments(arguments: dict[str, Any], tool: ToolSchema, request: str) -> dict[str, Any]:
    """Arguments held to what the request says (`_grounded_object`), objects within them too."""
    params = parameters(tool)
    return _grounded_object(distinct(arguments), params, request, _names_of(tool, params))


# Similarity at which text meant to be written (a message, a text to translate) is still taken
# for the request's own words, slightly misspelt ("good_morning" for "good morning").
SNAP_LONG_AT = 0.85
# A named value is a part of the request, not most of it ("ドイツの人口は？" is no country).
MOST_OF_REQUEST = 0.6


def _grounded_object(
    arguments: dict[str, Any], params: dict[str, Any], request: str, words: frozenset[str]
) -> dict[str, Any]:
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
            value = _grounded_object(value, normalised(spec), request, words)
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
                if snapped is None and name in LONG_TEXT and len(quoted := _quoted(request)) == 1:
                    snapped = quoted[0]  # 「いただきます」を英語に: the text is what the request quotes
                value = snapped or value
            elif optional and name not in LONG_TEXT and not _names_apart(value, request, arguments, name, words):
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


# What a request quotes: 'good morning', "Hello", 「ありがとう」.
REQUEST_QUOTE = re.compile(r"「([^」]+)」|『([^』]+)』|“([^”]+)”|\"([^\"]+)\"|(?<![A-Za-z])'([^']+)'(?![A-Za-z])")


def _quoted(request: str) -> list[str]:
    return [next(part for part in match.groups() if part) for match in REQUEST_QUOTE.finditer(request)]


def distinct(arguments: dict[str, Any]) -> dict[str, Any]:
    """Lists of strings with each item once ("tags, tags, tags"), objects within too."""
    return {
        name: list(dict.fromkeys(value))
        if isinstance(value, list) and all(isinstance(item, str) for item in value)
        else distinct(value)
        if isinstance(value, dict)
        else value
        for name, value in arguments.items()
    }


def _choices(spec: dict[str, Any]) -> list[str]:
    options = spec.get("enum")
    return options if isinstance(options, list) and options and all(isinstance(o, str) for o in options) else []


def _snapped(value: str, request: str, at: float) -> str | None:
    """The span of the request `value` nearly is (starting with the same letter), or None."""
    from difflib import SequenceMatcher

    spans = [s for s in request_spans(request) if s[:1].lower() == value[:1].lower()]
    ratio, best = max(((SequenceMatcher(None, value.lower(), s.lower()).ratio(), s) for s in spans), default=(0.0, ""))
    return best if ratio >= at else None


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


# Words of a request that ask rather than name ("I need two seats", "Put Yoga in my calendar").
ASKING = frozenset(
    "need want would like please put give show let make get set much many say called named number name list "
    "今 今日 明日 昨日 今週 来週 毎日".split()
)
# Words a single name does not run across: "Berlin to Oslo" is two names, "Team Sync on
# 2026-12-07" a name and a date.
BETWEEN_NAMES = frozenset("to on in at for from with into by and or is are was called named".split())
# Punctuation a single name does not run across ("220に旅行、夏", "ありがとう」を英語").
PUNCTUATION = re.compile(r"[、。，,.!?！？「」『』()（）\"“”‘’;；]|'\s|\s'")
# Particles and okurigana a Japanese name neither starts nor ends with.
PARTICLES = frozenset("の を に で は が と へ や も から まで より って えて して".split())
PARTICLE_ENDINGS = ("から", "まで", "より", "の", "を", "に", "で", "と", "へ", "が", "は", "も", "や")
VERB_ENDINGS = ("て", "で", "た", "だ", "る", "す", "い")  # 付けて, 探した, 取る, 探す, 早い
COUNTING_WORDS = frozenset([*SCALES, *UNITS, *TENS, "hundred"])


def _pieces(request: str) -> list[tuple[int, int]]:
    """Where the request's pieces are (PIECE), a particle ending a run of hiragana set apart
    ("みゆきの" is みゆき and の)."""
    found = []
    for match in PIECE.finditer(request):
        start, end = match.span()
        text = match.group()
        ending = next((p for p in PARTICLE_ENDINGS if text.endswith(p)), "") if _hiragana(text) else ""
        if ending and len(text) > len(ending):
            found += [(start, end - len(ending)), (end - len(ending), end)]
        else:
            found.append((start, end))
    return found


LONGEST_SPAN = 8  # pieces


def _runs(count: int) -> Iterator[tuple[int, int]]:
    """(first, last) of every run of up to LONGEST_SPAN of `count` pieces, shortest first."""
    for n in range(1, LONGEST_SPAN + 1):
        for i in range(count - n + 1):
            yield i, i + n - 1


def request_spans(request: str) -> list[str]:
    """Runs of pieces of the request, as it writes them ("Ursula Le Guin", "洗濯物を取り込む"),
    shortest first."""
    pieces = _pieces(request)
    return list(dict.fromkeys(request[pieces[i][0] : pieces[j][1]] for i, j in _runs(len(pieces))))


@dataclass
class Names:
    """Which spans of a request can be the name an argument wants: a city, a person, a tag.
    Not a span across punctuation or a joining word ("Berlin to Oslo"), nor one that starts
    or ends with a stop word, an asking word or a particle ("Oslo on", "えて"), a verb's stem
    (探 of 探して), a number, a word of the tool's own description ("tags" for add_tags),
    another argument's value or a span holding one ("mediumピザ" when the size is medium),
    or most of the request ("ドイツの人口は？")."""

    request: str
    tool_words: frozenset[str] = frozenset()
    taken: tuple[str, ...] = ()
    numbers: tuple[float, ...] = ()

    def __post_init__(self) -> None:
        # Only values the request holds can take a span from another argument ("Tokyo" is
        # not taken by a destination the model wrote as "Tokyo-Tokyo-Tokyo").
        self.taken = tuple(text for text in self.taken if text in self.request.lower())

    def spans(self) -> list[str]:
        pieces = _pieces(self.request)
        found = (run for run in _runs(len(pieces)) if self._fits(pieces, *run))
        return list(dict.fromkeys(self.request[pieces[i][0] : pieces[j][1]] for i, j in found))[:MAX_SPANS]

    def holds(self, value: str) -> bool:
        """Whether `value`, found in the request, is such a span there."""
        pieces = _pieces(self.request)
        at = self.request.lower().find(value.lower())
        starts = [i for i, piece in enumerate(pieces) if piece[0] == at]
        ends = [j for j, piece in enumerate(pieces) if piece[1] == at + len(value)]
        return bool(starts and ends) and self._fits(pieces, starts[0], ends[0])

    def _glued(self, pieces: list[tuple[int, int]], k: int) -> bool:
        """Whether pieces k and k + 1 are one word: kanji and katakana with nothing between."""
        (a, b), (c, d) = pieces[k], pieces[k + 1]
        return b == c and _cjk(self.request[a:b]) and _cjk(self.request[c:d])

    def _fits(self, pieces: list[tuple[int, int]], i: int, j: int) -> bool:
        request = self.request
        span = request[pieces[i][0] : pieces[j][1]]
        words = [request[s:e].lower() for s, e in pieces[i : j + 1]]
        if len(span) > MAX_SNAPPED or (len(pieces) > 1 and len(span) > MOST_OF_REQUEST * len(request.strip())):
            return False
        if (i > 0 and self._glued(pieces, i - 1)) or (j + 1 < len(pieces) and self._glued(pieces, j)):
            return False  # 語 of フランス語: part of a word
        gaps = (request[pieces[k][1] : pieces[k + 1][0]] for k in range(i, j))
        if any(PUNCTUATION.search(gap) for gap in gaps) or set(words[1:-1]) & (BETWEEN_NAMES | PARTICLES):
            return False
        edges = {words[0], words[-1]}
        if edges & (STOP_WORDS | PARTICLES | ASKING | BETWEEN_NAMES | self.tool_words | COUNTING_WORDS):
            return False
        if _hiragana(words[0]) and len(words[0]) < 3:
            return False  # okurigana or a particle, not the start of a name
        if j > i and _kanji(words[-2]) and _hiragana(words[-1]) and words[-1].endswith(VERB_ENDINGS):
            return False  # 付けて, 教えて: a verb, not a name
        after = pieces[j + 1] if j + 1 < len(pieces) else None
        stem = _kanji(words[-1]) and after and after[0] == pieces[j][1] and _hiragana(request[after[0] : after[1]])
        if stem and request[after[0] : after[1]] not in PARTICLE_ENDINGS:
            return False  # 探 of 探して: a verb's stem
        if words[0].replace(",", "").replace(".", "").isdigit() and not all(w.isdigit() for w in words):
            return False  # "3 seats": a number and what it counts
        if any(len(t) > 1 and (t in span.lower() or span.lower() in t) for t in self.taken):
            return False
        stated = request_numbers(span)
        return not (set(stated) & set(self.numbers)) and not (stated and len(words) == 1)


HIRAGANA = re.compile(f"[{cjk.HIRAGANA}]+")
KANJI = re.compile(f"[{cjk.KANJI}{cjk.ITERATION_MARK}]+")
CJK = re.compile(f"[{cjk.KANJI}{cjk.ITERATION_MARK}{cjk.KATAKANA}]+")  # kanji and katakana


def _hiragana(text: str) -> bool:
    return HIRAGANA.fullmatch(text) is not None


def _kanji(text: str) -> bool:
    return KANJI.fullmatch(text) is not None


def _cjk(text: str) -> bool:
    return CJK.fullmatch(text) is not None


def _names_of(tool: ToolSchema | None, params: dict[str, Any]) -> frozenset[str]:
    """The words a tool is described with (its name, description and parameter names), but
    not its quoted examples ("e.g. 'Paris'")."""
    text = " ".join([*_parameter_names(params)] + ([tool["name"], tool.get("description", "")] if tool else []))
    text = re.sub(r"'[^']*'|\"[^\"]*\"", " ", text)
    return frozenset(w.lower() for w in re.findall(r"[A-Za-z]+", text.replace("_", " ")))


def _parameter_names(schema: dict[str, Any]) -> list[str]:
    """The names of an object's parameters, those of objects within too."""
    names = []
    for name, spec in (schema.get("properties") or {}).items():
        names.append(name)
        if isinstance(spec, dict):
            names += _parameter_names(spec) + _parameter_names(spec.get("items") or {})
    return names


def _taken(arguments: dict[str, Any], but: str) -> tuple[tuple[str, ...], tuple[float, ...]]:
    """The other arguments' strings (list items too) and numbers."""
    texts: list[str] = []
    numbers: list[float] = []
    for name, value in arguments.items():
        if name == but:
            continue
        for item in value if isinstance(value, list) else [value]:
            if isinstance(item, str):
                texts.append(item.lower())
            elif isinstance(item, int | float) and not isinstance(item, bool):
                numbers.append(float(item))
    return tuple(texts), tuple(numbers)


def _names_apart(value: str, request: str, arguments: dict[str, Any], name: str, words: frozenset[str]) -> bool:
    """Whether `value`, a piece of the request, can be the name `name` wants (Names)."""
    texts, numbers = _taken(arguments, name)
    others = tuple(text for text in texts if text != value.lower())  # the same value twice: see span_grounding
    return Names(request, words, others, numbers).holds(value)


def settled(properties: dict[str, dict[str, Any]]) -> dict[str, Any] | None:
    """The values a grounding's schemas leave no choice about, or None when one has a choice:
    a const, a one-item enum, a list of a one-item enum that must not be empty (repeats are
    made distinct anyway), an object of such. A retry would only write these out."""
    values = {}
    for name, spec in properties.items():
        value = _only_value(spec)
        if value is _CHOICE:
            return None
        values[name] = value
    return values


_CHOICE = object()  # more than one value fits


def _only_value(spec: Any) -> Any:
    if not isinstance(spec, dict):
        return _CHOICE
    if "const" in spec:
        return spec["const"]
    if isinstance(spec.get("enum"), list) and len(spec["enum"]) == 1:
        return spec["enum"][0]
    if spec.get("type") == "array" and spec.get("minItems", 0) >= 1:
        item = _only_value(spec.get("items"))
        return _CHOICE if item is _CHOICE else [item]
    if spec.get("type") == "object" and isinstance(spec.get("properties"), dict):
        if set(spec.get("required", [])) != set(spec["properties"]):
            return _CHOICE  # an optional part may be left out or not
        inner = settled(spec["properties"])
        return _CHOICE if inner is None else inner
    return _CHOICE


def span_grounding(arguments: dict[str, Any], tool: ToolSchema, request: str) -> Grounding | None:
    """For the first call of a turn whose required names are not the request's (the model
    wrote "Taiwan" for "大阪の天気", "Sydney" as both origin and destination, "Oslo on", the
    whole request as a country, "tag1" in a list of tags, "The event." as an event's title):
    those arguments to be chosen from the request's own spans (Names) in one more constrained
    try, every other argument held to the value it has. None when every value is fine, or the
    request has no span to choose from."""
    params = parameters(tool)
    regrounded = _regrounded(arguments, params, request, _names_of(tool, params))
    if regrounded is None:
        return None
    schema, loose = regrounded
    return Grounding(
        properties=schema["properties"], note=f"Take {', '.join(loose)} word for word from the user's request."
    )


DATE_LIKE = re.compile(r"^\d{4}-\d{2}-\d{2}")


WORDS = re.compile(r"[A-Za-z]{3,}|[" + cjk.KATAKANA + cjk.KANJI + "]{2,}")


def _elaborates(value: str, request: str) -> bool:
    """Whether a value the request does not hold is built on its words, each once: the
    timezone "Asia/Tokyo" for "what time is it in Tokyo", which no span of the request could
    replace ("Tokyo-Tokyo-Tokyo" repeats itself, "Taiwan" for 大阪 shares nothing)."""
    words = [w.lower() for w in WORDS.findall(value)]
    said = {w.lower() for w in WORDS.findall(request)}
    return bool(words) and len(set(words)) == len(words) and any(w in said for w in words)


def _owner(value: str, names: list[str], properties: dict[str, Any]) -> str:
    """Of arguments given the same value, the one it belongs to: a date to the one about
    dates, anything else to the first."""
    if DATE_LIKE.match(value):
        for name in names:
            if "date" in f"{name} {properties.get(name, {}).get('description', '')}".lower():
                return name
    return names[0]


def _regrounded(
    arguments: dict[str, Any], params: dict[str, Any], request: str, words: frozenset[str]
) -> tuple[dict[str, Any], list[str]] | None:
    """The object schema of a retry for `arguments` (None when none is needed), and the
    names it asks for again."""
    properties = params.get("properties", {})
    required = [name for name in params.get("required", []) if name in arguments]
    same: dict[str, list[str]] = {}
    for name in required:
        if isinstance(arguments[name], str):
            same.setdefault(arguments[name].lower(), []).append(name)
    loose: list[str] = []
    nested: dict[str, dict[str, Any]] = {}
    for name in required:
        value, spec = arguments[name], properties.get(name, {})
        if name in LONG_TEXT | FREE_FORM or {"enum", "const"} & spec.keys():
            continue
        if isinstance(value, dict) and isinstance(spec.get("properties"), dict):
            inner = _regrounded(value, normalised(spec), request, words)
            if inner is not None:
                nested[name] = inner[0]
                loose.append(name)
        elif isinstance(value, str) and len(same[value.lower()]) == 1 and _as_asked(value, spec, request):
            continue  # the request's own words: never rewritten (kept_as_chosen)
        elif isinstance(value, str):
            twice = same[value.lower()]
            owned = len(twice) == 1 or _owner(value, twice, properties) == name
            if value.lower() not in request.lower():
                fits = _elaborates(value, request)
            else:
                fits = _names_apart(value, request, arguments, name, words)
            if not owned or not fits:
                loose.append(name)
        elif isinstance(value, list) and spec.get("items", {}).get("type") == "string":
            names = [item for item in value if isinstance(item, str)]
            if not names or not _as_asked(names, spec, request):  # the request's own words stay
                loose.append(name)
    if not loose:
        return None
    texts, numbers = _taken({k: v for k, v in arguments.items() if k not in loose}, "")
    spans = Names(request, words, texts, numbers).spans()
    if not spans:
        return None
    schema: dict[str, Any] = {k: {"const": v} for k, v in arguments.items() if k not in loose}
    for name in loose:
        if name in nested:
            schema[name] = nested[name]
        elif properties[name].get("type") == "array":
            items = {"type": "string", "enum": spans}
            schema[name] = {"type": "array", "items": items, "minItems": 1, "maxItems": MAX_ITEMS}
        else:
            schema[name] = {"type": "string", "enum": spans}
    return {"type": "object", "properties": schema, "required": list(schema)}, loose


def kept_as_chosen(
    chosen: dict[str, Any], held: dict[str, Any], params: dict[str, Any], request: str
) -> dict[str, Any]:
    """`held` (the call after the holding above), with what the model `chosen` put back where
    the holding must not have changed it: a value the request contains verbatim, a number
    the request states, a valid value of its schema (an enum member, a const, a switch) is
    never rewritten, and an optional argument the model chose is never left out unless its
    value is invalid. Values the holding added (a number the model left out, a choice the
    request makes) stay. Measured on held-out cases: the holding rewrote a 0.5B model's right
    values ("Boston, MA" -> "Boston", "2022" -> "if") and dropped right optional arguments,
    6 points below its raw reply; the holding may only mend what the model got wrong. It may
    still place the model's values: a value given to two arguments, two values swapped."""
    import jsonschema

    properties = params.get("properties", {})
    holders: dict[str, list[str]] = {}
    for name, value in chosen.items():
        if isinstance(value, str):
            holders.setdefault(value.lower(), []).append(name)
    # Two of the model's values exchanged by the holding (a from/to pair put the way the
    # request says it: "2,000,000 JPY in USD"): placed, not rewritten.
    swapped = {
        name
        for name, value in held.items()
        for other, theirs in held.items()
        if name != other and isinstance(value, str) and value == chosen.get(other) and theirs == chosen.get(name)
    }
    kept: dict[str, Any] = {name: held[name] for name in swapped}
    for name, value in chosen.items():
        spec = properties.get(name, {})
        if name in swapped:
            continue
        if isinstance(value, str) and len(holders[value.lower()]) > 1:
            # One value given to two arguments ("Sydney" as origin and destination) is right
            # for one at most: which one, the holding decides (it reads the request's "to").
            kept[name] = held.get(name, value)
            continue
        if name not in held:
            if spec and jsonschema.Draft202012Validator(spec).is_valid(value):
                kept[name] = value  # an optional argument the model chose, valid: its choice
            continue
        now = held[name]
        if isinstance(value, dict) and isinstance(now, dict) and isinstance(spec.get("properties"), dict):
            kept[name] = kept_as_chosen(value, now, normalised(spec), request)
        else:
            kept[name] = value if _as_asked(value, spec, request) else now
    return {**kept, **{name: value for name, value in held.items() if name not in kept}}


def _as_asked(value: Any, spec: dict[str, Any], request: str) -> bool:
    """Whether `value` is one the holding must keep: verbatim in the request, a number it
    states, or a valid value of a schema that lists its values (enum, const, boolean)."""
    if isinstance(spec.get("enum"), list) and value in spec["enum"] or "const" in spec and value == spec["const"]:
        return True
    if isinstance(value, bool):
        return True
    if isinstance(value, int | float):  # as stated: "1.6m" holds 1.6, "2,000,000" holds no 2
        written = re.escape(f"{value:g}")
        return (
            value in request_numbers(request) or re.search(rf"(?<![\d.,]){written}(?![\d]|[.,]\d)", request) is not None
        )
    if isinstance(value, str):
        said = " ".join(value.split()).casefold()
        return bool(said) and said in " ".join(request.split()).casefold()
    if isinstance(value, list):
        items = spec.get("items") if isinstance(spec.get("items"), dict) else {}
        return bool(value) and all(_as_asked(item, items, request) for item in value)
    return False
