"""The executor's file tools. Every path is confined to the allowed folders: relative paths
are taken from the workspace, `..` is refused, and a path is opened inside its folder in one
step that follows no symlink (society/tools/beneath.py), so neither a planted link nor one
swapped in while the tool runs can lead out. Only regular files are read or written (a FIFO
would block, a device would never end); blocking I/O runs off the event loop. Credentials
are never touched, and VCS metadata and start-up files are written only with approval
(society/tools/protected.py)."""

from __future__ import annotations

import asyncio
import os
import re
import secrets
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated

from society.paths import settings_dir
from society.text import cjk
from society.toolcalls.grounding import Grounder, Grounding
from society.tools import as_tool
from society.tools.approval import Guard
from society.tools.beneath import (
    O_DIRECTORY,
    O_NOFOLLOW,
    O_NONBLOCK,
    SUPPORTED,
    Escape,
    make_dirs_beneath,
    open_beneath,
    regular_file,
)
from society.tools.protected import is_protected, secret_reason

MAX_READ_LINES = 400
MAX_LIST_ENTRIES = 200
MAX_FILE_BYTES = 2_000_000
MAX_EDIT_CHOICES = 200  # old_text candidates offered to a model whose old_text was not in the file
SHOWN_FILE_CHARS = 1500


class PathRefused(PermissionError):
    """A path outside the allowed folders; the message names the folders."""


@dataclass(frozen=True)
class Target:
    """A path the model asked for, as an allowed folder and the part inside it."""

    root: Path  # the allowed folder, resolved
    relative: str  # inside it, "" for the folder itself; never resolved by name again
    raw: str
    inside_workspace: bool

    @property
    def parts(self) -> tuple[str, ...]:
        return Path(self.relative).parts if self.relative else ()

    @property
    def real(self) -> Path:
        """Where it is, for messages and checks; opening goes through `root` and `relative`."""
        return self.root / self.relative if self.relative else self.root


def _roots(guard: Guard, write: bool) -> list[tuple[Path, Path]]:
    """(as configured, resolved) for each folder allowed for reading or writing."""
    settings = guard.settings
    folders = [settings.workspace, *settings.write_roots] + ([] if write else list(settings.read_roots))
    return [(Path(folder).expanduser().absolute(), Path(os.path.realpath(folder))) for folder in folders]


def confine(raw: str, guard: Guard, write: bool) -> Target:
    """The allowed folder `raw` lies in and its path inside it; PathRefused if it lies in no
    folder allowed for reading (or for writing, when `write`) or names a credentials file."""
    settings = guard.settings
    if not isinstance(raw, str) or not raw.strip() or "\x00" in raw:
        raise PathRefused("the path is empty or has a NUL byte; give a file path inside the workspace")
    path = Path(raw).expanduser()
    if ".." in path.parts:
        raise PathRefused(f"'..' is not allowed in paths ({raw}); give the path from the workspace")
    workspace = Path(os.path.realpath(settings.workspace))
    if not path.is_absolute():
        path = workspace / path
    found = None
    for configured, real_root in _roots(guard, write):
        for base in (real_root, configured):
            if path == base or path.is_relative_to(base):
                relative = path.relative_to(base).as_posix()
                if found is None or len(real_root.parts) > len(found[0].parts):
                    found = (real_root, "" if relative == "." else relative)
    if found is None:
        kind = "writable" if write else "readable"
        allowed = ", ".join(str(real) for _, real in _roots(guard, write))
        raise PathRefused(f"{raw} is outside the {kind} folders; allowed: {allowed}")
    root, relative = found
    target = Target(root, relative, raw, root == workspace)
    if not SUPPORTED:  # no dir_fd (Windows): fall back to resolving links by name
        real = Path(os.path.realpath(target.real))
        if real != target.real:
            raise PathRefused(f"{raw} is a symlink or goes through one; symlinks are not followed")
    why = secret_reason(target.real, settings_dir(), workspace)
    if why:
        raise PathRefused(f"{raw} is not available to agents: {why}")
    return target


def shown(target: Target, guard: Guard) -> str:
    """A path as the model should see it: relative to the workspace when inside it."""
    return (target.relative or ".") if target.inside_workspace else str(target.real)


def _refused_link(target: Target, err: Escape) -> PathRefused:
    return PathRefused(f"{target.raw}: {err}; a symlink is never followed out of the allowed folders")


