"""Schemathesis against the API's own OpenAPI spec, in-process: whatever it sends to each
operation, valid or deliberately wrong, the answer is never a 5xx."""

import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable

from society.api import create_app
from society.conversation import Conversation
from society.store import Store
from tests.conftest import scripted_gate


def test_no_request_gets_a_server_error():
    store = Store()
    gate, _ = scripted_gate(["An answer."] * 5000, store)
    app = create_app(
        lambda: Conversation(store=store, gate=gate, entry_point="api", enabled=["planner"]), rate_per_minute=10**6
    )
    schema = schemathesis.openapi.from_asgi("/openapi.json", app)
    tried: dict[str, int] = {}
    for found, mode in ((found, mode) for found in schema.get_all_operations() for mode in schemathesis.GenerationMode):
        operation = found.ok()

        @given(case=operation.as_strategy(mode))
        @settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck), database=None)
        def call(case):
            response = case.call()
            tried[f"{operation.label} {mode.value}"] = tried.get(f"{operation.label} {mode.value}", 0) + 1
            assert response.status_code < 500, f"{operation.label}: {response.status_code} {response.text[:300]}"

        try:
            call()
        except Unsatisfiable:  # nothing to get wrong: an operation without parameters or body
            assert mode is schemathesis.GenerationMode.NEGATIVE
    for label in ("POST /chat", "POST /feedback", "GET /history", "POST /v1/chat/completions"):
        assert tried.get(f"{label} positive") and tried.get(f"{label} negative"), label
