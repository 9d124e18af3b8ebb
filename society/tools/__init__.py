"""The tools the roles act with: web and MCP for the researcher, a sandboxed shell and files
for the executor, each call passing the approval policy first."""


def as_tool(fn):
    """An AutoGen FunctionTool whose description is `fn`'s docstring on one line: the model
    reads it, so it says what the tool does and shows one example call."""
    from autogen_core.tools import FunctionTool

    return FunctionTool(fn, description=" ".join((fn.__doc__ or "").split()))
