"""Long multi-session conversations between two named people, with questions whose evidence
is known, for the memory benchmark (tests/bench_memory.py --conversations).

Built the way public long-conversation benchmarks are (LoCoMo): sessions on dates weeks
apart, chit-chat around the facts (short replies such as "I love it." included, the lines
that end up in every result list), facts said as statements or as the answer to the other
person's question (the answer is then in the reply, not in the line that matches the
question's words), and questions of four kinds:

- single: one piece of evidence, asked in other words;
- multi: two pieces said in different sessions (both are needed);
- temporal: when something happened (the memory's date answers it), or what someone said
  in a month;
- cross: a single-hop question in the other language (Japanese about an English
  conversation, English about a Japanese one).

Conversations 0-4 of a split are generated from different names and seeds than 5-9; `dev`
is what recall was tuned on, `report` is only measured.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import datetime, timedelta

EN_NAMES = (
    "Melanie John Caroline Marcus Priya Daniel Sofia Henry Aisha Lucas Nora Omar Grace Ethan Chloe Victor "
    "Hannah Leo Maya Samuel"
).split()
JA_NAMES = "美咲 健太 陽菜 大輝 結衣 翔太 さくら 蓮 葵 悠真 凛 湊 芽衣 颯太 琴音 樹".split()
MONTHS = "January February March April May June July August September October November December".split()

# (English, Japanese) values.
PETS = [("dog", "犬"), ("cat", "猫"), ("rabbit", "うさぎ"), ("parrot", "インコ")]
PET_NAMES = "Biscuit Pepper Mochi Luna Tofu Ziggy Noodle Maple Oreo Sunny".split()
CITIES = [("Osaka", "大阪"), ("Lisbon", "リスボン"), ("Toronto", "トロント"), ("Sapporo", "札幌"),
          ("Vienna", "ウィーン"), ("Seattle", "シアトル"), ("Kyoto", "京都"), ("Dublin", "ダブリン")]  # fmt: skip
HOBBIES = [("pottery", "陶芸"), ("salsa dancing", "サルサダンス"), ("watercolor painting", "水彩画"),
           ("rock climbing", "ボルダリング"), ("piano", "ピアノ"), ("photography", "写真")]  # fmt: skip
JOBS = [("nurse", "看護師"), ("software engineer", "エンジニア"), ("teacher", "教師"),
        ("chef", "料理人"), ("architect", "建築家"), ("pharmacist", "薬剤師")]  # fmt: skip
DISHES = [("lasagna", "ラザニア"), ("pho", "フォー"), ("paella", "パエリア"), ("curry", "カレー"),
          ("dumplings", "餃子"), ("tacos", "タコス")]  # fmt: skip
FREQUENCIES = [("three times a week", "週に三回"), ("every morning", "毎朝"), ("twice a week", "週に二回"),
               ("on weekends", "週末に")]  # fmt: skip
INSTRUMENTS = [("cello", "チェロ"), ("guitar", "ギター"), ("violin", "バイオリン"), ("drums", "ドラム")]

FILLER_EN = [
    "How was your week?", "Pretty busy, but good overall.", "I love it.", "Haha, yes!", "That's great!",
    "The weather has been so grey lately.", "I made soup last night, it was nice.", "Same here, honestly.",
    "Did you watch the game on Sunday?", "Work has been hectic this month.", "Thanks, that means a lot.",
    "I need more sleep, to be honest.", "Let's catch up again soon.", "Wow, really?", "Sounds fun!",
    "My commute was awful today.", "I tried a new coffee place downtown.", "Totally agree.",
]  # fmt: skip
FILLER_JA = [
    "今週はどうだった？", "忙しかったけど、まあまあ良かったよ。", "いいね！", "本当に？", "すごい！",
    "最近ずっと曇ってるね。", "昨日の夜はスープを作ったよ。", "私もそう思う。", "日曜の試合見た？",
    "今月は仕事がバタバタしてる。", "ありがとう、うれしい。", "もっと寝たいなあ。", "また近いうちに話そうね。",
    "通勤が大変だった。", "駅前の新しいカフェに行ってみた。", "わかる。",
]  # fmt: skip
WHEN = {
    "en": {"pet": "When did {p} adopt a pet?", "workout": "When did {p} say how often they go to the gym?",
           "sister": "When did {p}'s sister move?", "hobby": "When did {p} sign up for classes?",
           "job": "When did {p} find a new job?", "dish": "When did {p} mention a favourite dish to cook?",
           "music": "When did {p} say they practise an instrument every evening?"},
    "ja": {"pet": "{p}がペットを飼い始めたのはいつ？", "workout": "{p}がジムに行く頻度を話したのはいつ？",
           "sister": "{p}の妹が引っ越したのはいつ？", "hobby": "{p}が教室に通い始めたのはいつ？",
           "job": "{p}の転職が決まったのはいつ？", "dish": "{p}が得意料理の話をしたのはいつ？",
           "music": "{p}が毎晩楽器を練習していると話したのはいつ？"},
}  # fmt: skip


@dataclass
class Line:
    speaker: str
    text: str
    when: datetime
    key: str | None = None  # the evidence this line is, if any


@dataclass
class Question:
    text: str
    kind: str  # single, multi, temporal, cross
    language: str  # en, ja
    evidence: list[str]  # keys of the lines that answer it


@dataclass
class Conversation:
    language: str
    people: tuple[str, str]
    sessions: list[list[Line]] = field(default_factory=list)
    questions: list[Question] = field(default_factory=list)


def _facts_en(rng: random.Random, me: str, other: str) -> list[tuple[str, list[tuple[str, str]], list]]:
    """(topic, lines as (speaker, text), questions as (text_en, text_ja)) for one person."""
    animal, pet, city = rng.choice(PETS), rng.choice(PET_NAMES), rng.choice(CITIES)
    hobby, job, dish = rng.choice(HOBBIES), rng.choice(JOBS), rng.choice(DISHES)
    frequency, instrument = rng.choice(FREQUENCIES), rng.choice(INSTRUMENTS)
    return [
        ("pet", [(me, f"We adopted a {animal[0]} last weekend! We named it {pet}.")],
         [(f"What is the name of {me}'s {animal[0]}?", f"{me}の{animal[1]}の名前は？")]),
        ("workout", [(other, f"How often do you go to the gym, {me}?"), (me, f"Oh, {frequency[0]}, usually.")],
         [(f"How often does {me} work out?", f"{me}はどのくらいの頻度でジムに行く？")]),
        ("sister", [(me, f"My sister just moved to {city[0]} for work.")],
         [(f"Which city did {me}'s sister move to?", f"{me}の姉妹はどの街に引っ越した？")]),
        ("hobby", [(me, f"I signed up for {hobby[0]} classes, the first one was amazing.")],
         [(f"What classes did {me} sign up for?", f"{me}が習い始めたことは？")]),
        ("job", [(other, f"Any news about the job search, {me}?"), (me, f"Yes! I start as a {job[0]} next month.")],
         [(f"What is {me}'s new job?", f"{me}の新しい仕事は何？")]),
        ("dish", [(other, f"What's your favourite thing to cook, {me}?"), (me, f"Definitely {dish[0]}, every time.")],
         [(f"Which dish does {me} like to cook most?", f"{me}が一番好きな料理は？")]),
        ("music", [(me, f"I've been practising the {instrument[0]} every evening.")],
         [(f"Which instrument is {me} practising?", f"{me}が練習している楽器は？")]),
    ]  # fmt: skip


def _facts_ja(rng: random.Random, me: str, other: str) -> list[tuple[str, list[tuple[str, str]], list]]:
    """The same facts said in Japanese; questions as (text_ja, text_en)."""
    animal, pet, city = rng.choice(PETS), rng.choice(PET_NAMES), rng.choice(CITIES)
    hobby, job, dish = rng.choice(HOBBIES), rng.choice(JOBS), rng.choice(DISHES)
    frequency, instrument = rng.choice(FREQUENCIES), rng.choice(INSTRUMENTS)
    return [
        ("pet", [(me, f"先週末、{animal[1]}を飼い始めたんだ！名前は{pet}にしたよ。")],
         [(f"{me}が飼い始めた{animal[1]}の名前は？", f"What is the name of {me}'s {animal[0]}?")]),
        ("workout", [(other, f"{me}はどのくらいジムに行ってるの？"), (me, f"だいたい{frequency[1]}かな。")],
         [(f"{me}の運動の頻度は？", f"How often does {me} go to the gym?")]),
        ("sister", [(me, f"妹が仕事で{city[1]}に引っ越したんだ。")],
         [(f"{me}の妹はどこに引っ越した？", f"Where did {me}'s sister move?")]),
        ("hobby", [(me, f"{hobby[1]}の教室に通い始めたよ。初回から楽しかった。")],
         [(f"{me}が通い始めた教室は？", f"What classes did {me} start?")]),
        ("job", [(other, f"{me}、転職活動はどうなった？"), (me, f"決まったよ！来月から{job[1]}として働くんだ。")],
         [(f"{me}の新しい仕事は？", f"What will {me} work as?")]),
        ("dish", [(other, f"{me}の得意料理って何？"), (me, f"やっぱり{dish[1]}だね。")],
         [(f"{me}がよく作る料理は？", f"Which dish does {me} cook best?")]),
        ("music", [(me, f"毎晩{instrument[1]}の練習をしているんだ。")],
         [(f"{me}が練習している楽器は？", f"Which instrument does {me} practise?")]),
    ]  # fmt: skip


def conversation(index: int, split: str) -> Conversation:
    """Conversation `index` (0-9) of `split` (dev or report): 0-5 in English, 6-9 in Japanese."""
    rng = random.Random(f"{split}-{index}")
    language = "en" if index < 6 else "ja"
    names = EN_NAMES if language == "en" else JA_NAMES
    half = len(names) // 2
    pool = names[:half] if split == "dev" else names[half:]
    a, b = rng.sample(pool, 2)
    facts = _facts_en if language == "en" else _facts_ja
    filler = FILLER_EN if language == "en" else FILLER_JA
    talk = Conversation(language, (a, b))
    planned = [(person, topic, lines, asked) for person, other in ((a, b), (b, a))
               for topic, lines, asked in facts(rng, person, other)]  # fmt: skip
    rng.shuffle(planned)
    sessions = 12
    start = datetime(2026, 1, 4, 18, 0) + timedelta(days=rng.randint(0, 20))
    by_session: list[list] = [[] for _ in range(sessions)]
    for n, fact in enumerate(planned):
        by_session[n % sessions].append(fact)
    said: dict[str, tuple[str, datetime]] = {}  # evidence key -> (person, when)
    for s in range(sessions):
        when = start + timedelta(days=17 * s + rng.randint(0, 3), minutes=rng.randint(0, 120))
        lines: list[Line] = []
        speakers = [a, b]
        for n in range(rng.randint(6, 10)):
            lines.append(Line(speakers[n % 2], rng.choice(filler), when))
        for person, topic, fact_lines, _ in by_session[s]:
            at = rng.randrange(len(lines) + 1)
            key = f"{person}:{topic}"
            piece = [Line(sp, text, when, key if sp == person else None) for sp, text in fact_lines]
            lines[at:at] = piece
            said[key] = (person, when)
        for n, line in enumerate(lines):
            line.when = when + timedelta(minutes=n)
        talk.sessions.append(lines)
    for person, topic, _, asked in planned:
        key = f"{person}:{topic}"
        native, other_language = asked[0]
        talk.questions.append(Question(native, "single", language, [key]))
        if rng.random() < 0.65:
            talk.questions.append(Question(other_language, "cross", "ja" if language == "en" else "en", [key]))
    # Multi-hop: two facts of one person said in different sessions.
    for person in (a, b):
        pet = next(text for p, t, lines, _ in planned if p == person and t == "pet" for _, text in lines)
        pet_name = pet.split()[-1].rstrip(".") if language == "en" else pet.split("名前は")[1].split("に")[0]
        for first, second in (("hobby", "music"), ("pet", "sister")):
            if first == "hobby":  # two things of one person's, said in different sessions
                text = f"What activities does {person} do in their free time?"
                text = text if language == "en" else f"{person}は自由な時間に何をしている？"
            else:  # a bridge: who has the pet, then where that person's sister moved
                text = f"Which city did the sister of the person who named a pet {pet_name} move to?"
                text = text if language == "en" else f"ペットに{pet_name}と名付けた人の妹はどこに引っ越した？"
            talk.questions.append(Question(text, "multi", language, [f"{person}:{first}", f"{person}:{second}"]))
    # Temporal, as LoCoMo asks it: when something happened (the memory's date answers it).
    for key in rng.sample(sorted(said), 2):
        person, topic = key.split(":")
        talk.questions.append(Question(WHEN[language][topic].format(p=person), "temporal", language, [key]))
    # And what a person said in a month (said then, among everything else said that month).
    months = sorted({(person, when.year, when.month) for person, when in said.values()})
    for person, year, number in rng.sample(months, 2):
        month = MONTHS[number - 1]
        text = (
            f"What did {person} talk about in {month}?" if language == "en" else f"{person}は{number}月に何の話をした？"
        )
        in_month = [k for k, (p, w) in said.items() if p == person and (w.year, w.month) == (year, number)]
        talk.questions.append(Question(text, "temporal", language, in_month))
    return talk


def conversations(split: str, count: int = 10) -> list[Conversation]:
    return [conversation(i, split) for i in range(count)]
