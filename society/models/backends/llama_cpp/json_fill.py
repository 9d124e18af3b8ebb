"""Output held to a JSON schema, written the way a form is filled: the fixed parts by this
code, only what is open by the model.

A tool call held to its schema by one grammar spends most of its tokens on text the grammar
leaves no choice about: in `{"tool": "get_air_quality", "arguments": {"city": "Delhi"}}`
everything but `Delhi"` is fixed, and each fixed token still costs a full step of the model
(8-13 ms on 2 cores). Here the fixed text is appended to the prompt, which llama.cpp reads in
one batch (about 3 ms a token), and the model is asked only what is open: which of the
schema's options (a tool, a choice, whether an optional argument follows), and each value,
under the grammar of that value's own schema (llama.cpp's converter). An answer with a fixed
value (an argument the grounding retry holds) costs nothing. A choice ends as soon as the
tokens so far fit one option, a string at its closing quote.

Objects are written in the order llama.cpp's own grammar gives them (required properties in
order, then optional ones in order, any of them left out), so what comes out is what the
whole-schema grammar would allow. A schema of another shape is generated under its grammar
whole, as before.

Used where most of the reply is fixed: the grounding retry of a tool call, which holds every
argument but the loose one (society/toolcalls/client.py). A first call filled this way came out worse
(development cases 83.8 % -> 68.8 %; with only the tool written and the arguments generated
whole, 85.0 % -> 73.8 % at half the time): SmolLM2-135M answers better after its own tokens
than after the same text tokenized afresh; it dropped optional arguments and made up numbers.
So first calls are generated whole.
"""

from __future__ import annotations

import functools
import json
import os
import threading
import time
from dataclasses import dataclass
from typing import Any

FILL = "fill_fixed_parts"  # the create arg asking the embedded client to fill (clients.output_schema_args)
ENDS = ",}]"  # what may follow a value within JSON: written by the model, then taken off


@dataclass
class Filled:
    text: str
    completion_tokens: int
    finish: str  # "stop", "length" (out of tokens: the text is cut off) or "unknown" (stopped)
    first_at: float | None = None  # time.perf_counter() when the model gave its first token


class _Out(Exception):
    def __init__(self, finish: str):
        self.finish = finish


def _is_object(schema: Any) -> bool:
    return (
        isinstance(schema, dict)
        and schema.get("type", "object") == "object"
        and isinstance(schema.get("properties"), dict)
        and not ({"anyOf", "oneOf", "allOf", "$ref", "enum", "const"} & schema.keys())
        and schema.get("additionalProperties") in (None, False)
    )


def _discriminator(options: list[Any]) -> str | None:
    """The property every option of an anyOf fixes to a distinct constant (a call's tool)."""
    if not options or not all(_is_object(option) for option in options):
        return None
    for key in options[0]["properties"]:
        values = [option["properties"].get(key, {}).get("const") for option in options]
        required = all(key in option.get("required", []) for option in options)
        if required and None not in values and len({json.dumps(v) for v in values}) == len(values):
            return key
    return None


def fillable(schema: Any) -> bool:
    """Whether `schema` has fixed parts to write: an object, or options told apart by a constant."""
    return _is_object(schema) or (
        isinstance(schema, dict) and set(schema) == {"anyOf"} and _discriminator(schema["anyOf"]) is not None
    )


def chat_prompt(llm: Any, messages: list[dict[str, str]]) -> list[int] | None:
    """The tokens llama-cpp-python's chat completion would read for `messages`, up to where
    the assistant's reply begins (the model's own chat template); None without a template."""
    formatter = _chat_formatter(llm)
    if formatter is None:
        return None
    result = formatter(messages=messages)
    return llm.tokenize(result.prompt.encode("utf-8"), add_bos=not result.added_special, special=True)


