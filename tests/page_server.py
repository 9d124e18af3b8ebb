"""`python -m tests.page_server PORT`: the real `society ui` app (API and Chainlit page on one
port) over a scripted planner whose answer carries reasoning, with a tool call and its result
already in the history (`--empty`: none; `--users`: each user's own, behind a login). The
browser test drives it with Playwright and Debian chromium."""

import os
import sys

from society.assemble import open_conversation
from society.paths import current_user
from society.storage.store import Store
from tests.conftest import scripted_gate
from ui.api import create_app
from ui.limits import serve

IMAGE_ENV = "SOCIETY_TEST_IMAGE_URL"
REPLY = "<think>The user asks for a capital; France's capital city is Paris.</think>The capital of France is Paris."


def for_users() -> None:
    """Each user's own conversation over a scripted planner (`--users`: the server of
    tests/test_page.py's login test; its users are in users.json already)."""

    def conversation():
        store = Store()  # the logged-in user's
        gate, _ = scripted_gate([f"Hello {current_user()}, noted."] * 5, store)
        return open_conversation(store, gate, entry_point="web", enabled=["planner"])

    return conversation


def main(port: int, empty: bool = False, users: bool = False) -> None:
    if users:
        serve(create_app(for_users(), page=True), "127.0.0.1", port)
        return
    store = Store()
    if not empty:
        earlier = store.begin_turn("list my workspace", "cli")
        store.add_message(earlier.turn_id, "executor", 'list_dir({"path": "."})', kind="tool_call")
        store.add_message(earlier.turn_id, "executor", "notes.txt", kind="tool_result")
        store.add_message(
            earlier.turn_id, "executor", "Your workspace has notes.txt.", model="scripted", latency_ms=900
        )
        store.end_turn(earlier.turn_id, "done")
    if image := os.environ.get(IMAGE_ENV):  # an answer with an image in it (tests/test_page.py)
        planted = store.begin_turn("summarise the page", "cli")
        store.add_message(planted.turn_id, "researcher", f"Summary of the page. ![chart]({image})", model="scripted")
        store.end_turn(planted.turn_id, "done")
    gate, _ = scripted_gate([REPLY] * 5, store)
    app = create_app(lambda: open_conversation(store, gate, entry_point="web", enabled=["planner"]), page=True)
    serve(app, "127.0.0.1", port)


if __name__ == "__main__":
    main(int(sys.argv[1]), empty="--empty" in sys.argv, users="--users" in sys.argv)
