"""The approval gate every tool call passes: `auto` runs, `deny` refuses, `ask` asks the user.

Where the user is asked depends on the entry point: the terminal asks y/n; a headless run
has no one to ask, so `ask` is refused unless the run was started with `--approve`. Every
decision that was not plain `auto` is written into the conversation.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from society.tools.settings import ToolSettings

Approver = Callable[[str, str], Awaitable[bool]]  # (action, what exactly) -> allowed?
Recorder = Callable[[str], None]  # writes one line into the conversation


class ToolRefused(PermissionError):
    """A tool call the policy or the user refused; the message says why and how to allow it."""


async def refuse_all(action: str, detail: str) -> bool:
    return False


async def allow_all(action: str, detail: str) -> bool:
    return True


class Guard:
    """Checks one action against the settings' policy, asking when the policy says so."""

    def __init__(self, settings: ToolSettings, approver: Approver = refuse_all, record: Recorder | None = None):
        self.settings = settings
        self.approver = approver
        self.record = record or (lambda line: None)

    async def check(self, action: str, detail: str) -> None:
        """Return if `action` may run; raise ToolRefused with a clear reason if not."""
        policy = self.settings.policy(action)
        if policy == "auto":
            return
        if policy == "deny":
            self.record(f"refused {action} ({detail}): policy is deny")
            raise ToolRefused(f"{action} is denied by policy (change it with: society tools policy {action} ask)")
        allowed = await self.approver(action, detail)
        self.record(f"{'approved' if allowed else 'refused'} {action} ({detail}) on asking")
        if not allowed:
            raise ToolRefused(
                f"{action} needs the user's approval ({detail}) and was not approved; "
                "in a headless run pass --approve to allow such actions"
            )
