"""Which models on the list can answer now: probed at most every PROBE_TTL_S (a server
asked once per URL), a model that failed to connect dropped until the next probe, and each
new cause said once, in one line with every model it skips, then which model answers."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from society.models.backends.registry import probe

if TYPE_CHECKING:
    from society.models.config import ModelEntry

PROBE_TTL_S = 30.0


class Reachability:
    def __init__(
        self, entries: Callable[[], list[ModelEntry]], notify: Callable[[str], None], fixed: set[str] | None = None
    ):
        """`fixed`: the reachable models as a test gives them (nothing is probed)."""
        self._entries, self._notify, self._fixed = entries, notify, fixed
        self._probe_at = 0.0
        self._reachable: set[str] = set()
        self._reported: set[str] = set()

    def now(self) -> set[str]:
        """Models that can answer now; unreachable ones are reported once, one line each."""
        if self._fixed is not None:
            return self._fixed
        if time.monotonic() - self._probe_at > PROBE_TTL_S:
            found = probe(self._entries())
            self._reachable = {model for model, why in found.items() if why is None}
            self._report(found)
            self._probe_at = time.monotonic()
        return self._reachable

    def lost(self, model: str) -> None:
        """`model` failed to connect: not tried again until the next probe finds it."""
        self._reachable.discard(model)

    def _report(self, found: dict[str, str | None]) -> None:
        """Each new cause once ("Ollama at ... unreachable" is one cause for all its models),
        and then which model answers."""
        causes: dict[str, list[str]] = {}
        for model, why in found.items():
            if why and model not in self._reported:
                self._reported.add(model)
                causes.setdefault(why, []).append(model)
        for why, models in causes.items():
            self._notify(f"skipping {', '.join(models)}: {why}")
        if causes:
            answering = next((e for e in self._entries() if e.model in self._reachable and e.allows("planner")), None)
            where = answering.kind.where if answering and answering.kind.in_process else ""
            self._notify(
                f"answering with {answering.model}" + (f" ({where})" if where else "")
                if answering
                else "no model can answer: see society status"
            )
