"""The executor's file tools. Every path is confined to the allowed folders: relative paths
are taken from the workspace, `..` is refused, and a path whose real location (symlinks
followed) is outside the allowed folders is refused, so neither can be used to escape."""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Annotated

from society.toolcalls import Grounder, Grounding
from society.tools import as_tool
from society.tools.approval import Guard

MAX_READ_LINES = 400
MAX_LIST_ENTRIES = 200
MAX_FILE_BYTES = 2_000_000
MAX_EDIT_CHOICES = 200  # old_text candidates offered to a model whose old_text was not in the file
SHOWN_FILE_CHARS = 1500


class PathRefused(PermissionError):
    """A path outside the allowed folders; the message names the folders."""


def confine(raw: str, guard: Guard, write: bool) -> tuple[Path, bool]:
    """The real path for `raw` and whether it is inside the workspace; PathRefused if it
    is not inside a folder allowed for reading (or for writing, when `write`)."""
    settings = guard.settings
    if not raw or "\x00" in raw:
        raise PathRefused("the path is empty; give a file path inside the workspace")
    path = Path(raw).expanduser()
    if ".." in path.parts:
        raise PathRefused(f"'..' is not allowed in paths ({raw}); give the path from the workspace")
    if not path.is_absolute():
        path = settings.workspace / path
    real = Path(os.path.realpath(path))
    workspace = Path(os.path.realpath(settings.workspace))
    writable = [workspace, *(Path(os.path.realpath(p)) for p in settings.write_roots)]
    readable = writable + [Path(os.path.realpath(p)) for p in settings.read_roots]
    allowed = writable if write else readable
    if not any(real == root or real.is_relative_to(root) for root in allowed):
        kind = "writable" if write else "readable"
        via = " (it is a symlink that points outside)" if real != path.absolute() else ""
        raise PathRefused(f"{raw} is outside the {kind} folders{via}; allowed: {', '.join(str(r) for r in allowed)}")
    return real, real == workspace or real.is_relative_to(workspace)


def shown(path: Path, guard: Guard) -> str:
    """A path as the model should see it: relative to the workspace when inside it."""
    workspace = Path(os.path.realpath(guard.settings.workspace))
    return str(path.relative_to(workspace)) if path.is_relative_to(workspace) else str(path)


def _write(path: Path, data: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    # O_NOFOLLOW: a symlink planted after the check is not followed out of the workspace.
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o644)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(data)


def _read_text(path: Path) -> str:
    if not path.exists():
        raise FileNotFoundError(f"{path.name} does not exist")
    if path.is_dir():
        raise IsADirectoryError(f"{path.name} is a folder; use list_dir")
    if path.stat().st_size > MAX_FILE_BYTES:
        raise ValueError(f"{path.name} is {path.stat().st_size} bytes; files over {MAX_FILE_BYTES} are not read")
    data = path.read_bytes()
    if b"\x00" in data[:8192]:
        raise ValueError(f"{path.name} is a binary file")
    return data.decode("utf-8", errors="replace")


