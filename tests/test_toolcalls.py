"""Tool calls for models without native function calling: schema, parsing, rescue, repeats."""

import json

import pytest
from autogen_core import FunctionCall
from autogen_core.models import (
    AssistantMessage,
    FunctionExecutionResult,
    FunctionExecutionResultMessage,
    UserMessage,
)

from society.models.turns import Turn, in_turn
from society.storage.store import Store
from society.toolcalls import grounding, protocol
from society.toolcalls import schema as tool_schema
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
    schema = protocol.call_schema(TOOLS)
    names = [option["properties"]["tool"]["const"] for option in schema["anyOf"]]
    assert names == ["write_file", "answer"]
    assert protocol.call_schema(TOOLS, allow_answer=False)["anyOf"][0]["required"] == ["tool", "arguments"]


def test_parse_accepts_valid_calls_and_answers_and_rejects_the_rest():
    calls, valid = protocol.parse('{"tool": "write_file", "arguments": {"path": "a", "content": "b"}}', TOOLS, False)
    assert valid and calls[0].name == "write_file" and json.loads(calls[0].arguments) == {"path": "a", "content": "b"}
    assert protocol.parse('{"tool": "answer", "arguments": {"text": "hi"}}', TOOLS, False) == ("hi", True)
    assert protocol.parse('{"tool": "rm_rf", "arguments": {}}', TOOLS, False)[1] is False
    assert protocol.parse('{"tool": "write_file", "arguments": {"path": 3}}', TOOLS, False)[1] is False
    assert protocol.parse("I would call write_file now", TOOLS, False) == ("I would call write_file now", False)


def test_output_cut_by_the_token_limit_is_closed_when_constrained():
    cut = '{"tool": "write_file", "arguments": {"path": "a.txt", "content": "a long text that was cu'
    assert protocol.parse(cut, TOOLS, repair=False)[1] is False
    calls, valid = protocol.parse(cut, TOOLS, repair=True)
    assert valid and json.loads(calls[0].arguments)["path"] == "a.txt"


def made(name: str, arguments: str, result: str) -> list:
    """A turn's history in which tool `name` was called once and returned `result`."""
    return [
        AssistantMessage(content=[FunctionCall(id="1", name=name, arguments=arguments)], source="executor"),
        FunctionExecutionResultMessage(content=[FunctionExecutionResult(content=result, name=name, call_id="1")]),
    ]


@pytest.mark.parametrize(
    ("answered", "name", "made_with", "result", "again", "other"),
    [
        # A call repeated (its arguments in any order) answers with the result it already got.
        (protocol.repeated_result, "write_file", '{"path": "a", "content": "b"}', "wrote 1 bytes to a",
         '{"content": "b", "path": "a"}', '{"path": "c", "content": "b"}'),
        # A call that would undo this turn's edit answers with the edit.
        (protocol.undone_result, "edit_file", '{"path": "a", "old_text": "hello", "new_text": "bye"}',
         "replaced 1 occurrence in a", '{"path": "a", "old_text": "bye", "new_text": "hello"}',
         '{"path": "a", "old_text": "cat", "new_text": "dog"}'),
    ],
)  # fmt: skip
def test_a_call_already_answered_this_turn_is_answered_again(answered, name, made_with, result, again, other):
    history = made(name, made_with, result)
    assert answered(history, [FunctionCall(id="2", name=name, arguments=again)]) == result
    assert answered(history, [FunctionCall(id="3", name=name, arguments=other)]) is None


async def test_a_model_without_native_calls_is_constrained_and_its_reply_becomes_a_call():
    reply = '{"tool": "write_file", "arguments": {"path": "a.txt", "content": "hi"}}'
    gate, client = scripted_gate([reply], Store())
    with in_turn(Turn()) as turn:
        result = await gate.create("executor", [AssistantMessage(content="go", source="user")], tools=TOOLS)
    assert isinstance(result.content, list) and result.content[0].name == "write_file"
    sent = client.create_calls[0]
    assert sent["tools"] == []  # the client never sees native tools
    schema = sent["extra_create_args"]["response_format"]["json_schema"]["schema"]
    assert schema == protocol.call_schema(TOOLS)
    assert "write_file(path: string, content: string)" in sent["messages"][-2].content
    assert turn.calls["executor"].valid_tool_reply is True