def tail_start(llm: Any, messages: list[dict[str, str]], last: int) -> int | None:
    """How many tokens of chat_prompt(messages) come before its `last` messages (one fewer,
    in case the tokens at the seam merge); None without a chat template."""
    formatter = _chat_formatter(llm)
    if formatter is None:
        return None
    if len(messages) <= last:
        return 0
    whole, before = formatter(messages=messages), formatter(messages=messages[:-last])
    common = os.path.commonprefix([whole.prompt, before.prompt])
    tokens = llm.tokenize(common.encode("utf-8"), add_bos=not whole.added_special, special=True)  # as chat_prompt
    return max(0, len(tokens) - 1)


def _chat_formatter(llm: Any) -> Any | None:
    template = llm.metadata.get("tokenizer.chat_template")
    if not template:
        return None
    eos, bos = llm.token_eos(), llm.token_bos()
    return _formatter(
        template,
        llm._model.token_get_text(eos) if eos != -1 else "",
        llm._model.token_get_text(bos) if bos != -1 else "",
        eos,
    )


@functools.cache
def _formatter(template: str, eos: str, bos: str, eos_id: int) -> Any:
    """The chat template compiled once (Jinja compiles it anew for each formatter)."""
    from llama_cpp.llama_chat_format import Jinja2ChatFormatter

    return Jinja2ChatFormatter(template=template, eos_token=eos, bos_token=bos, stop_token_ids=[eos_id])


def _literal(text: str) -> str:
    """`text` as a GBNF string literal (quotes and backslashes escaped, control characters as
    \\xHH; GBNF knows fewer escapes than JSON)."""
    escaped = "".join(
        "\\" + c if c in '"\\' else f"\\x{ord(c):02x}" if ord(c) < 0x20 or c == "\x7f" else c for c in text
    )
    return f'"{escaped}"'


