"""VRAM decisions, tested with recorded readings of a 6 GB laptop card and of a CPU machine."""

from dataclasses import replace

from society.models.backends.ollama.api import Loaded
from society.models.config import ModelEntry
from society.models.ladder import plan, skipped
from society.models.machine.hardware import GpuReading, Readings

R1 = ModelEntry(
    "deepseek-r1:7b", "ollama", "http://o", vram_mb=4900, abilities=("reasoning",), roles=("planner", "judge")
)
QWEN25 = ModelEntry("qwen2.5:7b-instruct-q4_K_M", "ollama", "http://o", vram_mb=4700, abilities=("tools",))
QWEN2 = ModelEntry("qwen2:7b-instruct", "ollama", "http://o", vram_mb=4500, abilities=("tools",))
SMALL = ModelEntry("qwen2:1.5b-instruct-q4_K_M", "ollama", "http://o", vram_mb=1300, abilities=("tools",))
EMBEDDED = ModelEntry("smollm2", "llama_cpp", model_path="x.gguf")
LADDER = [R1, QWEN25, QWEN2, SMALL, EMBEDDED]
ALL = {e.model for e in LADDER}
RTX4050 = 6141  # MB, as NVML reports the 6 GB laptop card


def card(free_mb: int) -> GpuReading:
    return GpuReading(name="NVIDIA GeForce RTX 4050 Laptop GPU", total_mb=RTX4050, free_mb=free_mb)


def names(choices):
    return [c.entry.model for c in choices]


def loaded(vram_mb: int, size_mb: int | None = None) -> Loaded:
    return Loaded(size_mb=size_mb or vram_mb, vram_mb=vram_mb)


def test_idle_card_takes_the_first_model_that_fits_and_a_thinking_model_only_when_asked():
    readings = Readings(gpu=card(5800))
    assert names(plan("planner", LADDER, readings, ALL)) == [
        QWEN25.model,
        QWEN2.model,
        SMALL.model,
        EMBEDDED.model,
        R1.model,  # a plain answer from it spends thinking tokens for nothing
    ]
    assert names(plan("planner", LADDER, readings, ALL, needs=("reasoning",)))[0] == R1.model


def test_loaded_model_is_preferred_so_7b_models_are_not_swapped():
    # qwen2:7b is loaded (4.5 GB used): qwen2.5 would fit only by evicting it.
    readings = Readings(gpu=card(1900), ollama_loaded={QWEN2.model: loaded(4500)})
    order = names(plan("planner", LADDER, readings, ALL))
    assert order[0] == QWEN2.model
    assert order.index(SMALL.model) < order.index(QWEN25.model)  # fits now, beats a swap
    assert order.index(SMALL.model) < order.index(EMBEDDED.model)


def test_think_swaps_to_the_reasoning_model_even_when_another_is_loaded():
    readings = Readings(gpu=card(1641), ollama_loaded={QWEN2.model: loaded(4500)})
    assert names(plan("planner", LADDER, readings, ALL, needs=("reasoning",)))[0] == R1.model


def test_a_partly_offloaded_model_ranks_below_one_that_fits():
    readings = Readings(gpu=card(1800), ollama_loaded={QWEN2.model: loaded(3900, 4900)})
    choices = plan("planner", LADDER, readings, ALL)
    assert names(choices)[0] == SMALL.model
    assert "partly offloaded (3900 of 4900 MB" in next(c.why for c in choices if c.entry.model == QWEN2.model)


def test_role_not_allowed_on_a_model_never_gets_it():
    readings = Readings(gpu=card(5800), ollama_loaded={})
    assert R1.model not in names(plan("executor", LADDER, readings, ALL))


def test_crowded_card_falls_to_the_small_model_then_offloaded_7b_then_the_cpu():
    readings = Readings(gpu=card(2000))  # another program holds 4.1 GB
    choices = plan("planner", LADDER, readings, ALL)
    assert names(choices) == [SMALL.model, QWEN25.model, QWEN2.model, EMBEDDED.model, R1.model]
    assert choices[1].why.startswith("would be partly offloaded")


def test_no_gpu_uses_only_cpu_entries():
    readings = Readings(gpu=None)
    assert names(plan("planner", LADDER, readings, ALL)) == [EMBEDDED.model]
    reasons = skipped("planner", LADDER, readings, ALL)
    assert f"{QWEN2.model}: needs 4500 MB VRAM and no NVIDIA GPU was found" in reasons


def test_no_gpu_reading_still_uses_a_model_ollama_reports_loaded():
    readings = Readings(gpu=None, ollama_loaded={SMALL.model: loaded(1300)})
    assert names(plan("planner", LADDER, readings, ALL)) == [SMALL.model, EMBEDDED.model]


def test_unreachable_entries_are_left_out():
    readings = Readings(gpu=card(5800))
    assert names(plan("planner", LADDER, readings, {EMBEDDED.model})) == [EMBEDDED.model]
    assert f"{R1.model}: unreachable" in skipped("planner", LADDER, readings, {EMBEDDED.model})


def test_models_with_a_needed_ability_come_first():
    readings = Readings(gpu=card(5800))
    assert names(plan("planner", LADDER, readings, ALL, needs=("tools",)))[0] == QWEN25.model
    # Ahead of a loaded model without it: native tool calls are worth a swap.
    readings = Readings(gpu=card(1000), ollama_loaded={"plain:7b": loaded(4800)})
    plain = ModelEntry("plain:7b", "ollama", "http://o", vram_mb=4800)
    assert names(plan("executor", [plain, QWEN2], readings, {plain.model, QWEN2.model}, needs=("tools",)))[0] == (
        QWEN2.model
    )


def test_vram_need_is_computed_from_what_ollama_says_at_the_context_asked():
    from society.models.backends.ollama.api import ModelFacts
    from society.models.ladder import need_mb

    facts = ModelFacts(
        "qwen2:7b-instruct", 4226, "qwen2", "7.6B", "Q4_0", 32768, ("tools",), 28, 28, 4, 128, 3584, 152064
    )
    small, large = (replace(QWEN2, context_window=n) for n in (4096, 8192))
    readings = Readings(gpu=card(5800), ollama_facts={QWEN2.model: facts})
    assert need_mb(small, readings) == 4226 + 224 + 304  # weights, KV cache, logits buffer
    assert need_mb(large, readings) == 4226 + 448 + 492  # the list said 4500: short by 666 MB
    assert need_mb(replace(QWEN2, vram_mb=0), readings) == 0  # an Ollama without a GPU