async def test_a_native_model_printing_a_call_as_text_gets_it_made():
    from society.models.config import ModelEntry

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
    edit_grounding = grounding.Grounding(
        properties={"path": {"const": "notes.txt"}, "old_text": {"enum": ["Hello", "world"]}},
        note="notes.txt contains: Hello world",
    )
    seen = []
    grounders = {"edit_file": lambda arguments, request: seen.append((arguments, request)) or edit_grounding}
    gate, client = scripted_gate([first, second], Store(), grounders=grounders)
    request = UserMessage(content="in notes.txt change hello to goodbye", source="user")
    result = await gate.create("executor", [request], tools=[edit])
    assert json.loads(result.content[0].arguments)["old_text"] == "Hello"
    assert seen == [({"path": "a.txt", "old_text": "cat", "new_text": "dog"}, request.content)]
    retry = client.create_calls[1]
    schema = retry["extra_create_args"]["response_format"]["json_schema"]["schema"]
    assert schema == protocol.grounded_schema(edit, edit_grounding)
    assert schema["anyOf"][0]["properties"]["arguments"]["properties"]["old_text"] == {"enum": ["Hello", "world"]}
    assert retry["messages"][-2].content == "notes.txt contains: Hello world"
    assert len(schema["anyOf"]) == 1  # the retry must be the call: no answer, no other tool


async def test_a_grounding_that_leaves_one_value_is_written_in_without_asking_again():
    required = ["amount", "from_currency", "to_currency"]
    convert = {"name": "convert", "parameters": {"type": "object", "required": required,
               "properties": {"amount": {"type": "number"}, "from_currency": {"type": "string"},
                              "to_currency": {"type": "string"}}}}  # fmt: skip
    first = '{"tool": "convert", "arguments": {"amount": 20, "from_currency": "USD", "to_currency": "JPY"}}'
    gate, client = scripted_gate([first], Store())
    with in_turn(Turn()):
        request = UserMessage(content="How much is 20 GBP in JPY?", source="user")
        result = await gate.create("executor", [request], tools=[convert])
    assert json.loads(result.content[0].arguments) == {"amount": 20, "from_currency": "GBP", "to_currency": "JPY"}
    assert len(client.create_calls) == 1  # the one span left was not asked for
    one = {"type": "array", "items": {"enum": ["travel"]}, "minItems": 1}
    assert grounding.settled({"note_id": {"const": 7}, "tags": one}) == {"note_id": 7, "tags": ["travel"]}
    assert grounding.settled({"tags": {**one, "minItems": 0}}) is None  # [] is a choice too
    assert grounding.settled({"city": {"enum": ["Paris", "Lyon"]}}) is None
    place = {"type": "object", "properties": {"city": {"enum": ["Oslo"]}}, "required": ["city"]}
    assert grounding.settled({"where": place}) == {"where": {"city": "Oslo"}}
    assert grounding.settled({"where": {**place, "required": []}}) is None  # may be left out


def test_a_parameter_of_no_declared_shape_still_gets_a_grammar():
    """pydantic writes `Any` as {"title": ...}; llama.cpp's grammar builder rejected it and
    llama-cpp-python silently let any JSON through for the whole turn."""
    from society.models.backends.llama_cpp.grammar import grammar_problem

    params = {"type": "object", "properties": {"value": {"title": "Value"}}, "required": ["value"]}
    tool = {"name": "set", "description": "Set a value.", "parameters": params}
    assert "Unrecognized schema" in grammar_problem(tool["parameters"])
    assert grammar_problem(protocol.call_schema([tool])) is None
    assert tool_schema.normalised(tool["parameters"])["properties"]["value"]["type"] == ["string", "number", "boolean"]


def test_strings_and_arrays_are_bounded_and_quoted_choices_become_an_enum():
    params = tool_schema.normalised(
        {
            "type": "object",
            "properties": {
                "tags": {"type": "array", "items": {"type": "string"}},
                "unit": {"type": "string", "description": 'The unit: "celsius" or "fahrenheit".'},
                "city": {"type": "string", "description": 'A city, e.g. "Paris"'},
                "content": {"type": "string"},
                "order": {"type": "string", "description": "one of 'asc', 'desc', 'none'"},
            },
            "required": ["tags", "city"],
        }
    )
    props = params["properties"]
    assert list(props) == ["city", "tags", "unit", "content", "order"]  # required scalars, arrays, then optional
    assert props["unit"]["enum"] == ["celsius", "fahrenheit"] and props["order"]["enum"] == ["asc", "desc", "none"]
    assert "enum" not in props["city"] and props["city"]["maxLength"] == tool_schema.MAX_STRING  # an example
    assert "maxLength" not in props["content"]  # meant to be long
    assert props["tags"]["maxItems"] == tool_schema.MAX_ITEMS and props["tags"]["items"]["maxLength"] > 0


