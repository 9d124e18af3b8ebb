"""A shared server's users: each, by their token, has their own never-ending conversation
and memories; one never sees another's. On SQLite (a folder each) and on Postgres with a
Chroma server (a schema each), through the real API in-process and the real CLI."""

import httpx
import pytest
from sqlalchemy import text

from society.assemble import open_conversation
from society.memory.bank import MemoryBank
from society.paths import data_dir
from society.storage import users
from society.storage.store import Store
from society.storage.users import UserError, as_user
from tests.conftest import scripted_gate, society
from ui.api import create_app
from ui.hub import Hubs

pytestmark = pytest.mark.usefixtures("database")
OWNER = "owner-token"


def conversation_factory():
    """Opened inside the request of the user it is for: Store() is that user's."""
    store = Store()
    gate, _ = scripted_gate(["Noted."] * 4, store)
    return open_conversation(store, gate, entry_point="api", enabled=["planner"])


def http(app, token: str | None = None):
    headers = {"authorization": f"Bearer {token}"} if token else {}
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test", headers=headers)


async def test_each_user_has_their_own_conversation_by_token_and_nobody_else_reads_it(database):
    alice_token, bob_token = users.add("alice"), users.add("bob")
    app = create_app(conversation_factory, OWNER)
    async with http(app, alice_token) as alice, http(app, bob_token) as bob, http(app, OWNER) as owner:
        said = await alice.post("/chat", json={"message": "My cat is called Tama."})
        assert said.status_code == 200 and said.json()["answer"] == "Noted."
        assert (await bob.post("/chat", json={"message": "私の犬はポチです。"})).status_code == 200
        assert [m["content"] for m in (await alice.get("/history")).json()] == ["My cat is called Tama.", "Noted."]
        assert [m["content"] for m in (await bob.get("/history")).json()] == ["私の犬はポチです。", "Noted."]
        assert (await owner.get("/history")).json() == []  # the default conversation is the owner's
        async with http(app) as nobody, http(app, "not-a-token") as stranger:
            assert (await nobody.get("/history")).status_code == 401
            assert (await stranger.post("/chat", json={"message": "hi"})).status_code == 401
        assert "society_turns_total" in (await owner.get("/metrics")).text

    # Where each conversation is: a folder of its own, or a schema of its own on the server.
    with as_user("alice"):
        store = Store()
        if database == "sqlite":
            assert store.path == data_dir() / "society.db" and data_dir().name == "alice"
        else:
            assert store.schema == "user_alice"
            with store.engine.connect() as conn:
                assert conn.execute(text("SELECT count(*) FROM user_alice.messages")).scalar_one() == 2
                assert conn.execute(text("SELECT count(*) FROM user_bob.messages")).scalar_one() == 2
                assert conn.execute(text("SELECT count(*) FROM public.messages")).scalar_one() == 0
        MemoryBank(store).remember("My cat is called Tama")
        assert [r.item.content for r in MemoryBank(store).recall("what is my cat called?", 3)] == [
            "My cat is called Tama"
        ]
    with as_user("bob"):
        assert MemoryBank(Store()).recall("what is my cat called?", 3) == []


def test_who_a_client_is_and_a_hub_never_serves_another_users_request():
    hubs = Hubs(conversation_factory)
    assert hubs.who(None) == (True, None)  # one person's machine: no users, no token
    carol = users.add("carol")
    assert hubs.who(None) == (False, None)  # users to tell apart: a client must say who it is
    assert hubs.who(carol) == (True, "carol")
    assert hubs.who("carol") == (False, None)
    assert Hubs(conversation_factory, OWNER).who(OWNER) == (True, None)
    with pytest.raises(RuntimeError, match="hub of 'carol'"):
        hubs.of("carol").conversation()  # asked outside carol's request
    with pytest.raises(UserError, match="lowercase letters"):
        users.add("../etc")


def test_the_users_command_adds_lists_and_removes_and_a_users_conversation_is_reached_by_society_user(
    tmp_path, monkeypatch
):
    added = society("users", "add", "dave", cwd=tmp_path)
    assert added.returncode == 0, added.stderr
    token = added.stdout.split("token ", 1)[1].split()[0]
    assert users.by_token(token) == "dave"
    assert society("users", "list", cwd=tmp_path).stdout.split() == ["dave"]
    with as_user("dave"):
        MemoryBank(Store()).remember("Dave's favourite tea is sencha")
    with monkeypatch.context() as env:
        env.setenv("SOCIETY_USER", "dave")
        assert "sencha" in society("memory", "list", cwd=tmp_path).stdout
    assert "sencha" not in society("memory", "list", cwd=tmp_path).stdout  # the default conversation's
    bad = society("users", "add", "Dave Smith", cwd=tmp_path)
    assert bad.returncode != 0 and bad.stderr.count("\n") == 1 and "lowercase letters" in bad.stderr
    assert society("users", "remove", "dave", cwd=tmp_path).returncode == 0
    assert users.by_token(token) is None


async def test_each_user_has_their_own_request_budget_whatever_address_they_share():
    """Behind one proxy or one household router every user has the same address: the budget
    is counted per user, so one busy user does not lock the others out."""
    alice_token, bob_token = users.add("alice"), users.add("bob")
    app = create_app(conversation_factory, OWNER, rate_per_minute=3)
    async with http(app, alice_token) as alice, http(app, bob_token) as bob:
        for _ in range(3):
            assert (await alice.get("/history")).status_code == 200
        refused = await alice.get("/history")
        assert refused.status_code == 429 and "user alice" in refused.json()["error"]["detail"]
        assert (await bob.get("/history")).status_code == 200
