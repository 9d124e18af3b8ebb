"""What recall does about what a long conversation between people showed (issue 20 of the
tracker; tests/bench_memory.py --conversations measures it): lines that match everything,
facts that lose their speaker, answers in the next message, English word forms, questions
in another language, questions about a time, and questions that hang on a first answer."""

from datetime import UTC, datetime

from society.memory.bank import MemoryBank, brevity
from society.memory.consolidate import consolidate
from society.storage.store import Store

CHIT_CHAT = [
    "That's great!", "Haha, yes!", "Sounds fun!", "Totally agree.", "Wow, really?", "Same here, honestly.",
    "How was your week?", "Pretty busy, but good overall.", "Thanks, that means a lot.", "Let's catch up soon.",
]  # fmt: skip


def said(store: Store, lines: list[tuple[str, str]]) -> dict[str, int]:
    """Each (when, "Name: text") as a turn said at that time; message id by text."""
    from sqlalchemy import text

    ids = {}
    for when, line in lines:
        turn = store.begin_turn(line, "test")
        store.end_turn(turn.turn_id, "done")
        with store.engine.begin() as conn:
            conn.execute(text("UPDATE messages SET created_at = :at WHERE id = :id"), {"at": when, "id": turn.id})
        ids[line] = turn.id
    return ids


def recalled_sources(found) -> set[int]:
    return {m for r in found for m in r.item.source_message_ids}


def filler(people=("Melanie", "John"), count=60) -> list[tuple[str, str]]:
    return [
        ("2026-02-01T10:00:00+00:00", f"{people[n % 2]}: {CHIT_CHAT[n % len(CHIT_CHAT)]} ({n})") for n in range(count)
    ]


def test_lines_that_match_everything_are_demoted(monkeypatch):
    """Chit-chat sits near the middle of all vectors and lands in the results of every
    question about its speaker ("Melanie: Wow, really?"); the hubness penalty and the
    brevity weight keep it out, and the facts in."""
    import society.memory.bank as memory_bank

    store = Store()
    facts = {
        "What is the name of Melanie's rabbit?": "Melanie: We adopted a rabbit and named it Pepper.",
        "Which classes did Melanie sign up for?": "Melanie: I signed up for pottery classes.",
        "Where did Melanie's sister move?": "Melanie: My sister just moved to Lisbon for work.",
        "What is Melanie's new job?": "Melanie: I start as a nurse next month.",
        "Which instrument does Melanie play?": "Melanie: I've been practising the cello every evening.",
        "What does Melanie like to cook?": "Melanie: Definitely lasagna, every time.",
    }
    chatter = filler()
    ids = said(store, [*chatter, *(("2026-02-03T10:00:00+00:00", fact) for fact in facts.values())])
    bank = MemoryBank(store)
    consolidate(bank)
    chit_chat = {ids[line] for _, line in chatter}

    def top_three() -> tuple[int, int]:
        """(facts found in the top 3, top-3 places taken by chit-chat) over all questions."""
        found = [recalled_sources(bank.recall(q, 3, touch=False)) for q in facts]
        answered = sum(ids[fact] in sources for fact, sources in zip(facts.values(), found, strict=True))
        return answered, sum(len(sources & chit_chat) for sources in found)

    answered, chatty = top_three()
    monkeypatch.setattr(memory_bank, "HUB_WEIGHT", 0.0)
    monkeypatch.setattr(memory_bank, "brevity", lambda content: 1.0)
    answered_before, chatty_before = top_three()
    assert answered == len(facts) > answered_before
    assert chatty < chatty_before / 2
    assert brevity("Melanie: Wow, really?") < brevity("Melanie: We adopted a rabbit and named it Pepper.") == 1.0


def test_the_answer_in_the_next_message_is_found_with_its_question():
    store = Store()
    ids = said(store, [*filler(), ("2026-02-02T10:00:00+00:00", "Melanie: How often do you go to the gym, John?")])
    ids |= said(store, [("2026-02-02T10:01:00+00:00", "John: Oh, three times a week, usually.")])
    bank = MemoryBank(store)
    consolidate(bank)
    found = bank.recall("How often does John work out at the gym?", 3, touch=False)
    assert ids["John: Oh, three times a week, usually."] in recalled_sources(found[:1])
    assert "Melanie: How often" in found[0].item.content and "three times a week" in found[0].item.content


