"""Japanese character classes, for building regular expressions: one home for the ranges
the keyword index, tool-call grounding, file edits, memory and wishes read Japanese by.

Each is the inside of a character class (`f"[{KANA}{KANJI}]+"`)."""

from __future__ import annotations

import re

HIRAGANA = "\u3040-\u309f"
KATAKANA = "\u30a0-\u30ff"
KANA = "\u3040-\u30ff"  # hiragana and katakana
KANJI = "\u4e00-\u9fff"  # the CJK unified ideographs
IDEOGRAPHS = "\u3400-\u9fff"  # the unified ideographs with extension A
COMPATIBILITY_IDEOGRAPHS = "\uf900-\ufaff"
HALFWIDTH_KATAKANA = "\uff66-\uff9f"
ITERATION_MARK = "\u3005"  # 々, as in 人々
LONG_VOWEL_MARK = "ー"

JAPANESE_LETTER = re.compile(f"[{KANA}{KANJI}]")
LATIN_LETTER = re.compile(r"[A-Za-z]")