def _read_bytes(target: Target) -> bytes:
    name = target.relative or target.raw
    try:
        fd = open_beneath(str(target.root), target.relative, os.O_RDONLY | O_NONBLOCK | O_NOFOLLOW)
    except Escape as err:
        raise _refused_link(target, err) from None
    except FileNotFoundError:
        raise FileNotFoundError(f"{name} does not exist") from None
    try:
        info = regular_file(fd, name)
        if info.st_size > MAX_FILE_BYTES:
            raise ValueError(f"{name} is {info.st_size} bytes; files over {MAX_FILE_BYTES} are not read")
        chunks, total = [], 0
        while total <= MAX_FILE_BYTES and (chunk := os.read(fd, 1 << 16)):
            chunks.append(chunk)
            total += len(chunk)
        return b"".join(chunks)[: MAX_FILE_BYTES + 1]
    finally:
        os.close(fd)


def _read_text(target: Target) -> str:
    data = _read_bytes(target)
    if len(data) > MAX_FILE_BYTES:
        raise ValueError(f"{target.relative} grew past {MAX_FILE_BYTES} bytes while being read")
    if b"\x00" in data[:8192]:
        raise ValueError(f"{target.relative or target.raw} is a binary file")
    return data.decode("utf-8", errors="replace")


def _write(target: Target, text: str) -> None:
    """Write through a new file in the same folder renamed over the old one: the rename
    replaces a name, never follows it, and a reader sees the old or the new file whole."""
    data = text.encode("utf-8")
    if len(data) > MAX_FILE_BYTES:
        raise ValueError(f"the content is {len(data)} bytes; files over {MAX_FILE_BYTES} are not written")
    if not target.parts:
        raise IsADirectoryError(f"{target.raw} is a folder")
    parent, name = "/".join(target.parts[:-1]), target.parts[-1]
    try:
        make_dirs_beneath(str(target.root), parent)
        dir_fd = open_beneath(str(target.root), parent, O_DIRECTORY | os.O_RDONLY)
    except Escape as err:
        raise _refused_link(target, err) from None
    try:
        mode = 0o644
        try:
            old = os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
        except FileNotFoundError:
            old = None
        if old is not None:
            if stat.S_ISLNK(old.st_mode):
                raise _refused_link(target, Escape(f"{name} is a symlink"))
            if stat.S_ISDIR(old.st_mode):
                raise IsADirectoryError(f"{target.relative} is a folder")
            if not stat.S_ISREG(old.st_mode):
                raise PermissionError(f"{target.relative} is not a regular file (a pipe, socket or device)")
            mode = stat.S_IMODE(old.st_mode)
        temporary = f".society-{secrets.token_hex(6)}.tmp"
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL | O_NOFOLLOW, mode, dir_fd=dir_fd)
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
            os.replace(temporary, name, src_dir_fd=dir_fd, dst_dir_fd=dir_fd)
        except BaseException:
            try:
                os.unlink(temporary, dir_fd=dir_fd)
            except OSError:
                pass
            raise
    finally:
        os.close(dir_fd)


def _listing(target: Target) -> list[str]:
    """The folder's entries; links are shown as links and never followed (following one
    would tell whether a host path exists)."""
    try:
        fd = open_beneath(str(target.root), target.relative, O_DIRECTORY | os.O_RDONLY)
    except Escape as err:
        raise _refused_link(target, err) from None
    except NotADirectoryError:
        raise NotADirectoryError(f"{target.raw} is not a folder") from None
    try:
        with os.scandir(fd) as entries:
            found = []
            for entry in entries:
                if entry.is_symlink():
                    found.append((1, entry.name, f"{entry.name} (symlink, not followed)"))
                elif entry.is_dir(follow_symlinks=False):
                    found.append((0, entry.name, f"{entry.name}/"))
                else:
                    size = entry.stat(follow_symlinks=False).st_size
                    found.append((1, entry.name, f"{entry.name} ({size} bytes)"))
                if len(found) > 10 * MAX_LIST_ENTRIES:
                    break
    finally:
        os.close(fd)
    return [line for _, _, line in sorted(found)]


def save_in_workspace(workspace: Path, relative: str, text: str) -> None:
    """Write a file of the society's own into the workspace the same safe way the tools do
    (the agents can write there too, so no link they planted is followed)."""
    root = Path(os.path.realpath(workspace))
    _write(Target(root, relative, relative, True), text)


