"""The period a question asks about, for recall: "in May", "last week", "yesterday",
「5月に」, 「先週」. Memories said in that period are searched on their own as well and
count for more; a question without a period is searched as before.

A month without a year is the latest such month that has begun ("in May" asked in November
is this year's May; asked in March, last year's).
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

MONTHS = "january february march april may june july august september october november december".split()
NUMBERS = {m: n for n, m in enumerate(MONTHS, 1)} | {m[:3]: n for n, m in enumerate(MONTHS, 1)} | {"sept": 9}
# "may" is also a verb: a month only after in/during/since/of/last/this/early/late, or before a day or year.
ENGLISH_MONTH = re.compile(
    r"\b(?:(?:in|during|since|of|last|this|early|late|mid)\s+(?P<a>[a-z]+)\b|(?P<b>[a-z]+)\s+(?:\d{1,2}\b|\d{4}\b))",
    re.IGNORECASE,
)
JAPANESE_MONTH = re.compile(r"(?:(?P<year>\d{4})年)?\s*(?P<month>1[0-2]|１[０-２]|[1-9]|[１-９])月")
FULL_WIDTH = str.maketrans("０１２３４５６７８９", "0123456789")
RELATIVE = [
    (re.compile(r"\byesterday\b|昨日", re.IGNORECASE), "yesterday"),
    (re.compile(r"\btoday\b|今日", re.IGNORECASE), "today"),
    (re.compile(r"\blast week\b|先週", re.IGNORECASE), "last week"),
    (re.compile(r"\bthis week\b|今週", re.IGNORECASE), "this week"),
    (re.compile(r"\blast month\b|先月", re.IGNORECASE), "last month"),
    (re.compile(r"\bthis month\b|今月", re.IGNORECASE), "this month"),
    (re.compile(r"\blast year\b|去年|昨年", re.IGNORECASE), "last year"),
]


def _month(year: int, month: int) -> tuple[datetime, datetime]:
    start = datetime(year, month, 1, tzinfo=UTC)
    end = datetime(year + (month == 12), month % 12 + 1, 1, tzinfo=UTC)
    return start, end


def _latest(month: int, today: datetime) -> tuple[datetime, datetime]:
    return _month(today.year if month <= today.month else today.year - 1, month)


def period(question: str, today: datetime | None = None) -> tuple[datetime, datetime] | None:
    """[start, end) of the time `question` asks about, or None."""
    today = today or datetime.now(UTC)
    day = datetime(today.year, today.month, today.day, tzinfo=UTC)
    for pattern, name in RELATIVE:
        if pattern.search(question):
            if name in ("yesterday", "today"):
                start = day - timedelta(days=name == "yesterday")
                return start, start + timedelta(days=1)
            if name in ("last week", "this week"):
                monday = day - timedelta(days=day.weekday())
                start = monday - timedelta(days=7 * (name == "last week"))
                return start, start + timedelta(days=7)
            if name == "last year":
                return datetime(today.year - 1, 1, 1, tzinfo=UTC), datetime(today.year, 1, 1, tzinfo=UTC)
            back = today.month - 1 if name == "last month" else today.month
            year = today.year if back >= 1 else today.year - 1
            return _month(year, back if back >= 1 else 12)
    found = JAPANESE_MONTH.search(question)
    if found:
        month = int(found["month"].translate(FULL_WIDTH))
        return _month(int(found["year"]), month) if found["year"] else _latest(month, today)
    for match in ENGLISH_MONTH.finditer(question):
        word = (match["a"] or match["b"]).lower()
        if number := NUMBERS.get(word):
            year = re.search(rf"{word}\s+(?:\d{{1,2}},?\s+)?(\d{{4}})", question, re.IGNORECASE)
            return _month(int(year.group(1)), number) if year else _latest(number, today)
    return None
