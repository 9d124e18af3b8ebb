"""Attack suite, users of a shared server (issue 38): a server left open when its last user
goes, logins that outlive their user, token guessing, names that are not names, figures and
workspaces shared across users. In-process API tests, and the real `society ui` app in a
process of its own for the page's login."""

from __future__ import annotations

import json

import httpx
import pytest

from society.paths import settings_dir
from society.storage import users
from society.storage.users import UserError, as_user
from tests.test_users import conversation_factory, http
from ui.api import create_app
from ui.hub import WRONG_TOKENS_PER_MINUTE

OWNER = "owner-token"


@pytest.mark.parametrize("name", ["carol\n", "carol\r\n", "Carol", "carol/..", "", "1carol", "c" * 33])
def test_a_user_name_is_only_a_name(name):
    with pytest.raises(UserError):
        users.add(name)
    assert users.names() == []


async def test_removing_the_last_user_does_not_open_an_exposed_server():
    alice = users.add("alice")
    app = create_app(conversation_factory, exposed=True)  # `society ui --host 0.0.0.0`, users, no token
    async with http(app, alice) as client:
        assert (await client.get("/history")).status_code == 200
    users.remove("alice")
    async with http(app) as nobody, http(app, alice) as removed:
        assert (await nobody.get("/history")).status_code == 401
        assert (await nobody.post("/chat", json={"message": "hi"})).status_code == 401
        assert (await removed.get("/history")).status_code == 401


async def test_wrong_tokens_count_against_the_address_and_then_even_a_right_one_waits():
    alice = users.add("alice")
    app = create_app(conversation_factory, OWNER)
    async with http(app, "guess") as guesser, http(app, alice) as right:
        statuses = [(await guesser.get("/history")).status_code for _ in range(WRONG_TOKENS_PER_MINUTE)]
        assert statuses == [401] * WRONG_TOKENS_PER_MINUTE
        refused = await guesser.get("/history")
        assert refused.status_code == 429 and "wrong token" in refused.json()["error"]["message"]
        assert (await right.get("/history")).status_code == 429  # same address: no guessing around it


async def test_metrics_are_the_owners_not_every_users():
    alice = users.add("alice")
    app = create_app(conversation_factory, OWNER)
    async with http(app, alice) as client, http(app, OWNER) as owner:
        await client.post("/chat", json={"message": "My cat is called Tama."})
        assert (await client.get("/metrics")).status_code == 403
        assert "society_turns_total" in (await owner.get("/metrics")).text


def test_a_saved_tools_file_does_not_give_users_the_owners_workspace():
    from society.tools.settings import load_settings, save_settings

    owners = load_settings()
    owners.policies["network"] = "deny"
    save_settings(owners)  # `society tools policy network deny`, as the owner
    saved = json.loads((settings_dir() / "tools.json").read_text())
    assert "workspace" not in saved
    # A file an earlier version wrote, with the owner's workspace in it:
    (settings_dir() / "tools.json").write_text(json.dumps({**saved, "workspace": str(owners.workspace)}))
    with as_user("alice"):
        alices = load_settings()
    assert alices.workspace != owners.workspace and alices.workspace.parent.name == "alice"
    assert alices.policies["network"] == "deny"


# -- the page's login, on the real app in a process of its own ----------------------------------


@pytest.fixture
def page_server(tmp_path):
    from tests.test_page import free_port, server

    port = free_port()
    with server("-m", "tests.page_server", str(port), "--users", port=port, cwd=tmp_path) as base:
        yield base


def log_in(base: str, name: str, token: str) -> httpx.Response:
    return httpx.post(f"{base}/ui/login", data={"username": name, "password": token}, timeout=30)


@pytest.mark.slow
def test_page_logins_follow_the_users_as_they_are_now(page_server):
    base = page_server
    opened = httpx.get(f"{base}/ui/", timeout=30)
    assert "img-src 'self' data: blob:" in opened.headers["content-security-policy"]
    open_page = httpx.post(f"{base}/ui/auth/header", timeout=30)  # no users yet: in without a login
    assert httpx.get(f"{base}/ui/user", cookies=open_page.cookies, timeout=30).status_code == 200
    alice = users.add("alice")  # added while the server runs (it started with none, on loopback)
    assert httpx.get(f"{base}/ui/user", cookies=open_page.cookies, timeout=30).status_code == 401
    assert httpx.post(f"{base}/ui/auth/header", timeout=30).status_code == 401
    signed_in = log_in(base, "alice", alice)
    assert signed_in.status_code == 200, signed_in.text
    cookie = {"access_token": signed_in.cookies["access_token"]}
    assert httpx.get(f"{base}/ui/user", cookies=cookie, timeout=30).status_code == 200

    users.add("alice")  # a new token: the old login stops at once, and does not renew
    assert httpx.get(f"{base}/ui/user", cookies=cookie, timeout=30).status_code == 401
    renewed = httpx.post(
        f"{base}/ui/auth/jwt", headers={"authorization": f"Bearer {cookie['access_token']}"}, timeout=30
    )
    assert renewed.status_code == 401

    bob = users.add("bob")
    cookie = {"access_token": log_in(base, "bob", bob).cookies["access_token"]}
    users.remove("bob")
    assert httpx.get(f"{base}/ui/user", cookies=cookie, timeout=30).status_code == 401


@pytest.mark.slow
def test_wrong_passwords_at_the_page_login_are_limited(page_server):
    users.add("alice")
    statuses = [log_in(page_server, "alice", f"guess-{n}").status_code for n in range(WRONG_TOKENS_PER_MINUTE + 1)]
    assert statuses[:WRONG_TOKENS_PER_MINUTE] == [401] * WRONG_TOKENS_PER_MINUTE
    assert statuses[-1] == 429
