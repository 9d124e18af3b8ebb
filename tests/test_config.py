import json

import pytest

from society.models.config import ConfigError, load_entries
from tests.conftest import ROOT, society


def load(tmp_path, text):
    path = tmp_path / "OAI_CONFIG_LIST.json"
    path.write_text(text, encoding="utf-8")
    return load_entries(path)


def test_shipped_model_list_names_the_seed_models_then_the_embedded_one():
    entries = load_entries(ROOT / "OAI_CONFIG_LIST.json")
    names = [e.model for e in entries]
    assert names[:4] == [
        "deepseek-r1:7b",
        "qwen2.5:7b-instruct-q4_K_M",
        "qwen2:7b-instruct",
        "qwen2:1.5b-instruct-q4_K_M",
    ]
    assert entries[-1].backend == "llama_cpp" and entries[-1].vram_mb == 0
    # Ollama models' VRAM is computed from what Ollama says at their context, not typed.
    assert all(e.vram_mb is None and e.keep_alive == "30m" for e in entries[:4])
    assert entries[-1].resolved_model_path().exists()
    assert entries[0].has("reasoning")


@pytest.mark.parametrize(
    "text, expected",
    [
        ("{not json", "not valid JSON at line 1"),
        ("{}", "non-empty JSON list"),
        ("[]", "non-empty JSON list"),
        ('["qwen"]', "entry 1: must be a JSON object"),
        ('[{"api_type": "ollama"}]', "entry 1: field 'model'"),
        ('[{"model": "m", "api_type": "vllm"}]', "entry 1 (m): field 'api_type'"),
        ('[{"model": "m", "api_type": "ollama", "vram_mb": "lots"}]', "entry 1 (m): field 'vram_mb'"),
        ('[{"model": "m", "api_type": "openai"}]', "entry 1 (m): field 'base_url'"),
        ('[{"model": "m", "api_type": "llama_cpp"}]', "entry 1 (m): field 'model_path'"),
        ('[{"model": "m", "api_type": "ollama", "abilities": ["flying"]}]', "entry 1 (m): field 'abilities'"),
        ('[{"model": "m", "api_type": "ollama", "roles": ["chef"]}]', "entry 1 (m): field 'roles'"),
        ('[{"model": "m", "api_type": "ollama", "timeout": 0}]', "entry 1 (m): field 'timeout'"),
        (
            '[{"model": "m", "api_type": "ollama"}, {"model": "m", "api_type": "ollama"}]',
            "entry 2 (m): field 'model' repeats",
        ),
    ],
)
def test_malformed_model_list_names_the_entry_and_the_field(tmp_path, text, expected):
    with pytest.raises(ConfigError, match=expected.replace("(", r"\(").replace(")", r"\)")):
        load(tmp_path, text)


def test_cli_reports_a_malformed_model_list_in_one_line(tmp_path, monkeypatch):
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps([{"model": "m", "api_type": "ollama", "vram_mb": -1}]))
    monkeypatch.setenv("SOCIETY_CONFIG", str(bad))
    result = society("run", "hello", cwd=tmp_path, timeout=60)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert lines == [f"society: error: {bad}: entry 1 (m): field 'vram_mb' must be an integer >= 0, got -1"]


def test_a_binary_model_list_is_one_line_and_exit_2(tmp_path, monkeypatch):
    binary = tmp_path / "OAI_CONFIG_LIST.json"
    binary.write_bytes(b"\x89PNG\r\n\x1a\n\x00\xff\xfe" + bytes(range(256)))
    monkeypatch.setenv("SOCIETY_CONFIG", str(binary))
    result = society("run", "hello", cwd=tmp_path, timeout=60)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        f"society: error: {binary}: is not UTF-8 text (binary, or saved as UTF-16?); save it as UTF-8 JSON"
    ]
    utf16 = tmp_path / "utf16.json"
    utf16.write_text('[{"model": "m", "api_type": "ollama"}]', encoding="utf-16")
    with pytest.raises(ConfigError, match="is not UTF-8 text"):
        load_entries(utf16)


def test_missing_model_list_says_how_to_fix_it(tmp_path, monkeypatch):
    monkeypatch.setenv("SOCIETY_CONFIG", str(tmp_path / "nowhere.json"))
    with pytest.raises(ConfigError, match="file not found; set SOCIETY_CONFIG"):
        load_entries()


def test_shipped_ladder_leaves_summaries_to_extraction_on_the_embedded_model():
    # Measured: SmolLM2-135M's summaries of 40 messages were numbered junk; extraction keeps names and facts.
    embedded = load_entries(ROOT / "OAI_CONFIG_LIST.json")[-1]
    assert embedded.allows("planner") and not embedded.allows("summarizer")
