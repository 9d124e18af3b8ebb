"""The GGUF LoRA export for any architecture llama.cpp knows (training/deploy.py), checked on
tiny random Llama and Qwen2 bases: each base is written as a GGUF the way llama.cpp's
converter writes it, loaded in llama.cpp with the exported adapter, and its logits must
match PEFT's for the same tokens."""

from __future__ import annotations

import numpy as np
import pytest

from society.errors import LearningError
from training.deploy import export_gguf

TINY = {
    "hidden_size": 64,
    "intermediate_size": 128,
    "num_hidden_layers": 2,
    "num_attention_heads": 4,
    "num_key_value_heads": 2,
    "vocab_size": 300,
    "max_position_embeddings": 128,
    "rms_norm_eps": 1e-6,
    "rope_theta": 10000.0,
    "tie_word_embeddings": False,
}
TOKENS = [1, 17, 42, 99, 123, 250, 7, 64, 200, 33]


def tiny_model(kind: str, seed: int = 0):
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM

    torch.manual_seed(seed)
    config = AutoConfig.for_model(kind, **TINY)
    model = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
    if kind == "qwen2":  # random biases, so their export is checked too
        for layer in model.model.layers:
            for proj in (layer.self_attn.q_proj, layer.self_attn.k_proj, layer.self_attn.v_proj):
                torch.nn.init.normal_(proj.bias, std=0.02)
    return model.eval()


