"""`society status`: the ladder and what is reachable, which model each role would get now,
the machine (VRAM, CPU, RAM) and the conversation database."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from roles import enabled_roles, load_specs
from society.models import ladder
from society.models.backends.ollama.api import described
from society.models.backends.registry import probe
from society.models.config import config_path, load_entries
from society.models.machine.hardware import read_machine
from society.storage.store import Store


def last_answer(store: Store) -> dict[str, Any] | None:
    """The model that wrote the newest answer, its speed and time."""
    for message in reversed(store.last_messages(40)):
        if message.model and message.completion_tokens and message.latency_ms:
            return {
                "model": message.model,
                "role": message.role,
                "seconds": round(message.latency_ms / 1000, 2),
                "tokens_per_second": message.tokens_per_second,
                "first_token_s": round(message.first_token_ms / 1000, 2) if message.first_token_ms else None,
            }
    return None


def live(conversation=None) -> dict[str, Any]:
    """The figures of the monitoring panel, cheap enough to take every few seconds: GPU use,
    VRAM used and total (NVML), CPU and RAM (psutil), the models loaded (Ollama's and the
    ones this process holds) and the last answer's model and tokens per second."""
    entries = load_entries()
    readings = read_machine(entries)
    gpu = readings.gpu
    loaded = list(readings.ollama_loaded)
    loaded += [f"{model} on {server}" for server, held in readings.servers.items() for model in held.loaded]
    if conversation is not None:
        loaded += [model for model in conversation.gate.clients.in_process() if model not in loaded]
    store = conversation.store if conversation is not None else Store()
    return {
        "gpu": None
        if gpu is None
        else {
            "name": gpu.name,
            "utilization_pct": gpu.utilization_pct,
            "vram_used_mb": gpu.total_mb - gpu.free_mb,
            "vram_total_mb": gpu.total_mb,
        },
        "gpu_note": None if gpu else "no NVIDIA GPU found (NVML): models run on the CPU",
        "cpu_pct": readings.cpu_pct,
        "ram_used_mb": readings.ram_used_mb,
        "ram_total_mb": readings.ram_total_mb,
        "models_loaded": loaded,
        "last_answer": last_answer(store),
    }


def rung(entry, readings, why_not: str | None) -> dict[str, Any]:
    """One ladder entry as the machine sees it now: where it is (for Ollama: on the GPU,
    partly offloaded, not loaded), the context it is asked for, its VRAM need at that
    context, and what Ollama says the model is."""
    facts = readings.ollama_facts.get(entry.model)
    entry = described(entry, facts)
    loaded = readings.loaded_of(entry)
    if why_not:
        state = why_not
    elif loaded is not None:
        state = loaded.where()
    else:
        state = "not loaded" if entry.kind.reports_loaded else "reachable"
    described_as = ""
    if facts is not None:
        parts = [facts.architecture, facts.parameter_size, facts.quantization]
        described_as = " ".join(p for p in parts if p) + (
            f", trained for {facts.context_length}" if facts.context_length else ""
        )
    return {
        "model": entry.model,
        "backend": entry.backend,
        "vram_need_mb": ladder.need_mb(entry, readings),
        "context": entry.context_window,
        "loaded_context": loaded.context_length if loaded else None,
        "abilities": list(entry.abilities),
        "roles": list(entry.roles),
        "reachable": why_not is None,
        "why_not": why_not,
        "loaded": loaded is not None,
        "state": state,
        "facts": described_as,
    }


