"""Keyword search that works for Japanese as well as English.

FTS5's default tokenizer splits on spaces, which Japanese does not have; its trigram tokenizer
cannot match the two-character words Japanese is full of (名前, 東京, 仕事). So text is
analysed before indexing the way Lucene's CJK analyser does it: Latin words lowercased, and
runs of Japanese (or Chinese) characters as overlapping bigrams plus each kanji or katakana
on its own. A query keeps what carries meaning: the kanji and katakana stretches between the
hiragana (particles and endings), one character as itself, longer ones as bigrams. So
「猫の名前は?」 searches 猫 and 名前, and finds 「私の猫の名前はモチです」.
"""

from __future__ import annotations

import re

from society.text import cjk

LATIN = re.compile(r"[a-z0-9]+")  # "isla's" is "isla" and "s": possessives must not hide names
CJK_RUN = re.compile(
    f"[{cjk.KANA}{cjk.IDEOGRAPHS}{cjk.COMPATIBILITY_IDEOGRAPHS}{cjk.HALFWIDTH_KATAKANA}{cjk.LONG_VOWEL_MARK}{cjk.ITERATION_MARK}]+"
)
# Words too common to say what a memory is about (queries only; the index keeps everything).
STOP = frozenset(
    "a an the and or but to of in on at for with is are was were be been it its this that these those i me my "
    "you your we our he she they them what which who whom when where why how do does did can could would "
    "should will shall about tell please again any some from as by so not no yes s t "
    "his her hers him has had have their theirs us am into than then there".split()
)


def _segments(run: str) -> list[str]:
    """The stretches of a Japanese run between its hiragana."""
    return [part for part in re.split(f"[{cjk.HIRAGANA}]+", run) if part]


def _bigrams(run: str) -> list[str]:
    return [run] if len(run) == 1 else [run[i : i + 2] for i in range(len(run) - 1)]


def terms(text: str) -> list[str]:
    """The index terms of `text`: Latin words, Japanese bigrams and single kanji/katakana."""
    folded = text.lower()
    found = LATIN.findall(folded)
    for run in CJK_RUN.findall(folded):
        found.extend(_bigrams(run))
        found.extend(char for part in _segments(run) for char in part if len(run) > 1)
    return found


def index_text(text: str) -> str:
    return " ".join(terms(text))


def query_terms(text: str) -> list[str]:
    """Terms worth searching for: no stop words, and of Japanese only the kanji/katakana
    stretches (one character as itself, longer ones as bigrams)."""
    folded = text.lower()
    chosen = [w for w in LATIN.findall(folded) if w not in STOP]
    for run in CJK_RUN.findall(folded):
        for part in _segments(run):
            chosen.extend(_bigrams(part))
    return list(dict.fromkeys(chosen))


def trigrams(text: str) -> set[str]:
    """Character trigrams of `text`, case and spacing folded: how much two texts say alike."""
    folded = " ".join(text.lower().split())
    return {folded[i : i + 3] for i in range(max(1, len(folded) - 2))}


def match_expression(text: str) -> str | None:
    """An FTS5 MATCH expression: any of the query's terms, each quoted."""
    chosen = query_terms(text)
    if not chosen:
        return None
    return " OR ".join('"' + t.replace('"', '""') + '"' for t in chosen)
