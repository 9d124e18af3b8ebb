"""Hardware readings: the real probes on this machine, and Ollama's loaded-model list."""

import pytest

from society.models.backends.ollama.api import Loaded, read_loaded
from society.models.machine.hardware import generation_threads, read_gpu, read_machine
from tests.conftest import json_server


def test_machine_reading_works_with_or_without_a_gpu():
    readings = read_machine()
    assert readings.ram_total_mb > 0 and readings.ram_used_mb > 0
    assert readings.gpu is None or readings.gpu.total_mb >= readings.gpu.free_mb


@pytest.mark.gpu
def test_real_nvml_reading_of_an_nvidia_gpu():
    gpu = read_gpu()
    if gpu is None:
        pytest.skip("no NVIDIA GPU here: NVML could not initialise (run on a GPU machine to check this path)")
    assert gpu.total_mb > 1000 and 0 <= gpu.free_mb <= gpu.total_mb
    assert gpu.name


def test_generation_threads_stay_within_the_cores():
    import os

    assert 1 <= generation_threads() <= (os.cpu_count() or 1)


def ollama_ps(method, path):
    assert (method, path) == ("GET", "/api/ps")
    model = {"name": "qwen2:7b-instruct", "model": "qwen2:7b-instruct", "size": 5_452_595_200}
    return 200, {"models": [{**model, "size_vram": 4_718_592_000, "context_length": 8192}]}


def test_ollama_loaded_models_are_read_from_api_ps():
    with json_server(ollama_ps) as url:
        loaded = read_loaded(url)
    assert loaded == {"qwen2:7b-instruct": Loaded(size_mb=5200, vram_mb=4500, context_length=8192)}
    assert loaded["qwen2:7b-instruct"].offloaded
    assert loaded["qwen2:7b-instruct"].where() == "loaded, partly offloaded (4500 of 5200 MB on the GPU)"
    assert read_loaded("http://127.0.0.1:9") is None
