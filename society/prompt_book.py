"""Every role's system prompt as versions in the database: the shipped file is version 1,
each edit (by a role or the user) a new version with its author, reason and parent. The
newest version speaks; a rollback is a new version with an old text, so history only grows.

Guardrails: a length limit, phrases a role needs (RoleSpec.required) must survive, a role
the user locked refuses edits, and an edit must change something.
"""

from __future__ import annotations

import difflib
from dataclasses import asdict, dataclass
from typing import Any

from sqlalchemy import delete, func, select, update

from roles import ROLE_NAMES, load_specs
from roles.base import read_prompt
from society.errors import SocietyError
from society.storage.store import Store, now
from society.storage.tables import prompt_locks, prompt_versions, upsert

MAX_PROMPT_CHARS = 2000  # the embedded model's whole window is 2048 tokens
COLUMNS = ("role", "version", "text", "author", "reason", "parent_version", "fitness", "uses", "created_at")


class PromptRefused(SocietyError, ValueError):
    """An edit the guardrails refuse; the message says why and what to do."""


@dataclass(frozen=True)
class PromptVersion:
    role: str
    version: int
    text: str
    author: str
    reason: str
    parent_version: int | None
    fitness: float | None
    uses: int
    created_at: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class PromptBook:
    def __init__(self, store: Store | None = None):
        self.store = store or Store()
        self.specs = load_specs()

    def _check_role(self, role: str) -> None:
        if role not in ROLE_NAMES:
            raise PromptRefused(f"no role named '{role}'; roles: {', '.join(ROLE_NAMES)}")

    def versions(self, role: str) -> list[PromptVersion]:
        self._check_role(role)
        with self.store.engine.connect() as conn:
            columns = [prompt_versions.c[name] for name in COLUMNS]
            rows = conn.execute(
                select(*columns).where(prompt_versions.c.role == role).order_by(prompt_versions.c.version)
            ).all()
        if rows:
            return [PromptVersion(*row) for row in rows]
        self._add(role, read_prompt("roles", role), "shipped", f"roles/prompts/{role}.md", None)
        return self.versions(role)

    def current(self, role: str) -> PromptVersion:
        return self.versions(role)[-1]

    def get(self, role: str, version: int) -> PromptVersion:
        found = [v for v in self.versions(role) if v.version == version]
        if not found:
            raise PromptRefused(f"the {role} prompt has no version {version}; see `society prompts show {role}`")
        return found[0]

    def _add(self, role: str, body: str, author: str, reason: str, parent: int | None) -> PromptVersion:
        with self.store.engine.begin() as conn:
            newest = select(func.coalesce(func.max(prompt_versions.c.version), 0)).where(prompt_versions.c.role == role)
            version = conn.execute(newest).scalar_one() + 1
            conn.execute(
                prompt_versions.insert().values(
                    role=role, version=version, text=body, author=author, reason=reason, parent_version=parent,
                    created_at=now(),
                )
            )  # fmt: skip
        return self.get(role, version)

    # -- changes --------------------------------------------------------------------------

    def check(self, role: str, body: str, reason: str) -> None:
        """Raise PromptRefused if `body` may not become `role`'s prompt."""
        if self.is_locked(role):
            raise PromptRefused(f"the {role} prompt is locked by the user (unlock: society prompts lock {role} --off)")
        if not reason.strip():
            raise PromptRefused("give a reason for the edit; it is kept with the version")
        if not body.strip():
            raise PromptRefused(f"the new {role} prompt is empty")
        if len(body) > MAX_PROMPT_CHARS:
            raise PromptRefused(f"the new {role} prompt is {len(body)} characters; the limit is {MAX_PROMPT_CHARS}")
        for phrase in self.specs[role].required:
            if phrase not in body:
                raise PromptRefused(f"the edit drops '{phrase}', which the {role} role needs; keep it")
        if body == self.current(role).text:
            raise PromptRefused(f"the edit leaves the {role} prompt as it is")

    def edit(
        self,
        role: str,
        reason: str,
        author: str,
        new_text: str | None = None,
        old_text: str | None = None,
        replacement: str | None = None,
        append: str | None = None,
    ) -> PromptVersion:
        """A new version: the whole `new_text`, or `old_text` (once in the prompt) replaced by
        `replacement`, or `append` added as a new line. Takes effect from the next turn."""
        current = self.current(role)
        if new_text is not None:
            body = new_text.strip()
        elif append is not None:
            body = f"{current.text.rstrip()}\n{append.strip()}"
        elif old_text:
            count = current.text.count(old_text)
            if count != 1:
                where = "does not occur" if count == 0 else f"occurs {count} times"
                raise PromptRefused(f"'{old_text[:60]}' {where} in the {role} prompt; copy it exactly from view_prompt")
            body = current.text.replace(old_text, replacement or "", 1).strip()
        else:
            raise PromptRefused("say what to change: the whole new text, an exact text and its replacement, or a line")
        self.check(role, body, reason)
        return self._add(role, body, author, reason.strip(), current.version)

    def rollback(self, role: str, version: int, author: str, reason: str | None = None) -> PromptVersion:
        """A new version with the text of `version`."""
        old = self.get(role, version)
        why = reason or f"rollback to version {version}"
        self.check(role, old.text, why)
        return self._add(role, old.text, author, why, self.current(role).version)

    def lock(self, role: str, locked: bool = True) -> None:
        self._check_role(role)
        with self.store.engine.begin() as conn:
            if locked:
                upsert(conn, prompt_locks, {"role": role, "locked_at": now()}, ("role",), ("locked_at",))
            else:
                conn.execute(delete(prompt_locks).where(prompt_locks.c.role == role))

    def is_locked(self, role: str) -> bool:
        with self.store.engine.connect() as conn:
            return conn.execute(select(prompt_locks.c.role).where(prompt_locks.c.role == role)).first() is not None

    def diff(self, role: str, a: int, b: int) -> str:
        old, new = self.get(role, a), self.get(role, b)
        lines = difflib.unified_diff(
            old.text.splitlines(), new.text.splitlines(), f"{role} v{a}", f"{role} v{b}", lineterm=""
        )
        return "\n".join(lines) or "(no difference)"

    def set_fitness(self, role: str, version: int, fitness: float) -> None:
        with self.store.engine.begin() as conn:
            conn.execute(update(prompt_versions).where(*self._version(role, version)).values(fitness=fitness))

    def used(self, role: str, version: int) -> None:
        with self.store.engine.begin() as conn:
            conn.execute(
                update(prompt_versions).where(*self._version(role, version)).values(uses=prompt_versions.c.uses + 1)
            )

    @staticmethod
    def _version(role: str, version: int) -> tuple:
        return prompt_versions.c.role == role, prompt_versions.c.version == version
