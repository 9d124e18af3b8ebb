"""The executor's file tools: confinement, exact-string edits and approval policies."""

import os

import pytest

from society.tools.approval import Guard, ToolRefused, allow_all, refuse_all
from society.tools.files import PathRefused, edit_choices, edit_grounder, file_tools
from society.tools.settings import ToolSettings


@pytest.fixture
def workspace(tmp_path):
    path = tmp_path / "workspace"
    path.mkdir()
    return path


def tools(workspace, approver=None, **settings):
    guard = Guard(ToolSettings(workspace=workspace, **settings), approver or refuse_all)
    return {tool.name: tool for tool in file_tools(guard)}


async def call(tool, **arguments):
    return await tool.run_json(arguments, None)


async def test_write_read_edit_and_list(workspace):
    box = tools(workspace)
    assert "wrote 12 bytes" in await call(box["write_file"], path="notes/a.txt", content="hello world\n")
    assert "hello world" in await call(box["read_file"], path="notes/a.txt")
    assert "replaced 1" in await call(box["edit_file"], path="notes/a.txt", old_text="hello", new_text="goodbye")
    assert (workspace / "notes" / "a.txt").read_text() == "goodbye world\n"
    listing = await call(box["list_dir"], path="notes")
    assert "a.txt (14 bytes)" in listing


async def test_edit_needs_exactly_one_occurrence(workspace):
    (workspace / "a.txt").write_text("x x")
    box = tools(workspace)
    with pytest.raises(ValueError, match="occurs 2 times"):
        await call(box["edit_file"], path="a.txt", old_text="x", new_text="y")
    with pytest.raises(ValueError, match="does not occur"):
        await call(box["edit_file"], path="a.txt", old_text="z", new_text="y")
    assert (workspace / "a.txt").read_text() == "x x"


@pytest.mark.parametrize("path", ["../outside.txt", "a/../../outside.txt", "/etc/passwd", "~/.bashrc"])
async def test_paths_outside_the_allowed_folders_are_refused(workspace, path):
    box = tools(workspace)
    with pytest.raises(PathRefused):
        await call(box["read_file"], path=path)
    with pytest.raises(PathRefused):
        await call(box["write_file"], path=path, content="x")
    assert not (workspace.parent / "outside.txt").exists()


async def test_symlink_escapes_are_refused(workspace, tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.txt").write_text("secret")
    os.symlink(outside, workspace / "link")
    os.symlink(outside / "secret.txt", workspace / "file-link")
    box = tools(workspace)
    for path in ("link/secret.txt", "file-link"):
        with pytest.raises(PathRefused, match="symlink"):
            await call(box["read_file"], path=path)
        with pytest.raises(PathRefused):
            await call(box["write_file"], path=path, content="overwritten")
    assert (outside / "secret.txt").read_text() == "secret"


async def test_writes_outside_the_workspace_ask_first(workspace, tmp_path):
    shared = tmp_path / "shared"
    shared.mkdir()
    headless = tools(workspace, write_roots=[shared])
    with pytest.raises(ToolRefused, match="--approve"):
        await call(headless["write_file"], path=str(shared / "x.txt"), content="x")
    assert not (shared / "x.txt").exists()
    approved = tools(workspace, approver=allow_all, write_roots=[shared])
    await call(approved["write_file"], path=str(shared / "x.txt"), content="x")
    assert (shared / "x.txt").read_text() == "x"


async def test_read_only_folders_can_be_read_not_written(workspace, tmp_path):
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "d.txt").write_text("doc")
    box = tools(workspace, approver=allow_all, read_roots=[docs])
    assert "doc" in await call(box["read_file"], path=str(docs / "d.txt"))
    with pytest.raises(PathRefused, match="writable"):
        await call(box["write_file"], path=str(docs / "d.txt"), content="x")


async def test_a_denied_action_is_refused_with_how_to_change_it(workspace):
    policies = {"read_file": "deny"}
    box = tools(workspace, policies=policies)
    (workspace / "a.txt").write_text("a")
    with pytest.raises(ToolRefused, match="society tools policy read_file"):
        await call(box["read_file"], path="a.txt")


def test_edit_choices_come_from_the_file_and_the_request():
    # The user named both texts: old_text is the file's spelling of one, new_text the other.
    assert edit_choices("Hello, World!\n", "in notes.txt change hello to goodbye") == (["Hello"], ["goodbye"])
    assert edit_choices("今日の朝は早い。\n", "notes.txtの「朝」を「夜」に置き換えて") == (["朝"], ["夜"])
    assert edit_choices("port 8080\n", "config.jsonを編集して、8080を9090に変更して") == (["8080"], ["9090"])
    # Nothing of the file named: any line or word occurring once, new_text left free.
    old, new = edit_choices("a b\na c\n", "tidy it up")
    assert old == ["a b", "a c", "b", "c"] and new == []


def test_the_edit_grounder_steps_in_only_when_the_call_cannot_land(workspace):
    (workspace / "notes.txt").write_text("Hello, World!\n")
    ground = edit_grounder(Guard(ToolSettings(workspace=workspace), refuse_all))
    request = "in notes.txt change hello to goodbye"
    fine = {"path": "notes.txt", "old_text": "Hello", "new_text": "goodbye"}
    assert ground(fine, request) is None
    grounding = ground({"path": "a.txt", "old_text": "cat", "new_text": "dog"}, request)
    assert grounding.properties == {
        "path": {"const": "notes.txt"},  # the file the request names, not the model's guess
        "old_text": {"enum": ["Hello"]},
        "new_text": {"enum": ["goodbye"]},
    }
    assert "Hello, World!" in grounding.note
    assert ground({"path": "missing.txt", "old_text": "x", "new_text": "y"}, "edit missing.txt") is None
