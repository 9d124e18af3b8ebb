"""The `society` command. Heavy libraries load inside the commands, never at import, so
`society --help` answers at once. Each group lives in its own module (society/commands/;
the learning commands in training/commands.py, `society ui` in ui/commands.py); errors a
user can fix are `SocietyError`s, printed here as one line with their exit code. With the
assembly (society/assemble.py), this is the only module of `society/` that imports the
learning and serving wings: it puts their commands on the root command."""

from __future__ import annotations

import sys

import typer
from typer.core import TyperGroup

from society.commands import config, mcp, memory, prompts, talk, tools, transcript, users
from society.errors import SocietyError
from training.commands import app as learning  # imports nothing heavy until a command runs
from ui.commands import app as serving


class OneLineErrors(TyperGroup):
    """The root group: a SocietyError from any command is one line and its exit code."""

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except SocietyError as err:
            print(f"society: error: {err}", file=sys.stderr)
            raise typer.Exit(err.exit_code) from None


app = typer.Typer(
    cls=OneLineErrors,
    help="A self-learning local agent society: one never-ending conversation.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
app.add_typer(talk.app)
app.add_typer(transcript.app)
app.add_typer(mcp.app, name="mcp")
app.add_typer(tools.app, name="tools")
app.add_typer(memory.app, name="memory")
app.add_typer(prompts.app, name="prompts")
app.add_typer(config.app, name="config")
app.add_typer(users.app, name="users")
app.add_typer(learning)
app.add_typer(serving)


if __name__ == "__main__":
    app()
