"""Long-term memory: keyword analysis, extraction, hybrid recall across languages and
processes, consolidation, and an index that is deleted or corrupt."""

import json
import os
import shutil
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import text

from society.memory.bank import MemoryBank
from society.memory.consolidate import consolidate
from society.memory.extract import extract
from society.memory.index import server_client
from society.storage.store import Store
from society.text.keywords import index_text, query_terms
from tests.conftest import society

# Each test runs on SQLite with the local index and on Postgres with a Chroma server.
pytestmark = pytest.mark.usefixtures("database")


def bank() -> MemoryBank:
    return MemoryBank(Store())


def contents(found) -> list[str]:
    return [r.item.content for r in found]


def test_japanese_is_searched_by_its_kanji_and_katakana_and_english_by_words():
    assert query_terms("猫の名前は何ですか?") == ["猫", "名前", "何"]
    assert query_terms("What is my cat called?") == ["cat", "called"]
    indexed = index_text("私の猫の名前はモチです").split()
    assert {"猫", "名前", "モチ"} <= set(indexed)


def test_statements_are_extracted_and_questions_are_not():
    kinds = {e.kind: e.content for e in extract("My cat is called Mochi. What time is it? I prefer green tea.")}
    assert kinds == {"fact": "My cat is called Mochi.", "preference": "I prefer green tea."}
    assert [e.kind for e in extract("これからは日本語で短く答えて")] == ["preference"]
    assert extract("ok thanks") == [] and extract("今日は何曜日?") == []
    assert extract("Remember that my sister lives in Osaka.")[0].importance > 0.8
    # Every kind of statement the learning cycle makes questions of (training/wordings.py).
    for said in ("My sister lives in Osaka.", "Hana is my daughter.", "My father works at a bank.", "I study law."):
        assert [e.kind for e in extract(said)] == ["fact"], said


def test_japanese_queries_find_japanese_and_english_memories():
    memories = bank()
    cat = memories.remember("My cat is called Mochi")
    colour = memories.remember("私の好きな色は緑です", "preference")
    memories.remember("The project deadline is in March")
    memories.remember("明日の会議は十時から")
    assert contents(memories.recall("好きな色は?", 1)) == [colour.content]
    # Japanese asking about an English memory through the name in it (the default embedding
    # model is English-only: a purely Japanese paraphrase needs a multilingual model).
    found = memories.recall("Mochiについて何を覚えてる?", 2)
    assert found[0].item.id == cat.id and found[0].via == "both"
    assert contents(memories.recall("会議は何時から?", 1)) == ["明日の会議は十時から"]


def test_memories_persist_across_processes(tmp_path):
    memories = bank()
    planted = memories.remember("My sister Hanako lives in Osaka")
    result = society("memory", "search", "where does my sister live", "--json", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)[0]["id"] == planted.id
    written = society("memory", "list", "--json", cwd=tmp_path)
    assert [m["content"] for m in json.loads(written.stdout)] == [planted.content]


def test_consolidation_remembers_turns_merges_restatements_and_never_loses_a_recalled_memory():
    store = Store()
    for said in ("My favourite city is Kyoto.", "My favourite city is Kyoto!", "ok"):
        turn = store.begin_turn(said, "cli")
        store.add_message(turn.turn_id, "planner", "Noted.")
        store.end_turn(turn.turn_id, "done")
    memories = MemoryBank(store)
    report = consolidate(memories)
    assert report.turns == 3
    facts = memories.items.listing("fact", include_inactive=True)
    assert sorted(f.status for f in facts) == ["active", "merged"]  # the restatement merged
    kept = next(f for f in facts if f.status == "active")
    assert kept.content == "My favourite city is Kyoto!"  # the newer wording wins

    # A recalled memory is never merged away, nor faded, however old and unimportant.
    recalled = memories.remember("User: ok planner: Noted.", "turn", 0.05, "consolidation", turn_id=99)
    forgotten_chunk = memories.remember("User: hi planner: hello", "turn", 0.05, "consolidation", turn_id=98)
    old = (datetime.now(UTC) - timedelta(days=365)).isoformat()
    with store.engine.begin() as conn:
        conn.execute(text("UPDATE memories SET created_at = :old"), {"old": old})
    memories.items.touch([recalled.id])
    restated = memories.remember("My favourite city is Kyoto.", "fact", embed=False)
    memories.items.touch([kept.id])
    consolidate(memories)
    assert memories.items.get(recalled.id).status == "active"
    assert memories.items.get(forgotten_chunk.id).status == "faded"
    assert memories.items.get(kept.id).status == "active"
    assert memories.items.get(restated.id).status == "active"
    assert memories.items.get(kept.id).tier == "long"
    # Two wordings of one fact are recalled once (near-duplicates are dropped from results).
    assert [c for c in contents(memories.recall("Which city do I like?", 3)) if "Kyoto" in c] == [restated.content]


