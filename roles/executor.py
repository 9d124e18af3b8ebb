"""Executor: a sandboxed shell and file editing."""

from roles.base import RoleSpec

ROLE = RoleSpec(
    name="executor",
    description="Runs commands in a sandbox and reads, writes and edits files in the workspace.",
    ready=True,
    triggers=(r"\b(run|execute|shell|command|install|file|folder|directory)\b", r"実行|コマンド|ファイル|フォルダ"),
    required=("Never guess a result you did not see.",),
)
