"""Hardware readings: the real probes on this machine, and Ollama's loaded-model list."""

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from society.hardware import generation_threads, read_gpu, read_machine, read_ollama_loaded


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


class OllamaPs(BaseHTTPRequestHandler):
    def do_GET(self):
        body = {"models": [{"name": "qwen2:7b-instruct", "model": "qwen2:7b-instruct", "size_vram": 4_718_592_000}]}
        data = json.dumps(body).encode()
        self.send_response(200)
        self.send_header("content-length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args):
        pass


def test_ollama_loaded_models_are_read_from_api_ps():
    server = ThreadingHTTPServer(("127.0.0.1", 0), OllamaPs)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        assert read_ollama_loaded(f"http://127.0.0.1:{server.server_port}") == {"qwen2:7b-instruct": 4500}
    finally:
        server.shutdown()
    assert read_ollama_loaded("http://127.0.0.1:9") is None
