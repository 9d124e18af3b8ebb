"""Executor: a sandboxed shell and file editing in the workspace (society/tools/sandbox.py,
society/tools/files.py); every call passes the approval policy."""

from __future__ import annotations

from typing import TYPE_CHECKING

from roles.base import Kit, RoleSpec

if TYPE_CHECKING:
    from society.tools.toolbox import Toolbox


def toolbox(kit: Kit) -> Toolbox:
    """run_command, read_file, write_file, edit_file and list_dir; an edit whose text is not
    in the file is grounded in the file's own text (society/toolcalls/client.py)."""
    from society.tools.files import edit_grounder, file_tools
    from society.tools.shell import shell_tools
    from society.tools.toolbox import Toolbox

    tools = [*file_tools(kit.guard), *shell_tools(kit.guard)]
    return Toolbox(tools, {}, kit.guard, kit.notify, grounders={"edit_file": edit_grounder(kit.guard)})


ROLE = RoleSpec(
    name="executor",
    description="Runs commands in a sandbox and reads, writes and edits files in the workspace.",
    ready=True,
    tool_iterations=4,
    toolbox=toolbox,
    triggers=(r"\b(run|execute|shell|command|install|file|folder|directory)\b", r"実行|コマンド|ファイル|フォルダ"),
    required=("Never guess a result you did not see.",),
)
