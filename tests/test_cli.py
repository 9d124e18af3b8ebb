"""The command line: light start-up, history and status, clear errors."""

import json
import subprocess
import sys

from typer.testing import CliRunner

from society.cli import app
from society.storage.store import Store
from tests.conftest import ROOT

HEAVY = ("torch", "llama_cpp", "chromadb", "autogen_agentchat", "autogen_ext", "transformers", "openai")


def test_help_imports_no_heavy_library():
    code = (
        "import sys\nfrom typer.testing import CliRunner\nfrom society.cli import app\n"
        "result = CliRunner().invoke(app, ['--help'])\nassert result.exit_code == 0, result.output\n"
        f"print([m for m in {HEAVY!r} if m in sys.modules])"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_help_lists_the_commands():
    result = CliRunner().invoke(app, ["--help"])
    assert result.exit_code == 0
    for command in ("chat", "run", "history", "status"):
        assert command in result.output


def test_history_json_shows_the_newest_messages_oldest_first():
    store = Store()
    for i in range(3):
        turn = store.begin_turn(f"question {i}", "test")
        store.add_message(turn.turn_id, "planner", f"answer {i}", reasoning="why", model="m", latency_ms=5)
    result = CliRunner().invoke(app, ["history", "--json", "--last", "2"])
    assert result.exit_code == 0
    rows = json.loads(result.output)
    assert [(r["role"], r["content"]) for r in rows] == [("user", "question 2"), ("planner", "answer 2")]
    assert rows[1]["reasoning"] == "why" and rows[1]["model"] == "m"


def test_history_rejects_a_bad_count_with_a_clear_error():
    result = CliRunner().invoke(app, ["history", "--last", "0"])
    assert result.exit_code == 2
    assert "--last" in result.output


def test_status_reports_the_ladder_machine_and_database():
    result = CliRunner().invoke(app, ["status", "--json"])
    assert result.exit_code == 0, result.output
    info = json.loads(result.output)
    assert info["ladder"][0]["model"] == "smollm2-135m-instruct" and info["ladder"][0]["reachable"]
    assert info["roles"]["planner"]["model"] == "smollm2-135m-instruct"
    assert info["roles"]["planner"]["skipped"] == []  # the only rung was chosen
    assert info["machine"]["ram_total_mb"] > 0
    assert info["database"]["messages"] == 0
    assert "wish" not in info["learning"]["line"]


def test_status_says_which_wish_the_model_was_measured_unable_to_follow():
    from society.memory.wish_verdicts import record
    from society.memory.wishes import read_wish

    record("smollm2-135m-instruct", read_wish("Answer in Japanese."), "asked in Japanese, it says 10% of what it knows")
    line = json.loads(CliRunner().invoke(app, ["status", "--json"]).output)["learning"]["line"]
    assert "the wish for Japanese (language) is not given to smollm2-135m-instruct: asked in Japanese" in line


def test_run_with_an_empty_task_says_what_to_fix():
    result = CliRunner().invoke(app, ["run", "  "])
    assert result.exit_code == 2
    assert result.stderr == "society: error: the message is empty; type something to say\n"
    assert Store().counts()["messages"] == 0


def test_chat_survives_a_turn_no_model_can_answer(tmp_path, monkeypatch):
    import os

    from tests.conftest import UNREACHABLE_OLLAMA, write_config

    write_config(tmp_path / "models.json", [UNREACHABLE_OLLAMA], monkeypatch)
    chat = subprocess.run(
        [sys.executable, "-m", "society.cli", "chat"],
        input="hello\n/history\n/quit\n",
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "PYTHONPATH": str(ROOT), "COLUMNS": "200"},
    )
    assert chat.returncode == 0, chat.stderr
    assert "no model on the ladder can serve the planner role" in chat.stdout
    assert "Traceback" not in chat.stdout + chat.stderr
    assert Store().last_messages(1)[0].content == "hello"


def test_status_without_ollama_fits_a_terminal_and_says_each_cause_once(monkeypatch):
    """The shipped ladder on a machine without Ollama, at 80 columns: was 93 lines, the
    connection error repeated in every Ollama row and under every role."""
    monkeypatch.setenv("SOCIETY_CONFIG", str(ROOT / "OAI_CONFIG_LIST.json"))
    monkeypatch.setenv("OLLAMA_HOST", "127.0.0.1:9")
    monkeypatch.setenv("COLUMNS", "80")
    result = CliRunner().invoke(app, ["status"])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert len(lines) <= 40, result.output
    assert result.output.count("Connection refused") == 1
    assert "planner, researcher, executor, memory_keeper, prompt_editor, data_curator ->" in result.output
