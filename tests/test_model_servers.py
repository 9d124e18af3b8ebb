"""Model servers on other machines (a household's GPU box): placed on their own card, as
their `/api/ps` says, and called up to their own room, whatever this machine's GPU is doing.
Against two Ollama stand-ins, the laptop's and the box's; every test checks what each
stand-in received."""

from __future__ import annotations

import asyncio
from dataclasses import replace

import pytest
from autogen_core.models import UserMessage
from filelock import FileLock

from society.models.config import load_entries
from society.models.gate import ModelGate
from society.models.ladder import plan
from society.models.machine.hardware import read_machine
from society.models.machine.model_servers import AdvisorySlots, Slot, server_of, slot_for
from society.paths import model_lock_path
from tests.conftest import write_config
from tests.ollama_standin import QWEN2_1_5B, QWEN2_7B, OllamaStandin

BOX_MB = 24_576  # the household server's card
QUESTION = [UserMessage(content="What is the capital of France?", source="user")]


@pytest.fixture
def laptop():
    standin = OllamaStandin()
    server, _ = standin.serve()
    yield standin
    server.shutdown()


@pytest.fixture
def box():
    standin = OllamaStandin(card_mb=BOX_MB, desktop_mb=0)
    server, _ = standin.serve()
    yield standin
    server.shutdown()


def entries_for(tmp_path, box_url: str, laptop_url: str, parallel: int = 1) -> list:
    return load_entries(
        write_config(
            tmp_path / "models.json",
            [
                {
                    "model": QWEN2_7B.name,
                    "api_type": "ollama",
                    "base_url": box_url,
                    "server_vram_mb": BOX_MB,
                    "parallel": parallel,
                },
                {"model": QWEN2_1_5B.name, "api_type": "ollama", "base_url": laptop_url},
            ],
        )
    )


def gate_over(laptop: OllamaStandin, entries, claim: str | None = None) -> ModelGate:
    """The real gate and Ollama clients; only NVML is replaced, by the laptop card's reading."""
    return ModelGate(
        entries, None, read=lambda: replace(read_machine(entries), gpu=laptop.card(), gpu_claim=claim), notify=print
    )


def test_a_server_elsewhere_is_placed_on_its_own_card_and_a_learning_claim_here_does_not_hold_it(tmp_path, laptop, box):
    entries = entries_for(tmp_path, box.url, laptop.url)
    remote, local = entries
    assert slot_for(remote, entries) == Slot(str(server_of(remote)))
    assert slot_for(local, entries) == Slot("local")

    gate = gate_over(laptop, entries, claim="learning (pid 1)")
    result = asyncio.run(gate.create("planner", QUESTION))
    assert result.content == "A stand-in answer."
    assert [b["model"] for b in box.chats()] == [QWEN2_7B.name]
    assert laptop.chats() == []  # the laptop's card is training: its rung is skipped

    readings = replace(read_machine(entries), gpu=laptop.card())
    held = box.ps()["models"][0]
    server = readings.servers[str(server_of(remote))]
    assert server.free_mb == BOX_MB - held["size_vram"] // 2**20
    assert QWEN2_7B.name not in readings.ollama_loaded  # not this machine's
    choices = plan("planner", entries, readings, {e.model for e in entries})
    assert choices[0].entry.model == QWEN2_7B.name
    assert choices[0].why == f"already loaded, all on the GPU of {server_of(remote)}"
    assert any(r["path"] == "/api/ps" for r in box.received)


@pytest.mark.parametrize("parallel", [1, 2])
def test_calls_to_a_server_elsewhere_run_up_to_its_parallel_while_this_machines_model_lock_is_held(
    tmp_path, laptop, box, parallel
):
    """Three workers ask the box at once while a long call holds this machine's GPU: the box
    answers `parallel` of them at a time; the laptop's rung waits for its lock."""
    box.generation_s = 0.6
    entries = entries_for(tmp_path, box.url, laptop.url, parallel)
    machine = FileLock(str(model_lock_path()), thread_local=False)
    machine.acquire()
    try:

        async def three() -> list:
            gates = [gate_over(laptop, entries[:1]) for _ in range(3)]
            return await asyncio.wait_for(asyncio.gather(*(g.create("planner", QUESTION) for g in gates)), 30)

        answers = asyncio.run(three())
        assert [a.content for a in answers] == ["A stand-in answer."] * 3
        assert len(box.chats()) == 3
        assert box.most_in_flight == parallel

        async def local_call() -> None:
            await asyncio.wait_for(gate_over(laptop, entries[1:]).create("planner", QUESTION), 1.5)

        with pytest.raises(TimeoutError):
            asyncio.run(local_call())  # the laptop's card is this machine's: it waits
        assert laptop.chats() == []
    finally:
        machine.release()
    # The call that gave up waiting leaves no lock behind: its acquisition is given back.
    again = FileLock(str(model_lock_path()), thread_local=False)
    again.acquire(timeout=10)
    again.release()


def test_a_servers_slots_are_shared_through_postgres_advisory_locks(servers):
    """Workers on several hosts share one count of a server's room: the shared database's
    advisory locks, freed when a holder's connection ends."""
    from sqlalchemy import create_engine

    admin, _ = servers
    engine = create_engine(admin)
    slot = Slot("http://gpu-box:11434", capacity=2)
    first, second, third = (AdvisorySlots(slot, engine) for _ in range(3))
    try:
        assert first.try_acquire() and second.try_acquire()
        assert not third.try_acquire()  # the server's room is full
        first.release()
        assert third.try_acquire()
    finally:
        for held in (first, second, third):
            held.release()
        engine.dispose()