def file_tools(guard: Guard) -> list:
    """read_file, write_file, edit_file and list_dir, bound to `guard`'s settings."""

    async def checked_write(raw: str, action: str) -> tuple[Target, str]:
        target = confine(raw, guard, write=True)
        name = shown(target, guard)
        await guard.check(action if target.inside_workspace else "write_outside_workspace", name)
        if is_protected(target.parts, None if target.inside_workspace else target.real):
            await guard.check("write_protected", f"{name} (version-control metadata or a start-up file)")
        return target, name

    async def read_file(
        path: Annotated[str, "file path, relative to the workspace"],
        start_line: Annotated[int, "first line to show, from 1"] = 1,
        max_lines: Annotated[int, "how many lines to show"] = 200,
    ) -> str:
        """Read a text file and show its lines.
        Example: "show notes.txt" -> {"path": "notes.txt"} (読む, 見せて, 中身)
        """
        target = confine(path, guard, write=False)
        await guard.check("read_file", shown(target, guard))
        lines = (await asyncio.to_thread(_read_text, target)).splitlines()
        start = max(1, start_line)
        end = min(len(lines), start - 1 + max(1, min(max_lines, MAX_READ_LINES)))
        body = "\n".join(lines[start - 1 : end])
        more = f" (lines {start}-{end} of {len(lines)})" if end < len(lines) or start > 1 else ""
        return f"{shown(target, guard)}{more}:\n{body}"

    async def write_file(
        path: Annotated[str, "file path, relative to the workspace"],
        content: Annotated[str, "the whole new content of the file"],
    ) -> str:
        """Create a file or replace its content.
        Example: "write hi to a.txt" -> {"path": "a.txt", "content": "hi"} (作って, 書いて, 作成)
        """
        target, name = await checked_write(path, "write_file")
        await asyncio.to_thread(_write, target, content)
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
        target, name = await checked_write(path, "edit_file")
        text = await asyncio.to_thread(_read_text, target)
        if not old_text:
            raise ValueError("old_text is empty; give the exact text to replace")
        count = text.count(old_text)
        if count == 0:
            raise ValueError(f"old_text does not occur in {name}; read the file and copy the text exactly")
        if count > 1:
            raise ValueError(f"old_text occurs {count} times in {name}; include more surrounding text")
        await asyncio.to_thread(_write, target, text.replace(old_text, new_text, 1))
        return f"replaced 1 occurrence in {name}"

    async def list_dir(path: Annotated[str, "folder path, relative to the workspace"] = ".") -> str:
        """List the files in a folder. Example: "what files are in src" -> {"path": "src"} (一覧, フォルダ)"""
        target = confine(path, guard, write=False)
        await guard.check("list_dir", shown(target, guard))
        lines = await asyncio.to_thread(_listing, target)
        if len(lines) > MAX_LIST_ENTRIES:
            lines = lines[:MAX_LIST_ENTRIES] + [f"... and {len(lines) - MAX_LIST_ENTRIES} more"]
        return f"{shown(target, guard)}:\n" + ("\n".join(lines) or "(empty)")

    return [as_tool(fn) for fn in (read_file, write_file, edit_file, list_dir)]


def _once(text: str, piece: str) -> bool:
    return bool(piece.strip()) and text.count(piece) == 1


def _names_text(piece: str) -> bool:
    """Long enough to be what the user meant: three letters, two Japanese characters, or
    one kanji or katakana (a lone hiragana is a particle)."""
    piece = piece.strip()
    if piece.isascii():
        return len(piece) >= 3
    return len(piece) >= 2 or not re.fullmatch(f"[{cjk.HIRAGANA}]", piece)


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
    words = re.findall(
        r"[A-Za-z0-9_][A-Za-z0-9_.\-]*|[" + cjk.KANJI + cjk.KATAKANA + cjk.LONG_VOWEL_MARK + "]+", request
    )
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
    """The file's text for grounding an edit, only where reading it needs nobody's approval:
    what a policy keeps from the model must not reach it through the retry prompt."""
    if guard.settings.policy("read_file") != "auto":
        return None
    try:
        return _read_text(confine(raw, guard, write=False))
    except (OSError, ValueError):
        return None


def edit_grounder(guard: Guard) -> Grounder:
    """For an edit_file call that cannot land as made: a path that is not a file while the
    request names one that is, or an old_text not in the file exactly once. The grounding
    fixes the path and offers the file's own text to choose old_text from (see
    society/toolcalls/client.py, Grounding)."""

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
