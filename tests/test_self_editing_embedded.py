"""With the real embedded model: plain-language requests end in a prompt edit and in a new
dataset entry."""

import pytest

from society.assemble import open_conversation
from society.prompt_book import PromptBook
from training.datasets import Examples

pytestmark = pytest.mark.slow


async def test_the_society_edits_its_prompt_and_its_dataset_when_asked():
    conversation = open_conversation()
    try:
        first = [m async for m in conversation.turn("What is the capital of France?")]
        answer = first[-1]

        edit = [m async for m in conversation.turn("From now on answer me in Japanese, briefly.")]
        assert [m.role for m in edit if m.kind == "tool_call"] == ["prompt_editor"]
        planner = PromptBook(conversation.store).current("planner")
        assert planner.version == 2 and planner.author == "prompt_editor"
        assert planner.text.endswith("From now on answer me in Japanese, briefly.")

        last_answer = [m for m in edit if m.kind == "text" and m.role != "user"][-1]
        added = [m async for m in conversation.turn("@data_curator add the last answer to the dataset")]
        assert any(m.content.startswith("add_example(") for m in added if m.kind == "tool_call")
        (example,) = Examples(conversation.store).all_active()
        assert example.source_message_ids == [last_answer.id]
        assert example.completion == last_answer.content and example.completion != answer.content

        later = [m async for m in conversation.turn("Hello")]
        assert later[-1].prompt_version == 2  # the planner now answers under the edited prompt
    finally:
        await conversation.close()
