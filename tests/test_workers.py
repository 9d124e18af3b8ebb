"""`society ui --workers 2`, the real server, on Postgres with a Chroma server: two users'
turns at once, each user's conversation whole and in order whichever worker served a turn,
and /metrics adding up every worker's figures (the load itself: tests/bench_server.py)."""

import asyncio

import httpx

from tests.bench_server import OWNER_TOKEN, check_history, model_server, one_user, start_society


def test_two_workers_serve_each_users_turns_in_order_and_metrics_add_up(tmp_path, servers, monkeypatch):
    from society.storage import users

    admin, chroma = servers
    (tmp_path / "home").mkdir(exist_ok=True)
    tokens = {name: users.add(name) for name in ("ann", "ben")}
    box, url = model_server()
    ladder = tmp_path / "models.json"
    ladder.write_text(
        f'[{{"model": "box-7b", "api_type": "openai", "base_url": "{url}/v1", "api_key": "x",'
        ' "server_vram_mb": 24576, "parallel": 4}]',
        encoding="utf-8",
    )
    # A database of its own on the session's Postgres: the schemas user_ann and user_ben in it.
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    server = create_engine(admin, isolation_level="AUTOCOMMIT")
    with server.connect() as conn:
        conn.execute(text("CREATE DATABASE workers_test"))
    database = make_url(admin).set(database="workers_test").render_as_string(hide_password=False)
    env = {"SOCIETY_DATABASE_URL": database, "SOCIETY_CONFIG": str(ladder), "SOCIETY_API_TOKEN": OWNER_TOKEN}
    (tmp_path / "home" / "memory.json").write_text(f'{{"vector_server": "{chroma}"}}', encoding="utf-8")
    process, base = start_society(tmp_path / "home", env, workers=2)
    try:
        latencies, failures = [], []

        async def both():
            return await asyncio.gather(*(one_user(base, n, t, 3, latencies, failures) for n, t in tokens.items()))

        results = asyncio.run(both())
        assert failures == []
        for name, (sent, history) in zip(tokens, results, strict=True):
            assert len(sent) == 3
            assert check_history(name, sent, history) == (0, True, True)
        refused = httpx.get(f"{base}/metrics", headers={"authorization": f"Bearer {tokens['ann']}"})
        assert refused.status_code == 403  # a user's token: the figures count everyone's turns
        metrics = httpx.get(f"{base}/metrics", headers={"authorization": f"Bearer {OWNER_TOKEN}"}).text
        done = [line for line in metrics.splitlines() if line.startswith('society_turns_total{status="done"}')]
        assert done and float(done[0].rsplit(" ", 1)[1]) == 6.0  # both workers' turns, counted once
        workers = httpx.get(f"{base}/monitoring/status", headers={"authorization": f"Bearer {tokens['ben']}"})
        assert workers.status_code == 200
    finally:
        process.terminate()
        process.wait(timeout=60)
        box.shutdown()
        with server.connect() as conn:
            conn.execute(text("DROP DATABASE workers_test WITH (FORCE)"))
        server.dispose()


def test_a_page_following_a_conversation_is_woken_by_a_message_stored_by_another_worker(database):
    """Postgres: the NOTIFY of a stored message wakes the follower of that conversation at
    once (not at its poll), and only that conversation's; SQLite: the follower polls."""
    import time

    from society.storage.store import Store
    from society.storage.users import as_user
    from ui.bell import next_message

    async def follow_then_say(follower: str, speaker: str, timeout: float) -> float:
        with as_user(follower):
            followed = Store()
        with as_user(speaker):
            other_worker = Store()  # another process's store of the same database, as a worker has
            turn = other_worker.begin_turn("warm-up", "api")  # schemas made, the bell listening

        async def say_soon():
            await asyncio.sleep(0.3)
            await asyncio.to_thread(other_worker.add_message, turn.turn_id, "planner", "A new answer.")

        started = time.perf_counter()
        saying = asyncio.create_task(say_soon())
        await next_message(followed, timeout)
        await saying
        return time.perf_counter() - started

    patience = 30 if database == "postgres" else 3

    async def both() -> tuple[float, float]:
        await next_message(Store(), 0.5)  # the bell starts listening
        return await follow_then_say("amy", "amy", patience), await follow_then_say("amy", "bob", 2)

    same, other = asyncio.run(both())
    if database == "postgres":
        assert same < patience  # woken by the message, long before the follower's own timeout
    else:
        assert same >= patience - 0.1  # no announcements on SQLite: the page polls
    assert other >= 2 - 0.1  # bob's message does not wake amy's page
