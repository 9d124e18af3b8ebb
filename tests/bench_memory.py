"""Recall benchmark: planted facts in a long synthetic conversation, and recall latency.

    uv run python tests/bench_memory.py [--sessions 320] [--sizes 10000,100000]

A synthetic conversation of SESSIONS sessions in English and Japanese (chit-chat turns, with a
fact about a person planted in half of them) is written to a fresh database and consolidated
exactly as after real turns (chunks, extracted facts, embeddings). Each planted fact is then
asked about in other words: in the fact's language, and for a share of the English facts in
Japanese. Printed: recall@5 and recall@10 (a hit: a recalled memory holds both the person and
the answer) for hybrid retrieval, plain vector retrieval and plain keyword retrieval, overall
and per question language; then recall latency p50/p95 (hybrid, query embedding included)
with the memory grown to each size by filler memories.

Filler vectors: embedding 100,000 texts takes about 9 minutes on 2 cores, so 5,000 distinct
filler texts are embedded and the rest reuse those vectors with small noise (renormalised).
The keyword index gets every filler text itself. Search cost depends on the number of
vectors and rows, not on where the vectors came from.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

EN_FIRST = (
    "Alice Brian Chloe Daniel Emma Felix Grace Henry Isla Jack Kara Liam Maya Noah Olive Peter Quinn Rosa Sam Tara"
)
EN_LAST = "Hart Moss Lane Reed Frost Stone Wells Fox"
JA_FAMILY = "田中 佐藤 鈴木 高橋 伊藤 渡辺 山本 中村 小林 加藤"
JA_GIVEN = "花子 太郎 美咲 健太 陽菜 大輝 結衣 翔太"
CITIES = [
    ("Osaka", "大阪"),
    ("Sapporo", "札幌"),
    ("Fukuoka", "福岡"),
    ("Nagoya", "名古屋"),
    ("Sendai", "仙台"),
    ("Kobe", "神戸"),
    ("Nara", "奈良"),
    ("Okinawa", "沖縄"),
    ("Lisbon", "リスボン"),
    ("Toronto", "トロント"),
]
MONTHS = "January February March April May June July August September October November December".split()
WORDS = "maple orbit velvet lantern comet harbor pepper willow cobalt meadow falcon ember".split()
SERVICES = ["bank", "email", "library", "gym", "cloud", "school"]
SERVICES_JA = ["銀行", "メール", "図書館", "ジム", "クラウド", "学校"]
FOODS = "sushi ramen curry tempura pizza tacos dumplings pancakes".split()

EN_FILLER = [
    "I watched a documentary about {city} last night.",
    "Can you suggest a quick dinner with {food}?",
    "The weather in {city} looks nice this week.",
    "I'm reading a novel set in {month}.",
    "My laptop fan is noisy again.",
    "What's the difference between a comet and an asteroid?",
    "I need a gift idea for a coworker who likes {food}.",
    "Remind me how to boil an egg perfectly.",
]
JA_FILLER = [
    "昨日は{city}の番組を見ました。",
    "{food}を使った簡単な夕食を教えて。",
    "今週の{city}の天気はどう?",
    "最近よく眠れません。",
    "おすすめの映画はありますか?",
    "{month}に旅行したいな。",
    "パソコンの調子が悪いです。",
    "週末は何をしようかな。",
]
ANSWERS = [
    "Sure, here is what I can tell you about that.",
    "Good question. Let me think it through step by step.",
    "Noted. Anything else on your mind today?",
    "That sounds lovely; tell me more whenever you like.",
    "Here is a short answer, with a longer one if you want it.",
    "I see. I will keep that in mind for later.",
]
ANSWERS_JA = [
    "はい、それについてお答えします。",
    "なるほど、順番に考えてみましょう。",
    "了解です。ほかに気になることはありますか?",
    "いいですね。また詳しく教えてください。",
    "短く答えると、次のようになります。",
]


# Facts about the user, asked about in other words: little or no keyword overlap, so these
# measure what the vectors add. (statement, question, answer)
SELF_FACTS = {
    "en": [
        ("I'm allergic to peanuts.", "Which food should I stay away from?", "peanuts"),
        ("My car is a blue Honda Civic.", "What vehicle do I drive?", "Honda"),
        ("I usually wake up at 6:30.", "What time do I get up in the morning?", "6:30"),
        ("My favourite band is Radiohead.", "Which musicians do I like most?", "Radiohead"),
        ("I'm learning to play the cello.", "Which instrument am I practising?", "cello"),
        ("My apartment is on the 12th floor.", "How high up is my flat?", "12th"),
        ("I have a dentist appointment next Tuesday.", "When do I see the tooth doctor?", "Tuesday"),
        ("My wife's name is Laura.", "What is my spouse called?", "Laura"),
        ("I studied chemistry at university.", "What was my major in college?", "chemistry"),
        ("I commute to the office by train.", "How do I get to work?", "train"),
    ],
    "ja": [
        ("私はピーナッツアレルギーです。", "食べてはいけないものは?", "ピーナッツ"),
        ("通勤は自転車です。", "毎日どうやって会社に行ってる?", "自転車"),
        ("毎朝六時に起きます。", "何時に目が覚める?", "六時"),
        ("チェロを習っています。", "練習中の楽器は?", "チェロ"),
        ("妻の名前は恵子です。", "奥さんは何という名前?", "恵子"),
        ("大学では化学を専攻しました。", "学生時代の専攻は?", "化学"),
        ("マンションの十二階に住んでいます。", "部屋は何階?", "十二階"),
        ("好きなバンドはスピッツです。", "一番好きな音楽グループは?", "スピッツ"),
        ("車は青いプリウスです。", "乗っている車は?", "プリウス"),
        ("来週の火曜日に歯医者の予約があります。", "歯科の予約はいつ?", "火曜日"),
    ],
}


@dataclass
class Fact:
    statement: str
    question: str
    person: str
    answer: str
    language: str  # en, ja, cross (an English fact asked in Japanese), self-en, self-ja (about the user)


def people(rng: random.Random, count: int, japanese: bool) -> list[str]:
    if japanese:
        names = [f"{a}{b}" for a in JA_FAMILY.split() for b in JA_GIVEN.split()]
    else:
        names = [f"{a} {b}" for a in EN_FIRST.split() for b in EN_LAST.split()]
    rng.shuffle(names)
    return names[:count]


def make_facts(rng: random.Random, count: int) -> list[Fact]:
    facts: list[Fact] = []
    english = people(rng, count // 2, japanese=False)
    japanese = people(rng, count - count // 2, japanese=True)
    for index, person in enumerate(english):
        city, city_ja = rng.choice(CITIES)
        month, word, service = rng.choice(MONTHS), rng.choice(WORDS), rng.choice(SERVICES)
        day = rng.randint(1, 28)
        first = person  # full names: the bench's first names repeat
        options = [
            (
                f"My friend {person} lives in {city}.",
                f"Where does {first} live?",
                city,
                f"{first}はどこに住んでる?",
            ),
            (f"{person}'s birthday is on {month} {day}.", f"When is {first}'s birthday?", month, None),
            (
                f"{person} told me the {service} password hint is {word}.",
                f"What hint did {first} give for the {service} password?",
                word,
                None,
            ),
        ]
        statement, question, answer, in_japanese = options[index % len(options)]
        cross = in_japanese is not None and index % 2 == 0
        facts.append(Fact(statement, in_japanese if cross else question, first, answer, "cross" if cross else "en"))
    for index, person in enumerate(japanese):
        city, city_ja = rng.choice(CITIES)
        service = rng.randrange(len(SERVICES_JA))
        month, word = rng.randint(1, 12), rng.choice(WORDS)
        options = [
            (f"{person}さんは{city_ja}に住んでいます。", f"{person}さんの住まいはどこだっけ?", city_ja),
            (
                f"{person}さんの誕生日は{month}月{rng.randint(1, 28)}日です。",
                f"{person}さんの誕生日はいつ?",
                f"{month}月",
            ),
            (
                f"{person}さんが{SERVICES_JA[service]}のパスワードのヒントは{word}だと言っていました。",
                f"{person}さんの{SERVICES_JA[service]}のヒントは何だった?",
                word,
            ),
        ]
        statement, question, answer = options[index % len(options)]
        facts.append(Fact(statement, question, person, answer, "ja"))
    for language, planted in SELF_FACTS.items():
        facts += [Fact(statement, question, "", answer, f"self-{language}") for statement, question, answer in planted]
    rng.shuffle(facts)
    return facts


def filler_line(rng: random.Random, japanese: bool) -> str:
    city, city_ja = rng.choice(CITIES)
    template = rng.choice(JA_FILLER if japanese else EN_FILLER)
    return template.format(
        city=city_ja if japanese else city,
        food=rng.choice(FOODS),
        month=f"{rng.randint(1, 12)}月" if japanese else rng.choice(MONTHS),
    )


def write_conversation(store, rng: random.Random, sessions: int, facts: list[Fact]) -> int:
    """Sessions of 2-4 turns; every other session carries one planted fact."""
    turns = 0
    planted = iter(facts)
    for session in range(sessions):
        japanese = session % 2 == 1
        # Two filler sentences per message, so that chit-chat rarely repeats word for word.
        lines = [f"{filler_line(rng, japanese)} {filler_line(rng, japanese)}" for _ in range(rng.randint(2, 4))]
        if session % 2 == 0 or len(facts) > (sessions + 1) // 2:
            fact = next(planted, None)
            if fact is not None:
                lines.insert(rng.randrange(len(lines) + 1), fact.statement)
        for line in lines:
            turn = store.begin_turn(line, "bench")
            store.add_message(turn.turn_id, "planner", rng.choice(ANSWERS_JA if japanese else ANSWERS))
            store.end_turn(turn.turn_id, "done")
            turns += 1
    return turns


def hit(found, fact: Fact) -> bool:
    return any(fact.person in r.item.content and fact.answer in r.item.content for r in found)


def recall_figures(bank, facts: list[Fact]) -> None:
    print(f"\nrecall of {len(facts)} planted facts (questions worded differently from the facts)")
    print(f"{'mode':<8} {'group':<6} {'n':>4} {'recall@5':>9} {'recall@10':>10}")
    for mode in ("hybrid", "vector", "keyword"):
        results = {id(f): bank.recall(f.question, 10, mode=mode, touch=False) for f in facts}
        for group in ("all", "en", "ja", "cross", "self-en", "self-ja"):
            chosen = [f for f in facts if group == "all" or f.language == group]
            if not chosen:
                continue
            at5 = sum(hit(results[id(f)][:5], f) for f in chosen) / len(chosen)
            at10 = sum(hit(results[id(f)][:10], f) for f in chosen) / len(chosen)
            print(f"{mode:<8} {group:<6} {len(chosen):>4} {at5:>9.1%} {at10:>10.1%}")


def grow(bank, rng: random.Random, target: int, base_vectors, base_texts: list[str]) -> None:
    """Add filler memories until the bank holds `target` active items."""
    import numpy as np

    have = sum(bank.items.counts().values())
    step = 5000
    while have < target:
        count = min(step, target - have)
        picks = rng.choices(range(len(base_texts)), k=count)
        texts = [f"{base_texts[i]} ({have + n})" for n, i in enumerate(picks)]
        ids = bank.items.add_many("turn", texts, 0.3, "bench")
        noise = np.random.default_rng(have).normal(0, 0.02, (count, base_vectors.shape[1])).astype(np.float32)
        vectors = base_vectors[picks] + noise
        vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
        bank.index().add(ids, vectors)
        bank.items.mark_embedded(ids, bank.settings.embedding_model)
        have += count


def latency_figures(bank, facts: list[Fact], sizes: list[int], rng: random.Random) -> None:
    started = time.perf_counter()
    base_texts = list(
        dict.fromkeys(f"User: {filler_line(rng, rng.random() < 0.5)} {filler_line(rng, False)}" for _ in range(12000))
    )[:5000]
    base_vectors = bank.embedder.encode(base_texts)
    print(f"\nembedded {len(base_texts)} filler texts in {time.perf_counter() - started:.1f} s")
    print(f"{'items':>8} {'p50 ms':>8} {'p95 ms':>8} {'max ms':>8}   (hybrid recall, {len(facts)} queries)")
    queries = [f.question for f in facts]
    for size in sizes:
        started = time.perf_counter()
        grow(bank, rng, size, base_vectors, base_texts)
        grown = time.perf_counter() - started
        for query in queries[:10]:
            bank.recall(query, 10, touch=False)  # warm caches
        timings = []
        for query in queries:
            begun = time.perf_counter()
            bank.recall(query, 10, touch=False)
            timings.append((time.perf_counter() - begun) * 1000)
        timings.sort()
        p95 = timings[int(len(timings) * 0.95) - 1]
        print(
            f"{size:>8} {statistics.median(timings):>8.1f} {p95:>8.1f} {timings[-1]:>8.1f}   (filled in {grown:.0f} s)"
        )


def feed(store, talk) -> dict[str, int]:
    """Each line of `talk` as a turn of the one conversation ("Name: text", said at the
    line's time); the message id of each piece of evidence."""
    from sqlalchemy import text

    evidence: dict[str, int] = {}
    for session in talk.sessions:
        for line in session:
            turn = store.begin_turn(f"{line.speaker}: {line.text}", "bench")
            store.end_turn(turn.turn_id, "done")
            with store.engine.begin() as conn:
                at = line.when.replace(tzinfo=UTC).isoformat()
                conn.execute(text("UPDATE messages SET created_at = :at WHERE id = :id"), {"at": at, "id": turn.id})
            if line.key:
                evidence[line.key] = turn.id
    return evidence


def evidence_share(recalled, wanted: set[int]) -> float:
    sources = {m for r in recalled for m in r.item.source_message_ids}
    return len(wanted & sources) / len(wanted)


def conversation_figures(split: str, modes: list[str], embedding: str | None, crowded: bool = False) -> None:
    """recall@5 and @10 per kind of question over the ten conversations of `split`: a share
    of each question's evidence messages among the sources of the memories recalled. With
    `crowded`, all ten share one memory (ten times the distractors, as in a long life)."""
    from society.memory.bank import MemoryBank
    from society.memory.consolidate import consolidate
    from society.memory.settings import MemorySettings
    from society.models.tokens import estimate_tokens
    from society.storage.store import Store
    from tests.memory_conversations import conversations

    found: dict[str, list[tuple[str, float, float]]] = {mode: [] for mode in modes}
    tokens: list[int] = []
    timings: list[float] = []
    talks = conversations(split)
    lines = sum(len(s) for t in talks for s in t.sessions)
    asked = sum(len(t.questions) for t in talks)
    print(f"\n{len(talks)} conversations ({split}{', one memory' if crowded else ''}),", end=" ")
    print(f"{embedding or 'default'} embeddings,", end=" ")
    print(f"{lines} lines, {asked} questions")
    settings = MemorySettings(**({"embedding_model": embedding} if embedding else {}))
    if crowded:  # one memory holding every conversation: the others are distractors
        os.environ["SOCIETY_HOME"] = tempfile.mkdtemp(prefix="society-bench-memory-")
        store = Store()
        evidences = [feed(store, talk) for talk in talks]
        bank = MemoryBank(store, settings)
        consolidate(bank)
    for number, talk in enumerate(talks):
        if crowded:
            evidence = evidences[number]
        else:
            os.environ["SOCIETY_HOME"] = tempfile.mkdtemp(prefix="society-bench-memory-")
            store = Store()
            evidence = feed(store, talk)
            bank = MemoryBank(store, settings)
            consolidate(bank)
        for question in talk.questions:
            wanted = {evidence[key] for key in question.evidence}
            for mode in modes:
                begun = time.perf_counter()
                if mode == "two-step":  # the memory keeper's recall tool
                    recalled = bank.recall_two_step(question.text, 10, touch=False)
                    top5 = bank.recall_two_step(question.text, 5, touch=False)
                else:
                    recalled = bank.recall(question.text, 10, mode=mode, touch=False)
                    top5 = recalled[:5]
                if mode == "hybrid":
                    timings.append((time.perf_counter() - begun) * 1000)
                    tokens.append(sum(estimate_tokens(r.item.content) for r in top5))
                label = question.kind if question.kind != "cross" else f"cross ({question.language} q)"
                found[mode].append((label, evidence_share(top5, wanted), evidence_share(recalled, wanted)))
    kinds = sorted({label for label, _, _ in found[modes[0]]})
    print(f"{'mode':<8} {'questions':<14} {'n':>4} {'recall@5':>9} {'recall@10':>10}")
    for mode in modes:
        for kind in ["all", *kinds]:
            rows = [(a, b) for label, a, b in found[mode] if kind in ("all", label)]
            at5, at10 = (sum(r[i] for r in rows) / len(rows) for i in (0, 1))
            print(f"{mode:<8} {kind:<14} {len(rows):>4} {at5:>9.1%} {at10:>10.1%}")
    timings.sort()
    print(
        f"hybrid: {statistics.mean(tokens):.0f} tokens recalled per question (top 5),"
        f" search p50 {statistics.median(timings):.1f} ms, p95 {timings[int(len(timings) * 0.95) - 1]:.1f} ms"
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sessions", type=int, default=320)
    parser.add_argument("--sizes", default="10000,100000", help="memory sizes for the latency figures")
    parser.add_argument(
        "--conversations",
        choices=("dev", "report"),
        help="instead: the two-person conversations (tests/memory_conversations.py) of this split",
    )
    parser.add_argument("--crowded", action="store_true", help="with --conversations: all in one memory")
    parser.add_argument("--modes", default="hybrid,two-step,vector,keyword")
    parser.add_argument("--embedding", help="embedding model (default: memory settings' default)")
    options = parser.parse_args()
    if options.conversations:
        conversation_figures(options.conversations, options.modes.split(","), options.embedding, options.crowded)
        return
    os.environ["SOCIETY_HOME"] = tempfile.mkdtemp(prefix="society-bench-memory-")

    from society.memory.bank import MemoryBank
    from society.memory.consolidate import consolidate
    from society.storage.store import Store

    rng = random.Random(7)
    facts = make_facts(rng, options.sessions // 2 - 20)
    store = Store()
    started = time.perf_counter()
    turns = write_conversation(store, rng, options.sessions, facts)
    print(
        f"{options.sessions} sessions, {turns} turns, {len(facts)} planted facts"
        f" ({time.perf_counter() - started:.1f} s)"
    )
    bank = MemoryBank(store)
    bank.index()  # load the embedder (and export it once per machine) outside the timing
    started = time.perf_counter()
    report = consolidate(bank)
    counts = bank.items.counts()
    print(
        f"consolidated {report.turns} turns into {len(report.added)} memories, embedded {report.embedded},"
        f" merged {len(report.merged)} in {time.perf_counter() - started:.1f} s; active {counts.get('active', 0)}"
    )
    recall_figures(bank, facts)
    latency_figures(bank, facts, [int(s) for s in options.sizes.split(",") if s], rng)


if __name__ == "__main__":
    main()
