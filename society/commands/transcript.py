"""`society export` and `society import`: the conversation as a JSON or Markdown file."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from society.commands import fail

app = typer.Typer()


class Format(StrEnum):
    json = "json"
    markdown = "markdown"


@app.command("export")
def export(
    output: Annotated[Path | None, typer.Argument(help="The file to write; left out, standard output.")] = None,
    form: Annotated[Format, typer.Option("--format", "-f", help="json (exact) or markdown (readable).")] = Format.json,
) -> None:
    """Export the whole conversation: messages, reasoning, tool calls and results, recalled memories."""
    from society.storage import transcript
    from society.storage.store import Store

    store = Store()
    text = transcript.export_json(store) if form is Format.json else transcript.export_markdown(store)
    if output is None:
        print(text)
        return
    try:
        output.write_text(text, encoding="utf-8")
    except OSError as err:
        raise fail(f"cannot write {output}: {err.strerror}") from None
    print(f"exported {text.count(chr(10)) + 1} lines to {output}")


@app.command("import")
def import_(
    source: Annotated[Path, typer.Argument(help="A file `society export` wrote (JSON or Markdown).")],
) -> None:
    """Add an exported conversation's turns after the ones this data folder holds."""
    from society.storage import transcript
    from society.storage.store import Store

    try:
        raw = source.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as err:
        raise fail(f"cannot read {source}: {getattr(err, 'strerror', None) or err}") from None
    store = Store()
    turns, messages = transcript.import_data(store, transcript.parse(raw))
    print(f"imported {turns} turns ({messages} messages) from {source}")
    if turns:  # recalled from the next message on, like what was said
        from society.memory.bank import MemoryBank
        from society.memory.consolidate import consolidate

        consolidate(MemoryBank(store))