def test_text_a_tool_passes_on_is_bounded_by_the_request_and_file_content_is_not():
    """A 135M model repeating itself in a Japanese reminder wrote on to the token limit; a
    message is mostly the request's words, so the request's length bounds it."""
    from society.models.backends.llama_cpp.grammar import grammar_problem

    note = {"type": "object", "properties": {"text": {"type": "string"}}}
    tool = {"name": "remind", "description": "Set a reminder.", "parameters": {"type": "object", "properties": {
        "message": {"type": "string"}, "content": {"type": "string"},
        "notes": {"type": "array", "items": note}}}}  # fmt: skip

    def arguments(request: str = "") -> dict:
        return protocol.call_schema([tool], request=request)["anyOf"][0]["properties"]["arguments"]["properties"]

    def bounds(request: str) -> dict:
        props = arguments(request)
        return {"message": props["message"].get("maxLength"), "content": props["content"].get("maxLength"),
                "note": props["notes"]["items"]["properties"]["text"].get("maxLength")}  # fmt: skip

    assert bounds("3時間後に洗濯物を取り込むとリマインドして") == {"message": 100, "content": None, "note": 100}
    assert bounds("x" * 300)["message"] == 600
    assert bounds("x" * 5000)["message"] == tool_schema.MESSAGE_CEILING
    assert "maxLength" not in arguments()["message"]
    assert grammar_problem(protocol.call_schema([tool], request="x" * 5000)) is None


def test_the_tool_list_shows_choices_defaults_and_what_each_parameter_is():
    tool = {"name": "get_weather", "description": "Weather for a city.",
            "parameters": {"type": "object", "required": ["city"], "properties": {
                "city": {"type": "string", "description": "The city name"},
                "unit": {"type": "string", "enum": ["celsius", "fahrenheit"], "default": "celsius"},
                "days": {"type": "integer", "description": "How many days ahead, " + "very " * 30}}}}  # fmt: skip
    line = protocol.instructions([tool]).splitlines()[1]
    assert "city: string (The city name)" in line
    assert 'unit: "celsius"|"fahrenheit" (optional; default "celsius")' in line
    assert "days: integer (optional; How many days ahead, very" in line and "…" in line


async def test_a_request_a_tool_matches_must_call_a_tool_first():
    reply = '{"tool": "write_file", "arguments": {"path": "a.txt", "content": "hi"}}'
    gate, client = scripted_gate([reply, reply], Store())
    with in_turn(Turn()):
        await gate.create("executor", [UserMessage(content="Create a file a.txt with hi", source="user")], tools=TOOLS)
        await gate.create("executor", [UserMessage(content="Thanks!", source="user")], tools=TOOLS)
    matched, unmatched = (
        c["extra_create_args"]["response_format"]["json_schema"]["schema"] for c in client.create_calls
    )
    assert [o["properties"]["tool"]["const"] for o in matched["anyOf"]] == ["write_file"]  # no `answer` to take
    assert [o["properties"]["tool"]["const"] for o in unmatched["anyOf"]] == ["write_file", "answer"]


def test_numbers_the_model_cut_short_are_put_back_as_stated():
    assert grounding.request_numbers("2,000,000 people, 213 million users, 1.5k, 3万円, twenty-five") == [
        2_000_000,
        213_000_000,
        1500,
        30_000,
        25,
    ]
    tool = {"name": "t", "parameters": {"type": "object", "properties": {"n": {"type": "integer"}}}}
    assert grounding.with_stated_numbers({"n": 2}, tool, "The city has 2,000,000 people") == {"n": 2_000_000}
    assert grounding.with_stated_numbers({"n": 213}, tool, "about 213 million users") == {"n": 213_000_000}
    assert grounding.with_stated_numbers({"n": 12}, tool, "I have 12 apples") == {"n": 12}  # as stated
    assert grounding.with_stated_numbers({"n": 5}, tool, "a room 5m wide") == {"n": 5}  # metres, not millions


