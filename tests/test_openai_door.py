"""The OpenAI door honours what a client asks (max_tokens, stop, temperature, its own tools),
checked in what the model behind it RECEIVED; Open WebUI's background tasks are answered
without becoming turns. The client is the real openai SDK; the model a recording stand-in."""

from __future__ import annotations

import json

import httpx
import openai
import pytest

from society.assemble import open_conversation
from society.models.config import ModelEntry
from society.models.gate import ModelGate
from society.storage.store import Store
from tests.conftest import chat_completion, recording_server
from ui.api import create_app

WEATHER = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "The weather in a city now.",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
    },
}


def sdk_over(url: str, abilities=()) -> tuple[openai.AsyncOpenAI, Store]:
    store = Store()
    entry = ModelEntry("m", "openai", f"{url}/v1", max_tokens=200, abilities=tuple(abilities))
    gate = ModelGate([entry], store, reachable={"m"}, notify=lambda line: None)
    app = create_app(lambda: open_conversation(store, gate, entry_point="api", enabled=["planner"]))
    http = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://society")
    return openai.AsyncOpenAI(base_url="http://society/v1", api_key="x", http_client=http), store


def chats(received: list[dict]) -> list[dict]:
    return [r["body"] for r in received if r["path"].endswith("/chat/completions")]


async def test_max_tokens_stop_and_temperature_reach_the_model():
    def answer(method, path, body):
        reply = chat_completion("Three little words")
        reply["usage"]["completion_tokens"] = body.get("max_tokens") or 5
        return 200, reply

    with recording_server(answer) as (url, received):
        sdk, _ = sdk_over(url)
        said = await sdk.chat.completions.create(
            model="society",
            messages=[{"role": "user", "content": "Say hi"}],
            max_tokens=3,
            stop=["END"],
            temperature=0.2,
        )
        streamed = await sdk.chat.completions.create(
            model="society", messages=[{"role": "user", "content": "Again"}], max_tokens=3, stream=True
        )
        parts = [chunk.choices[0].delta.content or "" async for chunk in streamed if chunk.choices]
    sent = chats(received)
    assert [b["max_tokens"] for b in sent] == [3, 3]
    assert sent[0]["stop"] == ["END"] and sent[0]["temperature"] == 0.2
    assert said.choices[0].finish_reason == "length"  # the answer used all 3 tokens it was allowed
    assert said.choices[0].message.content == "".join(parts) == "Three little words"  # streamed or not: the same
    with pytest.raises(openai.UnprocessableEntityError, match="n: Input should be less than or equal to 1"):
        await sdk.chat.completions.create(model="society", messages=[{"role": "user", "content": "hi"}], n=2)


@pytest.mark.parametrize("native", [True, False])
async def test_a_client_offering_tools_gets_tool_calls_and_then_an_answer(native):
    def answer(method, path, body):
        if "sunny, 21 C" in json.dumps(body["messages"]):  # the tool's result is back: the answer
            said = "It is sunny in Tokyo."
            if "response_format" in body:
                return 200, chat_completion(json.dumps({"tool": "answer", "arguments": {"text": said}}))
            return 200, chat_completion(said)
        if body.get("tools"):  # a model with native calls: a call of the client's tool
            call = {
                "id": "call_1",
                "type": "function",
                "function": {"name": "get_weather", "arguments": '{"city": "Tokyo"}'},
            }
            reply = chat_completion("")
            reply["choices"][0]["message"] = {"role": "assistant", "content": None, "tool_calls": [call]}
            reply["choices"][0]["finish_reason"] = "tool_calls"
            return 200, reply
        if "response_format" in body:  # the text protocol: the call as JSON held to its schema
            return 200, chat_completion(json.dumps({"tool": "get_weather", "arguments": {"city": "Tokyo"}}))
        return 500, {"error": "unexpected request"}

    with recording_server(answer) as (url, received):
        sdk, store = sdk_over(url, abilities=("tools",) if native else ())
        asked = [{"role": "user", "content": "What's the weather in Tokyo?"}]
        first = await sdk.chat.completions.create(model="society", messages=asked, tools=[WEATHER])
        call = first.choices[0].message.tool_calls[0]
        assert first.choices[0].finish_reason == "tool_calls"
        assert call.function.name == "get_weather" and json.loads(call.function.arguments) == {"city": "Tokyo"}
        result = {"role": "tool", "tool_call_id": call.id, "content": "sunny, 21 C"}
        second = await sdk.chat.completions.create(
            model="society",
            messages=[*asked, first.choices[0].message.model_dump(exclude_none=True), result],
            tools=[WEATHER],
        )
    sent = chats(received)
    if native:
        assert sent[0]["tools"][0]["function"]["name"] == "get_weather"  # the client's tool, as it sent it
    else:
        assert "get_weather(city: string)" in json.dumps(sent[0]["messages"])  # shown as text
    assert "sunny, 21 C" in json.dumps(sent[-1]["messages"])  # the tool's result reached the model
    assert second.choices[0].message.content == "It is sunny in Tokyo."
    # The exchange is in the conversation once answered: the user's message once, the call,
    # its result and the answer (memory and learning see these chats too).
    stored = [(m.role, m.kind, m.content) for m in store.last_messages(10)]
    assert stored == [
        ("user", "text", "What's the weather in Tokyo?"),
        ("planner", "tool_call", 'get_weather({"city": "Tokyo"})'),
        ("planner", "tool_result", "sunny, 21 C"),
        ("planner", "text", "It is sunny in Tokyo."),
    ]


async def test_open_webui_background_tasks_are_answered_without_becoming_turns():
    with recording_server(lambda method, path, body: (200, chat_completion('{"title": "Weather chat"}'))) as (
        url,
        received,
    ):
        sdk, store = sdk_over(url)
        task = "### Task:\nGenerate a concise, 3-5 word title with an emoji summarizing the chat.\n<chat_history>"
        said = await sdk.chat.completions.create(model="society", messages=[{"role": "user", "content": task}])
    assert said.choices[0].message.content == '{"title": "Weather chat"}'
    assert len(chats(received)) == 1  # one call: no search, no team, no memory
    assert store.last_messages(5) == []  # not a turn of the conversation