class _Form:
    def __init__(self, llm: Any, prompt: list[int], max_tokens: int, stop: threading.Event):
        self.llm = llm
        self.prompt = prompt
        self.text = ""
        self.left = max_tokens
        self.generated = 0
        self.stop = stop
        self.first_at: float | None = None

    def write(self, text: str) -> None:
        self.text += text

    def _ask(self, grammar: str, done: Any) -> str:
        """What the model writes next under `grammar` (GBNF), up to where `done(text)` says
        it is complete or the grammar ends."""
        from llama_cpp import LlamaGrammar

        if self.stop.is_set():
            raise _Out("unknown")
        if self.left <= 0:
            raise _Out("length")
        tokens = self.prompt + self.llm.tokenize(self.text.encode("utf-8"), add_bos=False, special=False)
        said = ""
        finish = None
        pieces = self.llm.create_completion(
            tokens,
            max_tokens=self.left,
            temperature=0.0,
            grammar=LlamaGrammar.from_string(grammar, verbose=False),
            stream=True,
        )
        try:
            for chunk in pieces:
                choice = chunk["choices"][0]
                if choice["text"]:
                    self.first_at = self.first_at or time.perf_counter()
                    said += choice["text"]
                    self.generated += 1
                    self.left -= 1
                finish = choice.get("finish_reason")
                if self.stop.is_set():
                    raise _Out("unknown")
                if done(said):
                    break
        finally:
            pieces.close()
        self.write(said)
        if finish == "length" and not done(said):
            raise _Out("length")
        return said

    def choose(self, options: list[str]) -> int:
        """The index of the option the model writes (each option a piece of JSON text, which
        the model may begin with a space)."""
        if len(options) == 1:
            self.write(options[0])
            return 0

        def fitting(said: str) -> list[int]:
            text = said.lstrip(" ")
            return [i for i, o in enumerate(options) if o.startswith(text) or text.startswith(o)]

        grammar = 'root ::= " "? (' + " | ".join(_literal(option) for option in options) + ")"
        said = self._ask(grammar, lambda said: bool(said.strip(" ")) and len(fitting(said)) == 1)
        text = said.lstrip(" ")
        chosen = max(fitting(said), key=lambda i: (text.startswith(options[i]), -len(options[i])))
        self.write(options[chosen][len(text) :])  # the rest of the chosen option, read, not generated
        return chosen

    def value(self, schema: Any) -> None:
        if isinstance(schema, dict) and "const" in schema:
            self.write(" " + json.dumps(schema["const"], ensure_ascii=False))
        elif isinstance(schema, dict) and isinstance(schema.get("enum"), list) and schema["enum"]:
            self.choose([json.dumps(v, ensure_ascii=False) for v in schema["enum"]])
        elif _is_object(schema):
            self.object(schema)
        elif isinstance(schema, dict) and set(schema) == {"anyOf"} and (key := _discriminator(schema["anyOf"])):
            options = schema["anyOf"]
            self.write("{" + json.dumps(key) + ":")
            chosen = self.choose([json.dumps(o["properties"][key]["const"], ensure_ascii=False) for o in options])
            self.object(options[chosen], skip=key)
        else:
            self._whole(schema)

    def _whole(self, schema: Any) -> None:
        """A value generated under its schema's whole grammar and followed by what may follow
        it in JSON (a comma or a closing bracket): a number must end somewhere, and a small
        model ends it the way it would in the whole call, not by stopping. The follower is
        taken off again; a string ends at its closing quote."""
        from llama_cpp.llama_grammar import json_schema_to_gbnf

        rules = json_schema_to_gbnf(json.dumps(schema)).replace("root ::=", "filled-value ::=", 1)
        grammar = rules + '\nroot ::= " "? filled-value " "? [,}\\]]\n'  # ENDS
        said = self._ask(grammar, lambda said: _closed_string(said) or _ended(said) is not None)
        value = _ended(said)
        lead = " " if said.startswith(" ") else ""
        self.text = self.text[: len(self.text) - len(said)] + lead + (value if value is not None else said.strip())

    def object(self, schema: dict[str, Any], skip: str | None = None) -> None:
        """The object's keys written and its values asked for; `skip`: a key already written
        (then the object is open already)."""
        properties = schema["properties"]
        required = set(schema.get("required", []))
        keys = [k for k in properties if k != skip]
        first = skip is None
        if first:
            self.write("{")
        for key in [k for k in keys if k in required]:
            # Never a space at the end of what is written: the model writes ` "` as one token,
            # and after a lone space it lost its way (`"to_currency": "}}` and prose).
            self.write(("" if first else ", ") + json.dumps(key, ensure_ascii=False) + ":")
            self.value(properties[key])
            first = False
        optional = [k for k in keys if k not in required]
        while optional:
            lead = "" if first else ", "
            chosen = self.choose(["}"] + [lead + json.dumps(k, ensure_ascii=False) + ":" for k in optional])
            if chosen == 0:
                return
            self.value(properties[optional[chosen - 1]])
            optional = optional[chosen:]
            first = False
        self.write("}")


def _closed_string(said: str) -> bool:
    """Whether `said` holds a whole JSON string."""
    text = said.strip()
    if len(text) < 2 or not text.startswith('"') or not text.endswith('"'):
        return False
    try:
        json.loads(text)
    except ValueError:
        return False
    return True


def _ended(said: str) -> str | None:
    """The value in `said` when it is a whole JSON value followed by one of ENDS, else None."""
    text = said.rstrip()
    if not text or text[-1] not in ENDS:
        return None
    value = text[:-1].strip()
    try:
        json.loads(value)
    except ValueError:
        return None
    return value


def fill(llm: Any, prompt: list[int], schema: Any, max_tokens: int, stop: threading.Event) -> Filled:
    """The reply to `prompt` held to `schema` (fillable), its fixed parts written here."""
    from society.models.backends.llama_cpp import kv_reuse

    form = _Form(llm, prompt, max_tokens, stop)
    kv_reuse.resume(llm, prompt)  # what generate() looks up in the cache, once for all pieces
    cache, llm.cache = llm.cache, None  # no state saved after every piece; once at the end
    try:
        form.value(schema)
        finish = "stop"
    except _Out as out:
        finish = out.finish
    finally:
        llm.cache = cache
    if finish == "stop":
        kv_reuse.remember(llm)
    return Filled(form.text, form.generated, finish, form.first_at)
