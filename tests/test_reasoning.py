import pytest
from autogen_core.models import AssistantMessage, CreateResult, RequestUsage, SystemMessage, UserMessage

from society.models.reasoning import REASONING_INSTRUCTION, split_reasoning
from society.models.turns import Turn, in_turn
from tests.conftest import scripted_gate


@pytest.mark.parametrize(
    "raw, answer, reasoning",
    [
        ("<think>2 and 2 make 4</think>\n\nIt is 4.", "It is 4.", "2 and 2 make 4"),
        ("It is 4.", "It is 4.", None),
        ("2 and 2 make 4</think>It is 4.", "It is 4.", "2 and 2 make 4"),  # template put <think> in the prompt
        ("<THINK>a</THINK>b<think>c</think>d", "bd", "a\n\nc"),
        ("It is<think>cut off by the token lim", "It is", "cut off by the token lim"),
        ("<think>考えます</think>答えは4です。", "答えは4です。", "考えます"),
    ],
)
def test_reasoning_is_split_from_the_answer(raw, answer, reasoning):
    assert split_reasoning(raw) == (answer, reasoning)


async def test_gate_stores_reasoning_apart_and_never_sends_it_back():
    gate, client = scripted_gate(["<think>secret chain</think>Four.", "Five."])
    with in_turn(Turn()) as turn:
        first = await gate.create("planner", [UserMessage(content="2+2?", source="user")])
    assert (first.content, first.thought) == ("Four.", "secret chain")
    assert turn.calls["planner"].reasoning == "secret chain"
    # The next prompt carries the earlier answer, as AutoGen would, thought and all.
    history = [
        UserMessage(content="2+2?", source="user"),
        AssistantMessage(content="<think>secret chain</think>Four.", thought="secret chain", source="planner"),
        UserMessage(content="and 2+3?", source="user"),
    ]
    await gate.create("planner", history)
    sent = client.create_calls[-1]["messages"]
    assert "secret" not in str([m.model_dump() for m in sent])


async def test_reasoning_mode_asks_a_plain_model_to_think_first():
    gate, client = scripted_gate(
        [
            CreateResult(
                content="<think>x</think>y",
                finish_reason="stop",
                usage=RequestUsage(prompt_tokens=1, completion_tokens=1),
                cached=False,
            )
        ]
    )
    with in_turn(Turn(reasoning_roles=frozenset({"planner"}))):
        result = await gate.create("planner", [SystemMessage(content="sys"), UserMessage(content="q", source="user")])
    sent = client.create_calls[-1]["messages"]
    assert [m.content for m in sent] == ["sys", REASONING_INSTRUCTION, "q"]
    assert (result.content, result.thought) == ("y", "x")