def test_extracted_facts_keep_who_said_them_and_when():
    store = Store()
    said(store, [("2026-03-05T09:00:00+00:00", "Caroline: I'm a nurse now. My sister is a doctor in Lisbon.")])
    bank = MemoryBank(store)
    consolidate(bank)
    facts = [item for item in bank.items.listing("fact")]
    assert {f.content for f in facts} == {"Caroline: I'm a nurse now.", "Caroline: My sister is a doctor in Lisbon."}
    assert all(f.when.startswith("2026-03-05") for f in facts)


def test_english_word_forms_match_and_pronouns_do_not_count():
    bank = MemoryBank(Store())
    submitted = bank.remember("Priya is submitting her thesis next week")
    bank.remember("His bike has a flat tyre")
    found = bank.recall("When was the thesis submitted?", 1, mode="keyword", touch=False)
    assert found[0].item.id == submitted.id
    assert bank.items.keyword_search("his has her", 5) == []  # stop words only: nothing to match


def test_a_japanese_question_finds_an_english_fact_by_meaning():
    bank = MemoryBank(Store())
    for line in CHIT_CHAT:
        bank.remember(line, "turn")
    gym = bank.remember("John works out three times a week at the gym.")
    bank.remember("John's sister moved to Toronto last month.")
    found = bank.recall("ジョンはどのくらい運動していますか？", 1, mode="vector", touch=False)
    assert found[0].item.id == gym.id  # no word in common: the multilingual vectors alone


def test_a_question_in_the_other_language_is_not_pushed_out_by_keyword_matches():
    """Keywords cannot match across languages, but they match something: English lines
    sharing the question's words. Hybrid recall must not let those push out what the
    vectors found (issue 37: fusion never below its better component)."""
    bank = MemoryBank(Store())
    english = [
        "John: I work out at the gym three times a week.",
        "John: My sister moved to Toronto last month.",
        "John: Our cat is called Mochi.",
        "John: I take pottery classes on weekends.",
        "John: I work as a nurse at the city hospital.",
        "John: My favourite dish is curry.",
    ]
    gym = [bank.remember(line, "turn") for line in english][0]
    for n in range(2):
        bank.remember(f"美咲: バスはどのくらいの頻度で来ますか？({n})", "turn")
    question = "ジョンはどのくらいの頻度で運動していますか？"
    assert bank.recall(question, 1, mode="vector", touch=False)[0].item.id == gym.id
    assert bank.recall(question, 1, touch=False)[0].item.id == gym.id


def test_a_question_about_a_month_prefers_what_was_said_then():
    store = Store()
    ids = said(
        store,
        [
            *filler(("Priya", "Marcus")),
            ("2026-03-10T18:00:00+00:00", "Priya: I went hiking in the hills with my cousins."),
            ("2026-06-12T18:00:00+00:00", "Priya: I went swimming at the lake with my cousins."),
        ],
    )
    bank = MemoryBank(store)
    consolidate(bank)
    found = bank.recall("What did Priya do with her cousins in March?", 1, touch=False)
    assert found[0].item.source_message_ids == [ids["Priya: I went hiking in the hills with my cousins."]]
    assert datetime.fromisoformat(found[0].item.when) < datetime(2026, 4, 1, tzinfo=UTC)
    june = bank.recall("What did Priya do with her cousins in June?", 1, touch=False)
    assert june[0].item.source_message_ids == [ids["Priya: I went swimming at the lake with my cousins."]]


def test_a_two_step_question_finds_both_pieces():
    """Whose sister? Six people's sisters moved; only the person who named the pet matters,
    and the question does not say who that is."""
    store = Store()
    people = ["Melanie", "John", "Priya", "Marcus", "Sofia", "Henry"]
    cities = ["Toronto", "Dublin", "Vienna", "Seattle", "Osaka", "Lisbon"]
    moved = [
        ("2026-04-02T10:00:00+00:00", f"{p}: My sister just moved to {c} for work.")
        for p, c in zip(people, cities, strict=True)
    ]
    ids = said(
        store,
        [
            *filler(("Melanie", "John")),
            ("2026-02-02T10:00:00+00:00", "Melanie: We adopted a dog last weekend! We named it Biscuit."),
            *moved,
        ],
    )
    bank = MemoryBank(store)
    consolidate(bank)
    question = "Which city did the sister of the person who named a pet Biscuit move to?"
    sister = ids["Melanie: My sister just moved to Toronto for work."]
    pet = ids["Melanie: We adopted a dog last weekend! We named it Biscuit."]
    assert sister not in recalled_sources(bank.recall(question, 3, touch=False))  # one search cannot know
    assert {pet, sister} <= recalled_sources(bank.recall_two_step(question, 3, touch=False))