def test_a_stated_number_no_argument_holds_goes_to_the_one_optional_number_left_out():
    flight = {"name": "book_flight", "parameters": {"type": "object", "required": ["origin", "date"], "properties": {
        "origin": {"type": "string"}, "date": {"type": "string"},
        "passengers": {"type": "integer", "default": 1}}}}  # fmt: skip
    call = {"origin": "Tokyo", "date": "2027-01-10"}
    assert grounding.with_unused_number(call, flight, "I need 3 seats from Tokyo on 2027-01-10.") == {
        **call, "passengers": 3}  # fmt: skip
    assert grounding.with_unused_number(call, flight, "two seats from Tokyo on 2027-01-10") == {**call, "passengers": 2}
    assert grounding.with_unused_number(call, flight, "A flight from Tokyo on 2027-01-10.") == call  # none stated
    assert grounding.with_unused_number(call, flight, "3 or 4 seats from Tokyo") == call  # which one: a guess
    assert grounding.with_unused_number(call, flight, "1.5 seats from Tokyo") == call  # not an integer
    flight["parameters"]["properties"]["passengers"]["maximum"] = 9
    assert grounding.with_unused_number(call, flight, "12 seats from Tokyo") == call  # out of its bounds
    room = {**call, "origin": "Terminal 2"}
    assert grounding.with_unused_number(room, flight, "from Terminal 2 on 2027-01-10") == room  # 2 is held
    both = {"name": "t", "parameters": {"type": "object", "properties": {
        "adults": {"type": "integer"}, "children": {"type": "integer"}}}}  # fmt: skip
    assert grounding.with_unused_number({}, both, "for 3 people") == {}  # two could take it


def test_string_arguments_are_held_to_the_request_and_unasked_options_left_out():
    tool = {"name": "find_hotels", "parameters": {"type": "object", "required": ["location"], "properties": {
        "location": {"type": "string"}, "sort": {"type": "string"}, "unit": {"type": "string", "enum": ["c", "f"]},
        "limit": {"type": "integer", "default": 10}}}}  # fmt: skip
    slip = {"location": "Manchester", "sort": "price", "limit": 5}
    assert grounding.grounded_arguments(slip, tool, "Find hotels in Manhattan") == {"location": "Manhattan"}
    asked = {"location": "Manhattan", "sort": "rating", "limit": 3}
    assert grounding.grounded_arguments(asked, tool, "Find 3 hotels in Manhattan sorted by rating") == asked
    # A required name in another language stays; a choice the request does not make is left out.
    assert grounding.grounded_arguments({"location": "Tokyo", "unit": "c"}, tool, "東京のホテル") == {
        "location": "Tokyo"
    }
    # The choice the request makes is taken, also when the model left it out or took another.
    assert grounding.grounded_arguments({"location": "Paris", "unit": "c"}, tool, "Paris hotels, in f") == {
        "location": "Paris", "unit": "f"}  # fmt: skip
    assert grounding.grounded_arguments({"location": "Paris"}, tool, "Paris hotels, in f") == {
        "location": "Paris", "unit": "f"}  # fmt: skip
    # An optional string that is another argument's value, or most of the request, is no answer.
    timer = {"name": "set_timer", "parameters": {"type": "object", "required": ["minutes"], "properties": {
        "minutes": {"type": "integer"}, "label": {"type": "string"}}}}  # fmt: skip
    said = "Set a timer for 10 minutes"
    assert grounding.grounded_arguments({"minutes": 10, "label": "10 minutes"}, timer, said) == {"minutes": 10}
    assert grounding.grounded_arguments({"minutes": 5, "label": "tea"}, timer, "A 5 minute timer called tea") == {
        "minutes": 5, "label": "tea"}  # fmt: skip
    # A list of numbers is the numbers the request states; a date's digits are not numbers.
    adder = {"name": "add", "parameters": {"type": "object", "required": ["numbers"], "properties": {
        "numbers": {"type": "array", "items": {"type": "number"}}}}}  # fmt: skip
    assert grounding.grounded_arguments({"numbers": [1, 2, 3, 5, 9]}, adder, "Add up 3, 5 and 9") == {
        "numbers": [3, 5, 9]
    }
    assert grounding.request_numbers("on 2026-12-20 at 10:30, 3 people") == [3.0]


def test_a_request_whose_words_name_no_tool_is_matched_by_meaning():
    tools = [
        {"name": "get_weather", "description": "Get the current weather for a location.", "parameters": {}},
        {"name": "create_event", "description": "Create a calendar event.", "parameters": {}},
        {"name": "play_music", "description": "Play music by an artist.", "parameters": {}},
    ]
    assert protocol.narrowed(tools, "東京の天気は？") == ([tools[0]], True)
    assert protocol.narrowed(tools, "Play some Adele.") == ([tools[2]], True)  # by words
    assert protocol.narrowed(tools, "Explain recursion simply.") == (tools, False)  # a chat, not a call