def collect(sections: Sequence[Callable[..., dict[str, Any]]] = ()) -> dict[str, Any]:
    """Everything `society status` shows; each of `sections` adds its own keys, from the
    same readings."""
    entries = load_entries()
    readings = read_machine(entries, cpu_interval=0.2)
    found = probe(entries)
    reachable = {model for model, why in found.items() if why is None}
    specs = load_specs()
    roles = {}
    for role in enabled_roles(specs):
        plan = ladder.plan(
            role, [described(e, readings.ollama_facts.get(e.model)) for e in entries], readings, reachable
        )
        roles[role] = {
            "model": plan[0].entry.model if plan else None,
            "why": plan[0].why if plan else "no rung can serve this role",
            "skipped": ladder.skipped(role, entries, readings, reachable),
        }
    store = Store()
    gpu = readings.gpu
    info = {
        "config": str(config_path()),
        "ladder": [rung(e, readings, found[e.model]) for e in entries],
        "roles": roles,
        "machine": {
            "gpu": None
            if gpu is None
            else {
                "name": gpu.name,
                "total_mb": gpu.total_mb,
                "free_mb": gpu.free_mb,
                "utilization_pct": gpu.utilization_pct,
            },
            "cpu_pct": readings.cpu_pct,
            "ram_used_mb": readings.ram_used_mb,
            "ram_total_mb": readings.ram_total_mb,
        },
        "last_answer": last_answer(store),
        "database": {"path": store.where, **store.counts()},
    }
    for section in sections:  # the learning side's (society/assemble.py adds them)
        info.update(section(entries=entries, readings=readings, reachable=reachable, roles=roles, store=store))
    return info


def roles_of(roles: list[str]) -> str:
    """A rung's roles in few words: "all", "every role" (the eight, and what else it serves)."""
    from roles import ROLE_NAMES

    if "*" in roles:
        return "all"
    if set(ROLE_NAMES) <= set(roles):
        return ", ".join(["every role", *(r for r in roles if r not in ROLE_NAMES)])
    return ", ".join(roles)


def render(info: dict[str, Any]) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console()
    table = Table(title=f"Model ladder ({info['config']})")
    for column in ("model", "backend", "context", "VRAM need MB", "abilities", "roles", "state"):
        table.add_column(column)
    unreachable: dict[str, list[str]] = {}  # why -> models: said once under the table, not per row
    for entry in info["ladder"]:
        colour = "red" if not entry["reachable"] else "yellow" if "offloaded" in entry["state"] else "green"
        if not entry["reachable"]:
            unreachable.setdefault(entry["state"], []).append(entry["model"])
        need = entry["vram_need_mb"]
        roles = entry["roles"]
        table.add_row(
            entry["model"] + (f"\n[dim]{entry['facts']}[/]" if entry["facts"] else ""),
            entry["backend"],
            str(entry["context"]),
            "unknown" if need is None else str(need),
            ", ".join(entry["abilities"]) or "-",
            roles_of(roles),
            f"[{colour}]{'unreachable' if not entry['reachable'] else entry['state']}[/]",
        )
    console.print(table)
    for why, models in unreachable.items():
        console.print(f"[red]unreachable[/]: {', '.join(models)}: {why}")
    # Roles that get the same model for the same reason, on one line.
    routes: dict[tuple, list[str]] = {}
    for role, choice in info["roles"].items():
        others = tuple(line for line in choice["skipped"] if not line.endswith(": unreachable"))
        routes.setdefault((choice["model"], choice["why"], others), []).append(role)
    for (model, why, others), roles in routes.items():
        colour = "" if model else "[red]"
        console.print(f"  {', '.join(roles)} -> {colour}{model or 'no model'} ({why})")
        for line in others:
            console.print(f"  [dim]    not {line}[/]")
    machine = info["machine"]
    gpu = machine["gpu"]
    console.print(
        f"GPU: {gpu['name']} {gpu['free_mb']}/{gpu['total_mb']} MB free"
        if gpu
        else "GPU: none (NVML found no NVIDIA GPU)"
    )
    console.print(f"CPU: {machine['cpu_pct']}%   RAM: {machine['ram_used_mb']}/{machine['ram_total_mb']} MB")
    last = info.get("last_answer")
    if last:
        console.print(
            f"Last answer: {last['model']} ({last['role']}), {last['seconds']} s, {last['tokens_per_second']} tokens/s"
        )
    for section in ("judge", "learning"):
        if section in info:
            console.print(info[section]["line"])
    db = info["database"]
    size_mb = db["database_bytes"] / 2**20
    console.print(f"Database: {db['path']}  {size_mb:.1f} MB, {db['messages']} messages in {db['turns']} turns")
