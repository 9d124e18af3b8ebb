"""Tool calls for models without native function calling: schema, parsing, rescue, repeats."""

import json

from autogen_core import FunctionCall
from autogen_core.models import (
    AssistantMessage,
    FunctionExecutionResult,
    FunctionExecutionResultMessage,
    UserMessage,
)

from society import toolcalls
from society.gate import Turn, in_turn
from society.store import Store
from tests.conftest import scripted_gate

TOOLS = [
    {
        "name": "write_file",
        "description": "Create a file.",
        "parameters": {
            "type": "object",
            "properties": {"path": {"type": "string"}, "content": {"type": "string"}},
            "required": ["path", "content"],
        },
    }
]


def test_the_schema_allows_each_tool_or_an_answer():
    schema = toolcalls.call_schema(TOOLS)
    names = [option["properties"]["tool"]["const"] for option in schema["anyOf"]]
    assert names == ["write_file", "answer"]
    assert toolcalls.call_schema(TOOLS, allow_answer=False)["anyOf"][0]["required"] == ["tool", "arguments"]


def test_parse_accepts_valid_calls_and_answers_and_rejects_the_rest():
    calls, valid = toolcalls.parse('{"tool": "write_file", "arguments": {"path": "a", "content": "b"}}', TOOLS, False)
    assert valid and calls[0].name == "write_file" and json.loads(calls[0].arguments) == {"path": "a", "content": "b"}
    assert toolcalls.parse('{"tool": "answer", "arguments": {"text": "hi"}}', TOOLS, False) == ("hi", True)
    assert toolcalls.parse('{"tool": "rm_rf", "arguments": {}}', TOOLS, False)[1] is False
    assert toolcalls.parse('{"tool": "write_file", "arguments": {"path": 3}}', TOOLS, False)[1] is False
    assert toolcalls.parse("I would call write_file now", TOOLS, False) == ("I would call write_file now", False)


def test_output_cut_by_the_token_limit_is_closed_when_constrained():
    cut = '{"tool": "write_file", "arguments": {"path": "a.txt", "content": "a long text that was cu'
    assert toolcalls.parse(cut, TOOLS, repair=False)[1] is False
    calls, valid = toolcalls.parse(cut, TOOLS, repair=True)
    assert valid and json.loads(calls[0].arguments)["path"] == "a.txt"


def test_a_repeated_call_returns_the_result_it_already_got():
    call = FunctionCall(id="1", name="write_file", arguments='{"path": "a", "content": "b"}')
    history = [
        AssistantMessage(content=[call], source="executor"),
        FunctionExecutionResultMessage(
            content=[FunctionExecutionResult(content="wrote 1 bytes to a", name="write_file", call_id="1")]
        ),
    ]
    again = FunctionCall(id="2", name="write_file", arguments='{"content": "b", "path": "a"}')
    assert toolcalls.repeated_result(history, [again]) == "wrote 1 bytes to a"
    other = FunctionCall(id="3", name="write_file", arguments='{"path": "c", "content": "b"}')
    assert toolcalls.repeated_result(history, [other]) is None


async def test_a_model_without_native_calls_is_constrained_and_its_reply_becomes_a_call():
    reply = '{"tool": "write_file", "arguments": {"path": "a.txt", "content": "hi"}}'
    gate, client = scripted_gate([reply], Store())
    with in_turn(Turn()) as turn:
        result = await gate.create("executor", [AssistantMessage(content="go", source="user")], tools=TOOLS)
    assert isinstance(result.content, list) and result.content[0].name == "write_file"
    sent = client.create_calls[0]
    assert sent["tools"] == []  # the client never sees native tools
    schema = sent["extra_create_args"]["response_format"]["json_schema"]["schema"]
    assert schema == toolcalls.call_schema(TOOLS)
    assert "write_file(path: string, content: string)" in sent["messages"][-2].content
    assert turn.calls["executor"].valid_tool_reply is True


async def test_a_native_model_printing_a_call_as_text_gets_it_made():
    from society.config import ModelEntry

    gate, _ = scripted_gate(['{"name": "write_file", "arguments": {"path": "a", "content": "b"}}'], Store())
    gate.entries = [ModelEntry(model="scripted", backend="openai", base_url="http://x.invalid", abilities=("tools",))]
    result = await gate.create("executor", [AssistantMessage(content="go", source="user")], tools=TOOLS)
    assert isinstance(result.content, list) and result.content[0].name == "write_file"


async def test_a_call_that_cannot_land_is_asked_again_within_its_grounding():
    edit = {
        "name": "edit_file",
        "description": "Replace text in a file.",
        "parameters": {
            "type": "object",
            "properties": {name: {"type": "string"} for name in ("path", "old_text", "new_text")},
            "required": ["path", "old_text", "new_text"],
        },
    }
    first = '{"tool": "edit_file", "arguments": {"path": "a.txt", "old_text": "cat", "new_text": "dog"}}'
    second = '{"tool": "edit_file", "arguments": {"path": "notes.txt", "old_text": "Hello", "new_text": "goodbye"}}'
    grounding = toolcalls.Grounding(
        properties={"path": {"const": "notes.txt"}, "old_text": {"enum": ["Hello"]}}, note="notes.txt contains: Hello"
    )
    seen = []
    grounders = {"edit_file": lambda arguments, request: seen.append((arguments, request)) or grounding}
    gate, client = scripted_gate([first, second], Store(), grounders=grounders)
    request = UserMessage(content="in notes.txt change hello to goodbye", source="user")
    result = await gate.create("executor", [request], tools=[edit])
    assert json.loads(result.content[0].arguments)["old_text"] == "Hello"
    assert seen == [({"path": "a.txt", "old_text": "cat", "new_text": "dog"}, request.content)]
    retry = client.create_calls[1]
    schema = retry["extra_create_args"]["response_format"]["json_schema"]["schema"]
    assert schema == toolcalls.grounded_schema(edit, grounding)
    assert schema["anyOf"][0]["properties"]["arguments"]["properties"]["old_text"] == {"enum": ["Hello"]}
    assert retry["messages"][-2].content == "notes.txt contains: Hello"
    assert len(schema["anyOf"]) == 1  # the retry must be the call: no answer, no other tool
