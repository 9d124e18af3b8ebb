"""`society memory`: search, list, show, forget, reindex."""

from __future__ import annotations

import json
import sys
from enum import StrEnum
from typing import TYPE_CHECKING, Annotated

import typer

from society.commands import fail, guard

if TYPE_CHECKING:
    pass

app = typer.Typer(help="Long-term memory: search, list, show, forget, reindex.", no_args_is_help=True)


def _bank():
    from society.memory.bank import MemoryBank

    return MemoryBank(notify=lambda line: print(f"society: {line}", file=sys.stderr))


def _memory_line(item, score: float | None = None) -> str:
    text = " ".join(item.content.split())
    flags = f" [{item.status}]" if item.status != "active" else ""
    scored = f" {score:.4f}" if score is not None else ""
    return f"#{item.id:<6} {item.kind:<11} {item.importance:.2f}{scored}{flags}  {text[:160]}"


class SearchMode(StrEnum):
    hybrid = "hybrid"
    vector = "vector"
    keyword = "keyword"


@app.command("search")
def memory_search(
    query: Annotated[str, typer.Argument(help="What to look for, in any language.")],
    limit: Annotated[int, typer.Option("--limit", "-n", min=1, max=100)] = 10,
    mode: Annotated[SearchMode, typer.Option("--mode", help="How to search.")] = SearchMode.hybrid,
    as_json: Annotated[bool, typer.Option("--json", help="Print a JSON list.")] = False,
) -> None:
    """Recall memories as the team does (without counting it as a recall)."""
    found = guard(lambda: _bank().recall(query, limit, mode.value, touch=False))
    if as_json:
        print(json.dumps([{**r.item.to_dict(), "score": r.score, "via": r.via} for r in found], ensure_ascii=False))
        return
    if not found:
        print("nothing found")
    for r in found:
        print(_memory_line(r.item, r.score) + f"  ({r.via})")


@app.command("list")
def memory_list(
    kind: Annotated[
        str | None, typer.Option("--kind", help="turn, fact, preference, decision, tool_result, note.")
    ] = None,
    include_all: Annotated[bool, typer.Option("--all", help="Also faded, merged and forgotten ones.")] = False,
    limit: Annotated[int, typer.Option("--limit", "-n", min=1)] = 50,
    as_json: Annotated[bool, typer.Option("--json", help="Print a JSON list.")] = False,
) -> None:
    """The newest memories."""
    from society.storage.memories import KINDS, Items
    from society.storage.store import Store

    if kind is not None and kind not in KINDS:
        raise fail(f"--kind must be one of {', '.join(KINDS)}, got {kind!r}")
    items = guard(lambda: Items(Store().engine).listing(kind, include_all, limit))
    if as_json:
        print(json.dumps([item.to_dict() for item in items], ensure_ascii=False))
        return
    if not items:
        print("no memories yet")
    for item in items:
        print(_memory_line(item))


@app.command("show")
def memory_show(memory_id: Annotated[int, typer.Argument(help="The memory's number.")]) -> None:
    """One memory with everything known about it."""
    from society.storage.memories import Items
    from society.storage.store import Store

    item = guard(lambda: Items(Store().engine).get(memory_id))
    print(json.dumps(item.to_dict(), ensure_ascii=False, indent=2))


@app.command("forget")
def memory_forget(memory_id: Annotated[int, typer.Argument(help="The memory's number.")]) -> None:
    """Stop recalling a memory; it stays in the database (status 'forgotten')."""
    item = guard(lambda: _bank().forget(memory_id))
    print(f"forgot #{item.id}: {' '.join(item.content.split())[:120]}")


@app.command("reindex")
def memory_reindex() -> None:
    """Rebuild the vector index (ChromaDB) from the database, after consolidating."""
    from society.memory.consolidate import consolidate

    def run() -> tuple:
        bank = _bank()
        report = consolidate(bank)
        return report, bank.reindex()

    report, count = guard(run)
    print(f"consolidated {report.turns} turns; indexed {count} memories in {_bank().index_path}")
