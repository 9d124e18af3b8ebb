"""VRAM decisions, tested with recorded readings of a 6 GB laptop card and of a CPU machine."""

from society.config import ModelEntry
from society.hardware import GpuReading, Readings
from society.ladder import plan, skipped

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


def test_idle_card_takes_the_first_model_that_fits():
    readings = Readings(gpu=card(5800))
    assert names(plan("planner", LADDER, readings, ALL)) == [
        R1.model,
        QWEN25.model,
        QWEN2.model,
        SMALL.model,
        EMBEDDED.model,
    ]


def test_loaded_model_is_preferred_so_7b_models_are_not_swapped():
    # qwen2:7b is loaded (4.5 GB used): deepseek-r1 would fit only by evicting it.
    readings = Readings(gpu=card(1641), ollama_loaded={QWEN2.model: 4500})
    order = names(plan("planner", LADDER, readings, ALL))
    assert order[0] == QWEN2.model
    assert order.index(SMALL.model) < order.index(R1.model)  # fits now, beats a swap
    assert order[-1] == EMBEDDED.model


def test_role_not_allowed_on_a_model_never_gets_it():
    readings = Readings(gpu=card(5800), ollama_loaded={})
    assert R1.model not in names(plan("executor", LADDER, readings, ALL))


def test_crowded_card_falls_to_the_small_model_then_the_cpu():
    readings = Readings(gpu=card(1700))  # another program holds 4.4 GB
    assert names(plan("planner", LADDER, readings, ALL)) == [SMALL.model, EMBEDDED.model]


def test_no_gpu_uses_only_cpu_entries():
    readings = Readings(gpu=None)
    assert names(plan("planner", LADDER, readings, ALL)) == [EMBEDDED.model]
    reasons = skipped("planner", LADDER, readings, ALL)
    assert f"{QWEN2.model}: needs 4500 MB VRAM and no NVIDIA GPU was found" in reasons


def test_no_gpu_reading_still_uses_a_model_ollama_reports_loaded():
    readings = Readings(gpu=None, ollama_loaded={SMALL.model: 1300})
    assert names(plan("planner", LADDER, readings, ALL)) == [SMALL.model, EMBEDDED.model]


def test_unreachable_entries_are_left_out():
    readings = Readings(gpu=card(5800))
    assert names(plan("planner", LADDER, readings, {EMBEDDED.model})) == [EMBEDDED.model]
    assert f"{R1.model}: unreachable" in skipped("planner", LADDER, readings, {EMBEDDED.model})


def test_models_with_a_needed_ability_come_first_within_a_group():
    readings = Readings(gpu=card(5800))
    assert names(plan("planner", LADDER, readings, ALL, needs=("tools",)))[0] == QWEN25.model