def file_tools(guard: Guard) -> list:
    """read_file, write_file, edit_file and list_dir, bound to `guard`'s settings."""

    async def checked_write(raw: str, action: str) -> tuple[Path, str]:
        path, inside = confine(raw, guard, write=True)
        await guard.check(action if inside else "write_outside_workspace", shown(path, guard))
        return path, shown(path, guard)

    async def read_file(
        path: Annotated[str, "file path, relative to the workspace"],
        start_line: Annotated[int, "first line to show, from 1"] = 1,
        max_lines: Annotated[int, "how many lines to show"] = 200,
    ) -> str:
        """Read a text file and show its lines.
        Example: "show notes.txt" -> {"path": "notes.txt"} (読む, 見せて, 中身)
        """
        real, _ = confine(path, guard, write=False)
        await guard.check("read_file", shown(real, guard))
        lines = _read_text(real).splitlines()
        start = max(1, start_line)
        end = min(len(lines), start - 1 + max(1, min(max_lines, MAX_READ_LINES)))
        body = "\n".join(lines[start - 1 : end])
        more = f" (lines {start}-{end} of {len(lines)})" if end < len(lines) or start > 1 else ""
        return f"{shown(real, guard)}{more}:\n{body}"

    async def write_file(
        path: Annotated[str, "file path, relative to the workspace"],
        content: Annotated[str, "the whole new content of the file"],
    ) -> str:
        """Create a file or replace its content.
        Example: "write hi to a.txt" -> {"path": "a.txt", "content": "hi"} (作って, 書いて, 作成)
        """
        real, name = await checked_write(path, "write_file")
        _write(real, content)
        return f"wrote {len(content.encode('utf-8'))} bytes to {name}"

    async def edit_file(
        path: Annotated[str, "file path, relative to the workspace"],
        old_text: Annotated[str, "exact text to replace; it must occur exactly once in the file"],
        new_text: Annotated[str, "the text to put in its place"],
    ) -> str:
        """Replace text in a file.
        Example: "in a.txt change cat to dog" -> {"path": "a.txt", "old_text": "cat", "new_text": "dog"}
        (置き換え, 変更, 編集)
        """
        real, name = await checked_write(path, "edit_file")
        text = _read_text(real)
        if not old_text:
            raise ValueError("old_text is empty; give the exact text to replace")
        count = text.count(old_text)
        if count == 0:
            raise ValueError(f"old_text does not occur in {name}; read the file and copy the text exactly")
        if count > 1:
            raise ValueError(f"old_text occurs {count} times in {name}; include more surrounding text")
        _write(real, text.replace(old_text, new_text, 1))
        return f"replaced 1 occurrence in {name}"

    async def list_dir(path: Annotated[str, "folder path, relative to the workspace"] = ".") -> str:
        """List the files in a folder. Example: "what files are in src" -> {"path": "src"} (一覧, フォルダ)"""
        real, _ = confine(path, guard, write=False)
        await guard.check("list_dir", shown(real, guard))
        if not real.is_dir():
            raise NotADirectoryError(f"{path} is not a folder")
        entries = sorted(real.iterdir(), key=lambda p: (not p.is_dir(), p.name))
        lines = [f"{p.name}/" if p.is_dir() else f"{p.name} ({p.lstat().st_size} bytes)" for p in entries]
        if len(lines) > MAX_LIST_ENTRIES:
            lines = lines[:MAX_LIST_ENTRIES] + [f"... and {len(entries) - MAX_LIST_ENTRIES} more"]
        return f"{shown(real, guard) or '.'}:\n" + ("\n".join(lines) or "(empty)")

    return [as_tool(fn) for fn in (read_file, write_file, edit_file, list_dir)]


def _once(text: str, piece: str) -> bool:
    return bool(piece.strip()) and text.count(piece) == 1


def _names_text(piece: str) -> bool:
    """Long enough to be what the user meant: three letters, two Japanese characters, or
    one kanji or katakana (a lone hiragana is a particle)."""
    piece = piece.strip()
    if piece.isascii():
        return len(piece) >= 3
    return len(piece) >= 2 or not ("\u3040" <= piece <= "\u309f")


def _find_word(folded: str, piece: str) -> int:
    """Where `piece` occurs in `folded` as whole words (any place, for Japanese); -1 if not."""
    if not piece.isascii():
        return folded.find(piece)
    found = re.search(rf"(?<![a-z0-9_]){re.escape(piece)}(?![a-z0-9_])", folded)
    return found.start() if found else -1


def _request_pieces(request: str) -> list[str]:
    """Runs of words of the request (English) and substrings of its Japanese, longest first."""
    words = re.findall(r"[a-z0-9_]+(?:[.\-/:'][a-z0-9_]+)*|[^\x00-\x7f]+", request.lower())
    pieces = [" ".join(words[i:j]) for i in range(len(words)) for j in range(i + 1, min(len(words), i + 4) + 1)]
    for word in words:
        if not word.isascii():
            pieces += [word[i:j] for i in range(len(word)) for j in range(i + 1, min(len(word), i + 20) + 1)]
    return sorted(set(pieces), key=len, reverse=True)


# Words that say what to do rather than what to write.
EDIT_WORDS = frozenset(
    "change replace replacing with into to from fix edit the word typo in of and then please make set "
    "編集 変更 置 換 修正 直".split()
)
QUOTED = re.compile(r"「([^」]+)」|『([^』]+)』|\"([^\"]+)\"|'([^']+)'|“([^”]+)”")


