"""The Chainlit page in a real browser: Playwright drives Debian's chromium against real
server processes (a scripted planner for the exact reasoning step, and `society ui` on the
embedded model)."""

import os
import shutil
import socket
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from society.storage.store import Store
from tests.conftest import ROOT
from training.reward import Rewards

pytestmark = pytest.mark.slow
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@contextmanager
def server(*command: str, port: int, cwd: Path, home: Path | None = None):
    extra = {"SOCIETY_HOME": str(home)} if home else {}
    process = subprocess.Popen(
        [sys.executable, *command],
        cwd=cwd,
        env={**os.environ, "PYTHONPATH": str(ROOT), **extra},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(300):
            try:
                if httpx.get(f"{base}/ui/", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                if process.poll() is not None:
                    raise AssertionError(f"the server stopped: {process.stderr.read()[-2000:]}") from None
            time.sleep(0.2)
        yield base
    finally:
        process.terminate()
        process.wait(timeout=30)


@contextmanager
def browser(locale: str = "en-US"):
    if CHROMIUM is None:
        if os.environ.get("CI"):
            raise AssertionError("chromium is missing; .ci/run installs it with apt")
        pytest.skip("Debian chromium is not installed (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"]
        )
        try:
            yield chromium.new_page(viewport={"width": 1400, "height": 900}, locale=locale)
        finally:
            chromium.close()


def say(page, text: str) -> None:
    page.locator("#chat-input").fill(text)
    page.keyboard.press("Enter")


def test_the_page_shows_history_reasoning_tools_feedback_and_monitoring(tmp_path):
    port = free_port()
    with server("-m", "tests.page_server", str(port), port=port, cwd=tmp_path) as base, browser() as page:
        page.goto(f"{base}/ui")
        page.wait_for_selector("#chat-input", timeout=60_000)
        # The history from the database, each message under its role, the tool call as a step.
        page.get_by_text("list my workspace").wait_for(timeout=30_000)
        page.get_by_text("Your workspace has notes.txt.").wait_for()
        page.get_by_text("executor · tool call").first.wait_for()

        say(page, "What is the capital of France?")
        # Generous: the first turn on a machine may export the memory's embedding model.
        page.get_by_text("The capital of France is Paris.").wait_for(timeout=240_000)
        page.get_by_text("scripted ·").last.wait_for()  # the model and the time it took
        page.get_by_text("planner", exact=True).last.wait_for()
        # Reasoning is a collapsed step: its text shows once it is opened.
        reasoning = page.get_by_text("planner · reasoning").last
        reasoning.wait_for()
        if not page.get_by_text("France's capital city is Paris.").is_visible():
            reasoning.click()
        page.get_by_text("France's capital city is Paris.").wait_for()

        answer = Store().last_messages(1)[0]
        assert answer.role == "planner" and answer.reasoning.startswith("The user asks")
        page.locator("button:has(svg.lucide-thumbs-up)").last.click()
        page.get_by_text(f"noted: answer #{answer.id}").wait_for(timeout=15_000)
        reward = Rewards(Store()).get(answer.id)
        assert reward is not None and reward.explicit == 1 and reward.reward == 1.0

        # The monitoring panel, refreshed every few seconds.
        page.get_by_text("Monitoring", exact=True).wait_for(timeout=15_000)
        panel = page.locator("table").filter(has_text="RAM")
        first = panel.inner_text()
        assert "CPU" in first and "GB" in first and ("no NVIDIA GPU" in first or " MB" in first)
        stamp = page.get_by_text("updated ").first.inner_text()
        page.wait_for_timeout(4_000)
        page.screenshot(path=str(tmp_path / "page.png"))
        assert page.get_by_text("updated ").first.inner_text() != "", "the panel shows when it was updated"
        assert page.get_by_text("updated ").first.inner_text() != stamp, "the panel refreshes by itself"


def test_society_ui_answers_in_the_browser_with_the_embedded_model(tmp_path):
    port = free_port()
    with server("-m", "society.cli", "ui", "--port", str(port), port=port, cwd=tmp_path) as base, browser() as page:
        page.goto(f"{base}/ui")
        # The panel comes from the session's start: the page is connected once it shows.
        page.get_by_text("Model loaded").wait_for(timeout=60_000)
        say(page, "Tell me a short story about a cat.")
        # The answer appears as it is written: the page's text after the question grows in
        # steps before the footer (which comes with the stored message) shows.
        footer = page.get_by_text("smollm2-135m-instruct ·").last
        seen: list[str] = []
        deadline = time.monotonic() + 180
        while not footer.is_visible() and time.monotonic() < deadline:
            tail = page.locator("body").inner_text().rpartition("about a cat.")[2]
            tail = tail.partition("LLMs can make mistakes")[0]  # the answer, not the panel
            if "planner" in tail and (not seen or seen[-1] != tail):
                seen.append(tail)
            page.wait_for_timeout(30)
        footer.wait_for(timeout=5_000)
    assert len(seen) >= 3, f"the answer came in {len(seen)} step(s): {seen}"
    assert [m.role for m in Store().last_messages(2)] == ["user", "planner"]


SHOTS = os.environ.get("SOCIETY_SCREENSHOTS")  # a folder to keep the pages' screenshots in


def shot(page, tmp_path: Path, name: str) -> None:
    page.screenshot(path=str(Path(SHOTS or tmp_path) / name))


def test_the_api_docs_render_offline(tmp_path):
    """/docs with every request beyond the server refused, as on a machine without internet:
    Swagger UI's scripts and styles come from the server itself."""
    port = free_port()
    with server("-m", "tests.page_server", str(port), port=port, cwd=tmp_path) as base, browser() as page:
        outside: list[str] = []

        def only_local(route):
            if route.request.url.startswith(base):
                return route.continue_()
            outside.append(route.request.url)
            return route.abort()

        page.route("**/*", only_local)
        page.goto(f"{base}/docs")
        page.locator(".swagger-ui .info .title").filter(has_text="society").wait_for(timeout=30_000)
        page.get_by_text("/v1/chat/completions").first.wait_for()
        page.get_by_text("/v1/models").first.wait_for()
        shot(page, tmp_path, "docs-offline.png")
    assert outside == []


def test_a_message_through_the_api_appears_in_an_open_page(tmp_path):
    """One conversation from every door, live: a page left open shows what is said through
    the API (and its answer) without a reload, in order."""
    port = free_port()
    with server("-m", "tests.page_server", str(port), port=port, cwd=tmp_path) as base, browser() as page:
        page.goto(f"{base}/ui")
        page.get_by_text("Your workspace has notes.txt.").wait_for(timeout=60_000)
        assert page.locator("#new-chat-button").count() == 0 or not page.locator("#new-chat-button").is_visible()
        reply = httpx.post(f"{base}/chat", json={"message": "Said through the API"}, timeout=240)
        assert reply.status_code == 200
        # Generous: after a first turn the process loads the memory's embedding model.
        page.get_by_text("Said through the API").wait_for(timeout=30_000)
        page.get_by_text("The capital of France is Paris.").wait_for(timeout=30_000)
        shot(page, tmp_path, "page-live.png")
        text = page.locator("body").inner_text()
        assert text.index("Your workspace has notes.txt.") < text.index("Said through the API")
        assert text.count("Said through the API") == 1  # shown once, not again by the next poll
        page.wait_for_timeout(2_500)
        assert page.locator("body").inner_text().count("Said through the API") == 1


def test_export_then_import_into_a_fresh_data_folder(tmp_path):
    """The conversation (its messages, reasoning, tool calls and results) exported from one
    data folder and imported into a fresh one, which the page then shows."""
    first, second = free_port(), free_port()
    with server("-m", "tests.page_server", str(first), port=first, cwd=tmp_path) as base, browser() as page:
        httpx.post(f"{base}/chat", json={"message": "What is the capital of France?"}, timeout=240)
        exported = page.request.get(f"{base}/export?format=markdown")
        assert exported.ok and "society:turn" in exported.text()
        markdown = exported.text()
    fresh = tmp_path / "fresh"
    fresh.mkdir()
    with (
        server("-m", "tests.page_server", str(second), "--empty", port=second, cwd=tmp_path, home=fresh) as base,
        browser(locale="ja-JP") as page,
    ):
        imported = page.request.post(f"{base}/import", data=markdown.encode())
        assert imported.ok and imported.json() == {"turns": 2, "messages": 6}
        page.goto(f"{base}/ui")
        page.get_by_text("Your workspace has notes.txt.").wait_for(timeout=60_000)
        page.get_by_text("executor · ツール呼び出し").first.wait_for()  # the page's own words in Japanese
        reasoning = page.get_by_text("planner · 推論").last
        reasoning.wait_for()
        if not page.get_by_text("France's capital city is Paris.").is_visible():
            reasoning.click()
        page.get_by_text("France's capital city is Paris.").wait_for()
        shot(page, tmp_path, "page-imported-ja.png")
    assert Store(fresh / "society.db").export_turns() == Store().export_turns()


def test_each_user_logs_in_to_their_own_conversation(tmp_path):
    """A shared server's page asks who you are: a user's name and token open their own
    conversation, and another user's words are never on it."""
    from society.storage import users

    alice, bob = users.add("alice"), users.add("bob")
    port = free_port()

    def log_in(page, name: str, token: str) -> None:
        page.goto(f"{base}/ui")
        page.get_by_label("Email address").fill(name)
        page.get_by_label("Password").fill(token)
        page.get_by_role("button", name="Sign In").click()

    def opened(page) -> None:
        """The conversation is open (its monitoring panel shows): what is said now is sent."""
        page.locator("#chat-input").wait_for(timeout=60_000)
        page.get_by_text("Monitoring").wait_for(timeout=60_000)

    with server("-m", "tests.page_server", str(port), "--users", port=port, cwd=tmp_path) as base:
        with browser() as page:
            log_in(page, "alice", bob)  # bob's token is not alice's
            page.wait_for_timeout(2_000)
            assert page.locator("#chat-input").count() == 0
            log_in(page, "alice", alice)
            opened(page)
            say(page, "My cat is called Tama.")
            page.get_by_text("Hello alice, noted.").wait_for(timeout=60_000)
            shot(page, tmp_path, "page-alice.png")
        with browser() as page:
            log_in(page, "bob", bob)
            opened(page)
            say(page, "私の犬はポチです。")
            page.get_by_text("Hello bob, noted.").wait_for(timeout=60_000)
            page.wait_for_timeout(2_500)  # a poll of the conversation would show alice's words by now
            text = page.locator("body").inner_text()
            assert "Tama" not in text and "alice" not in text
        with browser() as page:  # alice again: her conversation, and only hers
            log_in(page, "alice", alice)
            page.get_by_text("My cat is called Tama.").wait_for(timeout=60_000)
            assert "ポチ" not in page.locator("body").inner_text()


def test_the_page_works_on_society_ui_with_two_workers(tmp_path):
    """`society ui --workers 2`: log in, talk, see a message sent through the API (to either
    worker) appear, and the monitoring panel, whichever worker answers what: the page keeps
    one WebSocket, and the panel is inline, not a file only its worker could serve."""
    import json

    from society.paths import data_dir
    from society.storage import users
    from tests.bench_server import model_server, start_society

    token = users.add("alice")
    box, url = model_server()
    ladder = tmp_path / "models.json"
    model = {"model": "box-7b", "api_type": "openai", "base_url": f"{url}/v1", "api_key": "x"}
    ladder.write_text(json.dumps([{**model, "server_vram_mb": 24576, "parallel": 4}]), encoding="utf-8")
    process, base = start_society(data_dir(), {"SOCIETY_CONFIG": str(ladder)}, workers=2)
    try:
        with browser() as page:
            page.goto(f"{base}/ui")
            page.get_by_label("Email address").fill("alice")
            page.get_by_label("Password").fill(token)
            page.get_by_role("button", name="Sign In").click()
            page.get_by_text("Monitoring").wait_for(timeout=60_000)
            for index in range(3):
                say(page, f"Page message {index}.")
                page.get_by_text(f"Noted: Page message {index}.").wait_for(timeout=60_000)
            headers = {"authorization": f"Bearer {token}"}
            sent = httpx.post(f"{base}/chat", json={"message": "Through the API."}, headers=headers, timeout=120)
            assert sent.status_code == 200
            page.get_by_text("Noted: Through the API.").wait_for(timeout=30_000)
            # The panel's content, fetched by the page from whichever worker.
            page.get_by_text("Tokens/s", exact=True).wait_for(timeout=15_000)
            assert "error occurred" not in page.locator("body").inner_text()
            shot(page, tmp_path, "page-two-workers.png")
    finally:
        process.terminate()
        process.wait(timeout=60)
        box.shutdown()


def test_a_japanese_browser_gets_the_japanese_welcome(tmp_path):
    """Chainlit serves chainlit_<language>.md for the browser's exact language: ja-JP (what a
    Japanese Chrome sends) and ja both get the Japanese text, other languages the English."""
    port = free_port()
    with server("-m", "tests.page_server", str(port), "--empty", port=port, cwd=tmp_path) as base:
        japanese, english = "ローカルのエージェント社会", "One never-ending conversation"
        opened = httpx.post(f"{base}/ui/auth/header", timeout=30)  # one person's machine: in without a login
        assert opened.status_code == 200, opened.text
        for language, expected in (("ja-JP", japanese), ("ja", japanese), ("en-US", english), ("de-DE", english)):
            settings = httpx.get(
                f"{base}/ui/project/settings", params={"language": language}, cookies=opened.cookies, timeout=30
            ).json()
            assert expected in settings["markdown"], language


def test_on_a_phone_a_closed_monitoring_panel_stays_closed_and_typing_is_kept(tmp_path):
    """390x844, a Japanese browser: the panel (in Japanese) the page opens is closed once and stays closed
    while the figures go on refreshing (it reopened every 3 s and took the focus, and what was
    being typed was lost); a 60-letter message is typed intact."""
    port = free_port()
    with (
        server("-m", "tests.page_server", str(port), "--empty", port=port, cwd=tmp_path) as base,
        browser("ja-JP") as page,
    ):
        page.set_viewport_size({"width": 390, "height": 844})
        page.goto(f"{base}/ui")
        page.wait_for_selector("#chat-input", timeout=60_000)
        page.locator("table").filter(has_text="RAM").wait_for(timeout=30_000)  # the panel, open, with figures
        assert "トークン/秒" in page.locator("table").filter(has_text="RAM").inner_text()  # in Japanese
        page.get_by_role("button", name="Close").click()
        page.wait_for_timeout(4_000)  # more than one refresh
        assert not page.locator("table").filter(has_text="RAM").is_visible()
        message = "あいうえおかきくけこ" + "abcdefghij" * 5  # 60 letters
        page.locator("#chat-input").click()
        page.keyboard.type(message, delay=60)  # typed over several refreshes (3.6 s)
        page.wait_for_timeout(3_500)
        typed = page.locator("#chat-input").inner_text() or page.locator("#chat-input").input_value()
        assert typed.strip() == message
        page.screenshot(path=str(tmp_path / "phone.png"))


def test_an_image_in_a_message_is_not_fetched_by_the_browser(tmp_path, monkeypatch):
    """A message's markdown image (a model's, or a page's it read) would make every viewer's
    browser send its URL, and what the message put in it, to that server, or reach the
    viewer's LAN. The page shows it as a link and its Content-Security-Policy refuses other
    servers' images: the recording server gets nothing."""
    from tests.page_server import IMAGE_ENV
    from tests.test_attacks_web import recording_server

    with recording_server() as (address, hits):
        monkeypatch.setenv(IMAGE_ENV, f"http://{address}/pixel.png?leak=secret")
        port = free_port()
        with server("-m", "tests.page_server", str(port), port=port, cwd=tmp_path) as base, browser() as page:
            page.goto(f"{base}/ui")
            page.get_by_text("Summary of the page.").wait_for(timeout=60_000)
            page.wait_for_timeout(2_000)
            assert hits == []
            assert page.get_by_role("link", name="image: chart").count() >= 1