def test_a_request_giving_the_values_a_tool_takes_is_matched_nearer_than_by_meaning_alone():
    """The three calls the 135M model did not make on the test half: Japanese requests whose
    words name no tool and whose meaning was 0.20-0.28 from it (the bar: 0.3)."""
    remind = {"name": "set_reminder", "description": "Set a reminder some hours from now.", "parameters": {
        "type": "object", "required": ["hours", "message"], "properties": {
            "hours": {"type": "integer"},
            "message": {"type": "string", "description": "What to be reminded of."}}}}  # fmt: skip
    invite = {"name": "invite_guests", "description": "Send invitations to a list of email addresses.",
              "parameters": {"type": "object", "required": ["emails", "event_name"], "properties": {
                  "emails": {"type": "array", "items": {"type": "string"}, "description": "Email addresses."},
                  "event_name": {"type": "string"}}}}  # fmt: skip
    assert protocol.narrowed([remind], "4時間後に「会議の準備」と知らせて。") == ([remind], True)
    assert protocol.narrowed([invite], "研修にsato@corp.jpを招待して。") == ([invite], True)
    assert not protocol.gives_values(remind, "「会議の準備」と知らせて。")  # no number for the hours
    assert not protocol.gives_values(invite, "研修に佐藤さんを招待して。")  # no address
    for chat in ("Explain recursion simply.", "ありがとう！", "I have 3 cats and a dog."):
        assert protocol.narrowed([remind, invite], chat) == ([remind, invite], False)


def test_a_name_the_request_does_not_give_is_chosen_again_from_its_own_words():
    flight = {"name": "book_flight", "parameters": {"type": "object", "required": ["origin", "destination"],
              "properties": {"origin": {"type": "string"}, "destination": {"type": "string"},
                             "tags": {"type": "array", "items": {"type": "string"}}}}}  # fmt: skip
    request = "Book a flight from Sydney to Perth"
    fine = {"origin": "Sydney", "destination": "Perth"}
    assert grounding.span_grounding(fine, flight, request) is None
    twice = grounding.span_grounding({"origin": "Sydney", "destination": "Sydney"}, flight, request)
    assert twice.properties["origin"] == {"const": "Sydney"}  # held: only the loose one is asked again
    assert "Perth" in twice.properties["destination"]["enum"]
    assert "Sydney" not in twice.properties["destination"]["enum"]  # taken by the origin
    assert all(not s.lower().startswith(("to ", "a ")) for s in twice.properties["destination"]["enum"])
    japanese = grounding.span_grounding({"origin": "Taiwan", "destination": "那覇"}, flight, "東京から那覇への便")
    assert "東京" in japanese.properties["origin"]["enum"] and "から那覇" not in japanese.properties["origin"]["enum"]
    # A value built on the request's words is the model's knowledge, not a slip: kept.
    clock = {"name": "time", "parameters": {"type": "object", "required": ["timezone"], "properties": {
        "timezone": {"type": "string"}}}}  # fmt: skip
    assert grounding.span_grounding({"timezone": "Asia/Tokyo"}, clock, "What time is it in Tokyo?") is None
    assert grounding.span_grounding({"timezone": "Tokyo-Tokyo"}, clock, "What time is it in Tokyo?") is not None
    assert grounding.directed({"origin": "Perth", "destination": "Sydney"}, request) == fine
    assert grounding.directed({"from_currency": "USD", "to_currency": "JPY"}, "2,000 JPY in USD") == {
        "from_currency": "JPY", "to_currency": "USD"}  # fmt: skip


async def test_a_call_that_slipped_from_the_request_is_sent_as_the_request_says():
    reply = '{"tool": "write_file", "arguments": {"path": "notse.txt", "content": "hi"}}'
    gate, _ = scripted_gate([reply], Store())
    with in_turn(Turn()):
        request = [UserMessage(content="Create the file notes.txt with hi", source="user")]
        result = await gate.create("executor", request, tools=TOOLS)
    assert json.loads(result.content[0].arguments) == {"path": "notes.txt", "content": "hi"}


ROUTE = {"name": "plan_route", "description": "Plan a driving route.", "parameters": {"type": "object",
         "required": ["origin", "destination"], "properties": {
             "origin": {"type": "string"}, "destination": {"type": "string"},
             "year": {"type": "string", "description": "the map year"},
             "units": {"type": "string", "enum": ["km", "miles"]},
             "avoid_tolls": {"type": "boolean"}, "detail_level": {"type": "string"}}}}  # fmt: skip