def _said_pieces(request: str) -> list[str]:
    """What the request could want written: its quoted parts if it quotes, else its words
    and word pairs (Japanese: runs of kanji, katakana and Latin letters; hiragana are the
    particles and endings between them)."""
    request = re.sub(r"@\w+", " ", request)  # "@executor" names who should act, not what to write
    quoted = [next(group for group in found if group) for found in QUOTED.findall(request)]
    if quoted:
        return list(dict.fromkeys(quoted))
    words = re.findall(r"[A-Za-z0-9_][A-Za-z0-9_.\-]*|[\u4e00-\u9fff\u30a0-\u30ffー]+", request)
    pairs = [f"{a} {b}" for a, b in zip(words, words[1:], strict=False) if a.isascii() and b.isascii()]
    return list(dict.fromkeys(words + pairs))


def edit_choices(text: str, request: str) -> tuple[list[str], list[str]]:
    """What an edit of `text` asked for by `request` could replace, and with what.

    When the request names text of the file (whole words, ignoring case, so "hello" finds
    "Hello"), old_text is one of those and new_text one of the request's other words: the
    user said both ("change hello to goodbye", 「朝」を「夜」に). Otherwise old_text is any
    line or word occurring once, and new_text is free (an empty list)."""
    folded = text.lower()
    named: list[str] = []
    if len(folded) == len(text):  # lower() kept every index, so a match maps back
        for piece in _request_pieces(request):
            if _names_text(piece) and (at := _find_word(folded, piece)) >= 0:
                named.append(text[at : at + len(piece)])
    named = [piece for piece in dict.fromkeys(named) if _once(text, piece)]
    if named:
        names = {name.lower() for name in FILE_NAME.findall(request)}

        old_words = {word for piece in named for word in piece.lower().split()}

        def new_to_the_file(piece: str) -> bool:
            words = piece.lower().split()
            return _names_text(piece) and not any(w in names or w in old_words or w in EDIT_WORDS for w in words)

        said = [piece for piece in _said_pieces(request) if new_to_the_file(piece)]
        return named[:MAX_EDIT_CHOICES], said[:MAX_EDIT_CHOICES]
    found = [line.strip() for line in text.splitlines()] + re.findall(r"\S+", text) + re.findall(r"\w+", text)
    return list(dict.fromkeys(piece for piece in found if _once(text, piece)))[:MAX_EDIT_CHOICES], []


FILE_NAME = re.compile(r"[A-Za-z0-9_./-]*[A-Za-z0-9_]\.[A-Za-z0-9]+")


def _readable(raw: str, guard: Guard) -> str | None:
    try:
        return _read_text(confine(raw, guard, write=False)[0])
    except (OSError, ValueError):
        return None


def edit_grounder(guard: Guard) -> Grounder:
    """For an edit_file call that cannot land as made: a path that is not a file while the
    request names one that is, or an old_text not in the file exactly once. The grounding
    fixes the path and offers the file's own text to choose old_text from (see
    society/toolcalls.py, Grounding)."""

    def ground(arguments: dict, request: str) -> Grounding | None:
        raw, old = arguments.get("path"), arguments.get("old_text")
        if not isinstance(raw, str) or not isinstance(old, str):
            return None
        text = _readable(raw, guard)
        if text is None:
            named = (name for name in FILE_NAME.findall(request) if name != raw)
            raw, text = next(((name, t) for name in named if (t := _readable(name, guard)) is not None), (raw, None))
        if text is None:
            return None
        old_choices, new_choices = edit_choices(text, request)
        new = arguments.get("new_text")
        lands = raw == arguments["path"] and _once(text, old) and (not new_choices or new in new_choices)
        if lands or not old_choices:
            return None
        properties = {"path": {"const": raw}, "old_text": {"enum": old_choices}}
        if new_choices:
            properties["new_text"] = {"enum": new_choices}
        shown_text = text if len(text) <= SHOWN_FILE_CHARS else text[:SHOWN_FILE_CHARS] + "\n..."
        return Grounding(
            properties=properties,
            note=f"{raw} contains:\n{shown_text}",
        )

    return ground