def test_a_correction_retires_the_statement_it_corrects_and_only_that_one():
    store = Store()
    for said in ("I work at Honda.", "I'm a nurse.", "私は大阪で働いています。", "My cat is fluffy.",
                 "No, I work at Toyota.", "いや、私は東京で働いています。", "No, my cat is called Mochi."):  # fmt: skip
        turn = store.begin_turn(said, "cli")
        store.add_message(turn.turn_id, "planner", "Noted.")
        store.end_turn(turn.turn_id, "done")
    memories = MemoryBank(store)
    report = consolidate(memories)
    status = {f.content: f.status for f in memories.items.listing("fact", include_inactive=True)}
    assert status == {
        "I work at Honda.": "superseded", "I'm a nurse.": "active", "私は大阪で働いています。": "superseded",
        "No, I work at Toyota.": "active", "いや、私は東京で働いています。": "active", "My cat is fluffy.": "active",
        "No, my cat is called Mochi.": "active",
    }  # fmt: skip
    assert len(report.superseded) == 2
    recalled = contents(memories.recall("Which company employs me?", 5))
    assert "I work at Honda." not in recalled and "No, I work at Toyota." in recalled


def test_deleting_the_vector_index_and_reindexing_restores_recall(tmp_path, database):
    memories = bank()
    planted = memories.remember("The wifi password is stored in the blue notebook")
    if database == "postgres":  # the collection on the Chroma server
        server_client(memories.settings.vector_server).delete_collection(memories.index().name)
    else:
        shutil.rmtree(memories.index_path)
    result = society("memory", "reindex", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "indexed 1 memories" in result.stdout
    assert bank().vector_ids("where is the wifi password?")[:1] == [planted.id]


def test_a_corrupt_index_is_reported_in_one_line_and_rebuilt(database):
    if database == "postgres":
        pytest.skip("the index's files are the Chroma server's own")
    memories = bank()
    planted = memories.remember("Dentist appointment on Friday at nine")
    index = memories.index_path
    for path in index.rglob("*"):
        if path.is_file():
            path.write_bytes(os.urandom(4096))
    said = []
    fresh = MemoryBank(Store(), notify=said.append)
    assert fresh.vector_ids("when is the dentist?")[:1] == [planted.id]
    assert len(said) == 1 and "cannot be read" in said[0] and "rebuilding" in said[0]
    assert list(index.parent.glob("chroma.broken-*"))  # kept for a bug report, not deleted


def test_forget_is_soft_and_update_reindexes():
    memories = bank()
    item = memories.remember("My cat is called Mochi")
    memories.update(item.id, "My cat is called Tama")
    assert contents(memories.recall("cat name", 1, mode="vector")) == ["My cat is called Tama"]
    memories.forget(item.id)
    assert memories.recall("cat name") == []
    assert memories.items.get(item.id).status == "forgotten"  # still in the database


async def test_recalled_memories_reach_the_model_just_before_the_request():
    from society.assemble import open_conversation
    from tests.conftest import scripted_gate

    store = Store()
    MemoryBank(store).remember("The user's cat is called Mochi")
    gate, client = scripted_gate(["Your cat is Mochi."], store)
    conversation = open_conversation(store, gate, enabled=["planner"])
    try:
        [m async for m in conversation.turn("What is my cat called?")]
    finally:
        await conversation.close()
    sent = client.create_calls[0]["messages"]
    assert sent[-1].content == "What is my cat called?"
    assert sent[-2].content.startswith("What you remember") and "Mochi" in sent[-2].content
    assert store.last_messages(1)[0].content == "Your cat is Mochi."
    assert MemoryBank(store).items.listing("fact")[0].access_count == 1
    # What was recalled is kept with the turn (the page shows it beside the answer), once.
    said = store.last_messages(3)
    assert [(m.role, m.kind) for m in said] == [("user", "text"), ("planner", "recall"), ("planner", "text")]
    assert said[1].content.startswith("#") and "(fact) The user's cat is called Mochi" in said[1].content
    from society.context import to_llm

    assert to_llm(said[1]) is None  # a model gets memories fresh from recall, not from old turns


@pytest.mark.slow
def test_onnx_embeddings_match_sentence_transformers():
    import numpy as np
    from sentence_transformers import SentenceTransformer

    from society.text.embeddings import Embedder, model_dir

    texts = ["My cat is called Mochi", "私の猫の名前はモチです", "x" * 3000]
    ours = Embedder().encode(texts)
    reference = SentenceTransformer(str(model_dir("all-MiniLM-L6-v2")), device="cpu").encode(
        texts, normalize_embeddings=True
    )
    assert np.allclose(ours, reference, atol=1e-4)


def test_the_recalled_block_fits_the_reading_budget_of_the_model():
    from society.memory.bank import Recalled
    from society.memory.recall import render
    from society.storage.memories import MemoryItem

    found = [
        Recalled(MemoryItem(id=i, kind="fact", content=f"Fact number {i}: " + "detail " * 30, importance=0.5), 1.0, "v")
        for i in range(5)
    ]
    whole = render(found)
    assert whole.count("\n- ") == 5  # all five, each cut at SHOWN_CHARS
    slow = render(found, budget_chars=300)  # a 135M model on 2 cores reads about this much in 0.6 s
    assert 1 <= slow.count("- Fact") < 5 and len(slow) < len(whole)
    assert "Fact number 0" in slow  # the best first
