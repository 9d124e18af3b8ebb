"""The model clients one process has built, kept per model, and the deployments they follow:
what the learning cycle deployed or rolled back reaches every process of the data folder at
its next turn, without a restart."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from society.models.backends.registry import build_client
from society.models.machine.hardware import generation_threads
from society.storage.deployments import deployed_tags

if TYPE_CHECKING:
    from autogen_core.models import ChatCompletionClient

    from society.models.config import ModelEntry


class Clients:
    def __init__(self, entries: list[ModelEntry], given: dict[str, Any] | None = None):
        self.entries = entries  # moved to new tags by `follow`
        self.built: dict[str, ChatCompletionClient] = dict(given or {})
        self.adapters: dict[str, str | None] = {}  # the deployed adapter each client was built with
        try:
            self._tags = deployed_tags()  # what load_entries already put in place of each model
        except Exception:  # noqa: BLE001 - no database yet
            self._tags = {}

    def client_for(self, entry: ModelEntry) -> ChatCompletionClient:
        if entry.model not in self.built:
            self.built[entry.model] = build_client(entry, threads=generation_threads())
            if entry.kind.trains_its_file:
                self.adapters[entry.model] = entry.kind.adapter(entry)
        return self.built[entry.model]

    def in_process(self) -> list[str]:
        """Models this process has loaded (their weights stay in its memory)."""
        inside = {e.model for e in self.entries if e.kind.in_process}
        return [model for model in self.built if model in inside]

    def follow(self, notify: Callable[[str], None]) -> list[str]:
        """What the learning cycle deployed or rolled back since the last turn, taken up now:
        a model file built with another adapter is dropped and loads the deployed one at its
        next call; a rung served under a tag moves to the adapter's new tag (or back). One
        line per change, also said."""
        changed = []
        for model, had in list(self.adapters.items()):
            entry = next((e for e in self.entries if e.model == model), None)
            now = entry.kind.adapter(entry) if entry else had
            if now != had:
                self.built.pop(model, None)  # its weights go with it; the next call loads anew
                self.adapters.pop(model, None)
                changed.append(f"{model} now answers with {Path(now).stem if now else 'no adapter (rolled back)'}")
        try:
            tags = deployed_tags()
        except Exception:  # noqa: BLE001 - a database being created: nothing deployed yet
            tags = self._tags
        if tags != self._tags:
            originals = {tag: base for base, tag in self._tags.items()}
            moved = []
            for entry in self.entries:
                base = originals.get(entry.model, entry.model)
                model = tags.get(base, base) if entry.kind.deploys_tags else entry.model
                if model != entry.model:
                    changed.append(f"{base} now answers as {model}")
                moved.append(replace(entry, model=model))
            self.entries[:], self._tags = moved, tags
        for line in changed:
            notify(line)
        return changed