def test_the_holding_never_rewrites_what_the_request_says_nor_drops_a_chosen_option():
    """Measured on a 0.5B model: the holding turned right values wrong ("Boston, MA" ->
    "Boston", "2022" -> "if") and dropped right optional arguments. A value the request holds
    verbatim, a valid schema value and an optional argument the model chose stay as chosen."""
    params = ROUTE["parameters"]
    request = "Route from Boston, MA to New York in the 2022 maps, in miles, avoiding tolls, brief detail"
    chosen = {"origin": "Boston, MA", "destination": "New York", "year": "2022", "units": "miles",
              "avoid_tolls": True, "detail_level": "brief"}  # fmt: skip
    held = {"origin": "Boston", "destination": "New York", "year": "if", "units": "km"}  # a holding gone wrong
    assert grounding.kept_as_chosen(chosen, held, params, request) == chosen
    # What it may still mend: a name the request does not hold, a value taken twice.
    slip = {"origin": "Bostn", "destination": "New York"}
    mended = {"origin": "Boston", "destination": "New York"}
    assert grounding.kept_as_chosen(slip, mended, params, request) == mended
    twice = {"origin": "New York", "destination": "New York"}
    fixed = {"origin": "Boston, MA", "destination": "New York"}
    assert grounding.kept_as_chosen(twice, fixed, params, request) == fixed
    # An optional value that breaks its schema is not put back; what the holding added stays.
    wrong = {"origin": "Boston, MA", "destination": "New York", "units": "furlongs"}
    added = {"origin": "Boston, MA", "destination": "New York", "avoid_tolls": True}
    assert grounding.kept_as_chosen(wrong, added, params, request) == added
    # The request's own words are never asked for again (no regrounding retry for them).
    assert grounding.span_grounding(chosen, ROUTE, request) is None


async def test_the_final_call_keeps_the_models_own_right_values_on_every_backend():
    from society.models.config import ModelEntry

    request = "Route from Boston, MA to New York, avoiding tolls"
    call = {"origin": "Boston, MA", "destination": "New York", "avoid_tolls": True, "detail_level": "full"}
    for backend, reply in (
        ("llama_cpp", json.dumps({"tool": "plan_route", "arguments": call})),  # the text protocol
        ("openai", json.dumps({"name": "plan_route", "arguments": call})),  # a native model printing it
    ):
        gate, client = scripted_gate([reply], Store())
        gate.entries = [replace_backend(gate.entries[0], backend, ModelEntry)]
        with in_turn(Turn()) as turn:
            result = await gate.create("executor", [UserMessage(content=request, source="user")], tools=[ROUTE])
        assert json.loads(result.content[0].arguments) == call, backend
        assert turn.calls["executor"].first_calls[0].name == "plan_route"
        assert request in str(client.create_calls[0]["messages"][-1].content)  # what the model was asked


def replace_backend(entry, backend, model_entry):
    from dataclasses import replace

    extra = {"base_url": "http://x.invalid", "abilities": ("tools",)} if backend == "openai" else {}
    return replace(entry, backend=backend, **extra)


def test_the_holding_may_still_put_a_swapped_pair_the_way_the_request_says_and_mend_a_cut_number():
    convert = {"type": "object", "required": ["amount", "from_currency", "to_currency"],
               "properties": {"amount": {"type": "number"}, "from_currency": {"type": "string"},
                              "to_currency": {"type": "string"}}}  # fmt: skip
    request = "How much is 2,000,000 JPY in USD?"
    chosen = {"amount": 2, "from_currency": "USD", "to_currency": "JPY"}
    held = {"amount": 2_000_000, "from_currency": "JPY", "to_currency": "USD"}
    assert grounding.kept_as_chosen(chosen, held, convert, request) == held


def test_a_number_written_with_its_unit_is_the_requests_own():
    bmi = {"type": "object", "required": ["weight_kg", "height_m"],
           "properties": {"weight_kg": {"type": "number"}, "height_m": {"type": "number"}}}  # fmt: skip
    chosen = {"weight_kg": 55, "height_m": 1.6}
    assert (
        grounding.kept_as_chosen(chosen, {"weight_kg": 55, "height_m": 1.0}, bmi, "体重55kg、身長1.6mのBMIは？")
        == chosen
    )