def permute(rows: np.ndarray, heads: int) -> np.ndarray:
    return rows.reshape(heads, 2, rows.shape[0] // heads // 2, *rows.shape[1:]).swapaxes(1, 2).reshape(rows.shape)


def write_base(model, path, arch: str) -> None:
    """The base as llama.cpp's convert_hf_to_gguf.py writes a float32 one (a byte-level
    SentencePiece vocabulary stands in for the tokenizer: only token ids are fed)."""
    import gguf

    config = model.config
    writer = gguf.GGUFWriter(str(path), arch)
    writer.add_context_length(config.max_position_embeddings)
    writer.add_embedding_length(config.hidden_size)
    writer.add_block_count(config.num_hidden_layers)
    writer.add_feed_forward_length(config.intermediate_size)
    writer.add_head_count(config.num_attention_heads)
    writer.add_head_count_kv(config.num_key_value_heads)
    writer.add_layer_norm_rms_eps(config.rms_norm_eps)
    writer.add_rope_freq_base(TINY["rope_theta"])  # transformers 5 keeps it in rope_parameters
    writer.add_file_type(gguf.LlamaFileType.ALL_F32)
    tokens = ["<unk>", "<s>", "</s>", *(f"<0x{b:02X}>" for b in range(256))]
    tokens += [f"t{i}" for i in range(config.vocab_size - len(tokens))]
    types = [2, 3, 3, *([6] * 256), *([1] * (config.vocab_size - 259))]
    writer.add_tokenizer_model("llama")
    writer.add_token_list(tokens)
    writer.add_token_scores([0.0] * len(tokens))
    writer.add_token_types(types)
    writer.add_bos_token_id(1)
    writer.add_eos_token_id(2)
    arch_enum = next(a for a, n in gguf.MODEL_ARCH_NAMES.items() if n == arch)
    names = gguf.get_tensor_name_map(arch_enum, config.num_hidden_layers)
    for name, tensor in model.state_dict().items():
        data = tensor.float().numpy()
        if arch == "llama" and name.endswith("q_proj.weight"):
            data = permute(data, config.num_attention_heads)
        elif arch == "llama" and name.endswith("k_proj.weight"):
            data = permute(data, config.num_key_value_heads)
        mapped = names.get_name(name, try_suffixes=(".weight", ".bias"))
        assert mapped, name
        writer.add_tensor(mapped, data)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()


def random_adapter(model, folder):
    import torch
    from peft import LoraConfig, get_peft_model

    from training.memory_plan import TARGET_MODULES

    torch.manual_seed(1)
    config = LoraConfig(r=4, lora_alpha=8, target_modules=list(TARGET_MODULES), init_lora_weights=False)
    peft = get_peft_model(model, config)
    for name, param in peft.named_parameters():  # big enough to move the logits
        if "lora_" in name:
            torch.nn.init.normal_(param, std=0.2)
    peft.save_pretrained(folder)
    return peft.eval()


@pytest.mark.parametrize("arch", ["llama", "qwen2"])
def test_a_lora_on_a_tiny_base_gives_llama_cpp_the_logits_peft_gives(arch, tmp_path):
    import gguf
    import torch
    from llama_cpp import Llama

    model = tiny_model(arch)
    write_base(model, tmp_path / "base.gguf", arch)
    with torch.no_grad():
        plain = model(torch.tensor([TOKENS])).logits[0].numpy()
    peft = random_adapter(model, tmp_path / "adapter")
    with torch.no_grad():
        tuned = peft(torch.tensor([TOKENS])).logits[0].numpy()
    assert np.abs(tuned - plain).max() > 0.05  # the adapter changes the answer

    target = export_gguf(tmp_path / "adapter", tmp_path / "adapter.gguf", config=model.config.to_dict())
    reader = gguf.GGUFReader(str(target))
    names = {t.name for t in reader.tensors}
    assert len(names) == 2 * 7 * 2 and "blk.1.ffn_down.weight.lora_b" in names and "blk.0.attn_q.weight.lora_a" in names
    assert bytes(reader.fields["general.architecture"].parts[-1]).decode() == arch

    def logits(lora: str | None) -> np.ndarray:
        llm = Llama(
            model_path=str(tmp_path / "base.gguf"), n_ctx=64, logits_all=True, verbose=False, n_threads=1,
            **({"lora_path": lora} if lora else {}),
        )  # fmt: skip
        llm.eval(TOKENS)
        return np.array(llm.scores[: len(TOKENS)])

    assert np.abs(logits(None) - plain).max() < 1e-3  # the base as written is the base
    # And base + adapter is PEFT's model: llama.cpp's LoRA arithmetic differs by ~2e-3 at
    # most; a misplaced or unpermuted tensor would be off by the adapter's whole effect.
    effect = np.abs(tuned - plain).max()
    assert np.abs(logits(str(target)) - tuned).max() < min(5e-3, effect / 10)


def test_an_architecture_llama_cpp_lora_export_does_not_know_is_refused(tmp_path):
    model = tiny_model("llama")
    random_adapter(model, tmp_path / "adapter")
    with pytest.raises(LearningError, match="cannot write a llama.cpp LoRA for a gpt_neox model"):
        export_gguf(tmp_path / "adapter", tmp_path / "x.gguf", config={"model_type": "gpt_neox"})


def test_a_deployment_replaces_its_ollama_model_on_the_ladder_and_rollback_restores_it(tmp_path, monkeypatch):
    from society.models.config import load_entries
    from society.storage.store import Store
    from tests.conftest import EMBEDDED, write_config
    from tests.ollama_standin import QWEN2_7B, OllamaStandin
    from training.deploy import deploy, deployed_lora, rollback
    from training.lineage import Lineage
    from training.settings import LearningSettings

    standin = OllamaStandin()
    server, _ = standin.serve()
    try:
        entries = [
            {"model": QWEN2_7B.name, "api_type": "ollama", "base_url": standin.url, "context_window": 8192},
            {"model": "smollm2", "api_type": "llama_cpp", "model_path": EMBEDDED["model_path"]},
        ]  # fmt: skip
        write_config(tmp_path / "models.json", entries, monkeypatch)
        base = tmp_path / "qwen2-base"  # stands for the Hugging Face base, as a local folder
        model = tiny_model("qwen2")
        model.config.save_pretrained(base)
        random_adapter(model, tmp_path / "a1")
        lineage = Lineage(Store())
        lineage.add_adapter("a1", "trained", str(base), tmp_path / "a1")
        settings = LearningSettings(hf_base=str(base), ollama_model=QWEN2_7B.name)
        assert deploy("a1", "won its run", lineage, settings) == "qwen2:society-a1"
        create = [r["body"] for r in standin.received if r["path"] == "/api/create"]
        digest = create[0]["adapters"]["a1.gguf"]
        assert create == [
            {"model": "qwen2:society-a1", "from": QWEN2_7B.name, "adapters": {"a1.gguf": digest}, "stream": False}
        ]
        blob = [r for r in standin.received if r["method"] == "POST" and r["path"].startswith("/api/blobs/")]
        assert blob[0]["path"] == "/api/blobs/" + digest
        # The new tag answers in the model's place; the embedded model gets no foreign adapter.
        assert [e.model for e in load_entries()] == ["qwen2:society-a1", "smollm2"]
        assert deployed_lora() is None
        assert rollback(lineage, base=QWEN2_7B.name) is None
        assert [e.model for e in load_entries()] == [QWEN2_7B.name, "smollm2"]
        # An adapter trained on another base is never attached to this model.
        lineage.add_adapter("other", "trained", "meta-llama/Llama-3.1-8B-Instruct", tmp_path / "a1")
        with pytest.raises(LearningError, match="not attached to another model"):
            deploy("other", "by hand", lineage, settings)
    finally:
        server.shutdown()
