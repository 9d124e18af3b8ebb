"""The executor's `run_command`: bash inside the bubblewrap sandbox, under the approval policy."""

from __future__ import annotations

from typing import Annotated

from society.tools import as_tool, sandbox
from society.tools.approval import Guard, ToolRefused


def shell_tools(guard: Guard) -> list:
    settings = guard.settings

    async def run_command(
        command: Annotated[str, "a bash command line, run in the workspace folder"],
        timeout_s: Annotated[
            int | None, "seconds before the command is stopped, at most the user's limit; leave out for it"
        ] = None,
        network: Annotated[bool, "whether the command needs the network"] = False,
    ) -> str:
        """Run a shell command in the sandbox. Example: "run ls -l" -> {"command": "ls -l"} (実行, コマンド)"""
        if not sandbox.posix():
            raise ToolRefused(
                "commands run only on Linux (in bubblewrap) or unsandboxed on macOS; on Windows, "
                "run society inside WSL2 to let the executor run commands"
            )
        sandboxed = sandbox.bwrap() is not None
        if not sandboxed and not settings.allow_unsandboxed:
            raise ToolRefused(
                "bubblewrap (bwrap) is not installed, so commands cannot run sandboxed; install it "
                "(apt install bubblewrap) or set allow_unsandboxed in tools.json to run them unsandboxed"
            )
        await guard.check("run_command" if sandboxed else "unsandboxed", command)
        if network:
            await guard.check("network", command)
        result = await sandbox.run(command, settings, network=network, timeout_s=timeout_s, sandboxed=sandboxed)
        return result.render()

    return [as_tool(run_command)]
