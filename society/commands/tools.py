"""`society tools`: workspace, sandbox and approval policies (tools.json)."""

from __future__ import annotations

from enum import StrEnum
from typing import TYPE_CHECKING, Annotated

import typer

from society.commands import fail, guard

if TYPE_CHECKING:
    pass

app = typer.Typer(help="Tool settings: folders, approval policies, sandbox limits (tools.json).")


@app.callback(invoke_without_command=True)
def tools_show(ctx: typer.Context) -> None:
    """Show the workspace, the approval policy of every action and the sandbox."""
    if ctx.invoked_subcommand:
        return
    from society.tools import sandbox
    from society.tools.settings import load_settings, settings_path

    settings = guard(load_settings)
    print(f"settings:  {settings_path()}")
    print(f"workspace: {settings.workspace}")
    for label, roots in (("readable", settings.read_roots), ("writable", settings.write_roots)):
        if roots:
            print(f"{label}:  {', '.join(map(str, roots))}")
    print(
        f"sandbox:   {sandbox.bwrap() or 'bubblewrap missing: commands are refused'}"
        + (" (unsandboxed allowed)" if settings.allow_unsandboxed else "")
    )
    print("policies:")
    for action, policy in sorted(settings.policies.items()):
        print(f"  {action:<24} {policy}")


class Policy(StrEnum):
    auto = "auto"
    ask = "ask"
    deny = "deny"


@app.command("policy")
def tools_policy(
    action: Annotated[str, typer.Argument(help="An action (see `society tools`) or mcp:SERVER.")],
    policy: Annotated[Policy, typer.Argument(help="What the action needs.")],
) -> None:
    """Set the approval policy of one action."""
    from society.tools.settings import DEFAULT_POLICIES, load_settings, save_settings

    if action not in DEFAULT_POLICIES and not action.startswith("mcp:"):
        raise fail(f"unknown action {action!r}; actions: {', '.join(DEFAULT_POLICIES)} or mcp:SERVER")
    settings = guard(load_settings)
    settings.policies[action] = policy.value
    print(f"{action}: {policy.value} (saved to {save_settings(settings)})")
