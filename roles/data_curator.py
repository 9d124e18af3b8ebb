"""Data curator: creates, edits, labels and exports tuning data.

The data curator's tools over the tuning datasets (training/datasets.py).
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Annotated, Literal

from roles.base import Kit, RoleSpec
from society.tools import as_tool

if TYPE_CHECKING:
    from society.tools.toolbox import Toolbox
    from training.datasets import Examples


def data_tools(examples: Examples) -> list:
    async def add_example(
        message_id: Annotated[int, "the answer's message number; 0 for the last answer"] = 0,
        good: Annotated[bool | None, "true or false to label the answer good or bad; leave out for plain"] = None,
    ) -> str:
        """Add an answer of the conversation to the tuning data.
        Example: "add the last answer to the dataset" -> {"message_id": 0} (データセットに追加)
        """
        made = await asyncio.to_thread(examples.from_message, message_id or None, "sft", good)
        if good is not None and made.label is None:
            made = await asyncio.to_thread(examples.label, made.id, good)
        return f"added {made.line()}"

    async def add_pair(
        chosen_id: Annotated[int, "message number of the better answer"],
        rejected_id: Annotated[int, "message number of the worse answer"],
    ) -> str:
        """Add a preference pair: two answers to the same request, the better first."""
        made = await asyncio.to_thread(examples.pair_from_messages, chosen_id, rejected_id)
        return f"added {made.line()}"

    async def edit_example(
        example_id: Annotated[int, "the example's number"],
        completion: Annotated[str, "the corrected answer"],
    ) -> str:
        """Correct an example's answer.
        Example: "fix example 3 to say Paris" -> {"example_id": 3, "completion": "Paris"} (修正)
        """
        return f"edited {(await asyncio.to_thread(examples.edit, example_id, completion)).line()}"

    async def label_example(
        example_id: Annotated[int, "the example's number"],
        good: Annotated[bool, "true for a good answer, false for a bad one"],
    ) -> str:
        """Label an example's answer good or bad. Example: "example 2 is wrong" -> {"example_id": 2, "good": false}"""
        return f"labelled {(await asyncio.to_thread(examples.label, example_id, good)).line()}"

    async def delete_example(example_id: Annotated[int, "the example's number"]) -> str:
        """Delete an example from the tuning data. Example: "delete example 4" -> {"example_id": 4} (削除)"""
        return f"deleted {(await asyncio.to_thread(examples.delete, example_id)).line()}"

    async def list_examples(
        kind: Annotated[Literal["any", "sft", "pair", "label"], "which examples"] = "any",
        search: Annotated[str, "words the examples must contain"] = "",
    ) -> str:
        """List or search the tuning examples. Example: "show the dataset" -> {"kind": "any"} (一覧, 検索)"""
        found = await asyncio.to_thread(examples.listing, None if kind == "any" else kind, 20, search or None)
        return "\n".join(e.line() for e in found) or "no examples"

    async def clean_examples() -> str:
        """Drop duplicate, empty and broken examples. Example: "clean the dataset" -> {} (整理)"""
        removed = await asyncio.to_thread(examples.clean)
        return ", ".join(f"{count} {reason}" for reason, count in removed.items()) + " removed"

    tools = (add_example, add_pair, edit_example, label_example, delete_example, list_examples, clean_examples)
    return [as_tool(fn) for fn in tools]


def toolbox(kit: Kit) -> Toolbox | None:
    from society.tools.toolbox import Toolbox

    if kit.examples is None:
        return None
    return Toolbox(data_tools(kit.examples), {}, kit.guard, kit.notify)


ROLE = RoleSpec(
    name="data_curator",
    description="Creates, edits, labels, deletes and exports the society's tuning data.",
    ready=True,
    must_act=True,
    toolbox=toolbox,
    triggers=(r"\b(dataset|training data|tuning data|label)\b", r"データセット|学習データ|ラベル"),
)
