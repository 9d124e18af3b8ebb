"""`society prompts`: the roles' prompt versions."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from society.commands import guard

if TYPE_CHECKING:
    pass

app = typer.Typer(help="The roles' prompts: versions, diffs, rollback, locks.", no_args_is_help=True)


def _book():
    from society.prompt_book import PromptBook

    return PromptBook()


def _prompt_call(fn):
    return guard(fn)


@app.command("list")
def prompts_list() -> None:
    """Each role's current prompt version, its author and why it changed."""
    from roles import ROLE_NAMES

    book = _book()
    for role in ROLE_NAMES:
        current = book.current(role)
        lock = " [locked]" if book.is_locked(role) else ""
        fitness = f" fitness {current.fitness:.2f}" if current.fitness is not None else ""
        print(f"{role:<18} v{current.version} by {current.author}{lock}{fitness}: {current.reason}")


@app.command("show")
def prompts_show(
    role: Annotated[str, typer.Argument(help="A role name.")],
    version: Annotated[
        int | None, typer.Option("--version", "-v", help="A version; the current one if left out.")
    ] = None,
) -> None:
    """A role's prompt (current or a given version) and its version history."""
    book = _book()
    shown = _prompt_call(lambda: book.get(role, version) if version else book.current(role))
    for v in book.versions(role):
        marker = "*" if v.version == shown.version else " "
        print(f"{marker} v{v.version} {v.created_at[:19]} by {v.author}, uses {v.uses}: {v.reason}")
    print(f"\n{shown.text}")


@app.command("diff")
def prompts_diff(
    role: Annotated[str, typer.Argument(help="A role name.")],
    a: Annotated[int, typer.Argument(help="The older version.")],
    b: Annotated[int | None, typer.Argument(help="The newer version; the current one if left out.")] = None,
) -> None:
    """What changed between two versions of a role's prompt."""
    book = _book()
    print(_prompt_call(lambda: book.diff(role, a, b or book.current(role).version)))


@app.command("rollback")
def prompts_rollback(
    role: Annotated[str, typer.Argument(help="A role name.")],
    version: Annotated[int, typer.Argument(help="The version whose text comes back.")],
) -> None:
    """Make an earlier version's text current again (as a new version)."""
    made = _prompt_call(lambda: _book().rollback(role, version, "user"))
    print(f"{role} prompt is now v{made.version} (the text of v{version}); it applies from the next turn")


@app.command("lock")
def prompts_lock(
    role: Annotated[str, typer.Argument(help="A role name.")],
    off: Annotated[bool, typer.Option("--off", help="Unlock instead.")] = False,
) -> None:
    """Stop the society from editing a role's prompt (or, with --off, allow it again)."""
    _prompt_call(lambda: _book().lock(role, not off))
    print(f"{role} prompt {'unlocked' if off else 'locked: edits are refused'}")
