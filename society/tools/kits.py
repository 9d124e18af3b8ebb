"""Which role holds which tools: the researcher the web and the MCP servers, the executor
the sandboxed shell and the files. Each role's tools form one workbench."""

from __future__ import annotations

from collections.abc import Callable

from society.memory.bank import MemoryBank
from society.prompt_book import PromptBook
from society.tools.approval import Guard
from society.tools.toolbox import Toolbox
from training.datasets import Examples

# How many rounds of tool calls a role may make in one go before it must answer.
TOOL_ITERATIONS = {"researcher": 3, "executor": 4, "memory_keeper": 2, "prompt_editor": 1, "data_curator": 1}


def role_toolboxes(
    guard: Guard,
    notify: Callable[[str], None],
    bank: MemoryBank | None = None,
    book: PromptBook | None = None,
    examples: Examples | None = None,
) -> dict[str, Toolbox]:
    from society.tools.files import edit_grounder, file_tools
    from society.tools.mcp_config import load_servers
    from society.tools.memory_tools import memory_tools
    from society.tools.shell import shell_tools
    from society.tools.web import web_tools

    boxes = {
        "researcher": Toolbox(web_tools(guard), load_servers(), guard, notify),
        "executor": Toolbox(
            [*file_tools(guard), *shell_tools(guard)], {}, guard, notify, grounders={"edit_file": edit_grounder(guard)}
        ),
    }
    if bank is not None:
        boxes["memory_keeper"] = Toolbox(memory_tools(bank), {}, guard, notify)
    if book is not None:
        from society.tools.prompt_tools import ground_rule, prompt_tools

        boxes["prompt_editor"] = Toolbox(prompt_tools(book), {}, guard, notify, grounders={"add_rule": ground_rule})
    if examples is not None:
        from society.tools.data_tools import data_tools

        boxes["data_curator"] = Toolbox(data_tools(examples), {}, guard, notify)
    return boxes
