"""The eight roles of the society. Names are importable without loading AutoGen."""

from __future__ import annotations

import importlib
import os
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from roles.base import RoleSpec

ROLE_NAMES = (
    "planner",
    "researcher",
    "executor",
    "memory_keeper",
    "prompt_editor",
    "data_curator",
    "evolution_breeder",
    "judge",
)
ROLES_ENV = "SOCIETY_ROLES"


def load_specs() -> dict[str, RoleSpec]:
    """Every role's spec, in the card's order."""
    return {name: importlib.import_module(f"roles.{name}").ROLE for name in ROLE_NAMES}


def toolboxes(kit) -> dict:
    """Each role's workbench, built from `kit` (roles.base.Kit) by the role's own module."""
    boxes = {}
    for name, spec in load_specs().items():
        box = spec.toolbox(kit) if spec.toolbox else None
        if box is not None:
            boxes[name] = box
    return boxes


def enabled_roles(specs: dict[str, RoleSpec]) -> list[str]:
    """Roles the selector may route to: `$SOCIETY_ROLES` (comma-separated) or those whose
    abilities have landed. The planner is always enabled: it is the team's voice."""
    chosen = os.environ.get(ROLES_ENV)
    if chosen:
        names = [n.strip() for n in chosen.split(",") if n.strip()]
        unknown = [n for n in names if n not in specs]
        if unknown:
            raise ValueError(f"{ROLES_ENV} names unknown roles {unknown}; choose from {list(specs)}")
    else:
        names = [name for name, spec in specs.items() if spec.ready]
    return ["planner", *[n for n in names if n != "planner"]]
