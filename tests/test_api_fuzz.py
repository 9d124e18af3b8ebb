"""Schemathesis against the API's own OpenAPI spec, in-process: whatever it sends to each
operation, valid or deliberately wrong, the answer is never a 5xx."""

import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable

from society.assemble import open_conversation
from society.storage.store import Store
from tests.conftest import scripted_gate
from ui.api import create_app


def fuzz(operation, mode: schemathesis.GenerationMode) -> int:
    """Calls made to `operation` with cases of `mode`; fails on the first 5xx."""
    calls = []

    @given(case=operation.as_strategy(mode))
    # Fixed examples (derandomize) and enough of them that a rare 500 cannot pass by luck.
    @settings(max_examples=60, derandomize=True, deadline=None, suppress_health_check=list(HealthCheck), database=None)
    def call(case):
        response = case.call()
        calls.append(response.status_code)
        assert response.status_code < 500, f"{operation.label}: {response.status_code} {response.text[:300]}"

    try:
        call()
    except Unsatisfiable:  # nothing to get wrong: an operation without parameters or body
        assert mode is schemathesis.GenerationMode.NEGATIVE
    return len(calls)


def test_no_request_gets_a_server_error():
    store = Store()
    gate, _ = scripted_gate(["An answer."] * 5000, store)
    app = create_app(
        lambda: open_conversation(store, gate, entry_point="api", enabled=["planner"]), rate_per_minute=10**6
    )
    schema = schemathesis.openapi.from_asgi("/openapi.json", app)
    tried = {
        f"{found.ok().label} {mode.value}": fuzz(found.ok(), mode)
        for found in schema.get_all_operations()
        for mode in schemathesis.GenerationMode
    }
    for label in ("POST /chat", "POST /feedback", "GET /history", "POST /v1/chat/completions"):
        assert tried[f"{label} positive"] and tried[f"{label} negative"], label
