"""Learning follows the model the user talks to (training/target.py): an Ollama model's
Hugging Face base is found from what the Ollama stand-in's /api/show says, and the user is
told what to download when it is missing."""

from __future__ import annotations

import pytest

from society.models.backends.ollama.api import read_facts
from society.models.backends.registry import BACKENDS
from tests.ollama_standin import DEEPSEEK_R1_7B, QWEN2_1_5B, QWEN2_7B, QWEN25_7B
from training.target import learning_target


@pytest.mark.parametrize(
    ("model", "repo"),
    [
        (QWEN2_7B, "Qwen/Qwen2-7B-Instruct"),
        (QWEN25_7B, "Qwen/Qwen2.5-7B-Instruct"),  # the same shape: the name decides
        (DEEPSEEK_R1_7B, "deepseek-ai/DeepSeek-R1-Distill-Qwen-7B"),
        (QWEN2_1_5B, "Qwen/Qwen2-1.5B-Instruct"),
    ],
)
def test_an_ollama_models_base_comes_from_its_api_show(ollama, model, repo, monkeypatch):
    monkeypatch.setenv("HF_HUB_CACHE", "/nonexistent-hf-cache")
    facts = read_facts(ollama.url, [model.name])[model.name]
    target = learning_target(model.name, BACKENDS["ollama"], facts)
    assert (target.hf_base, target.ollama_model) == (repo, model.name)
    assert target.missing == f"{repo} is not on this machine; download it once with: huggingface-cli download {repo}"
    assert any(r["path"] == "/api/show" and r["body"].get("model") == model.name for r in ollama.received)


def test_an_unknown_shape_or_an_ambiguous_name_asks_for_the_setting(ollama, tmp_path):
    facts = read_facts(ollama.url, [QWEN2_7B.name])[QWEN2_7B.name]
    renamed = learning_target("my-assistant:latest", BACKENDS["ollama"], facts)
    assert renamed.hf_base is None and "could be made from" in renamed.missing and '"hf_base"' in renamed.missing
    from dataclasses import replace

    odd = learning_target("odd:1b", BACKENDS["ollama"], replace(facts, embedding=1234))
    assert odd.hf_base is None and "no known Hugging Face base" in odd.missing
    # The setting wins; a local folder with a config.json counts as downloaded.
    (tmp_path / "config.json").write_text("{}")
    (tmp_path / "model.safetensors").write_text("")
    chosen = learning_target("my-assistant:latest", BACKENDS["ollama"], facts, hf_base=str(tmp_path))
    assert chosen.hf_base == str(tmp_path) and chosen.missing is None and "ready" in chosen.line()


def test_the_embedded_model_trains_as_itself():
    target = learning_target("smollm2-135m-instruct", BACKENDS["llama_cpp"], None)
    assert target.hf_base is None and target.missing is None
    assert target.line() == "learning trains smollm2-135m-instruct (the embedded model) on the CPU"
