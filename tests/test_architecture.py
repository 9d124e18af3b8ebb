"""How the wings connect: the core never imports learning or serving (only the assembly
and the command line do), no two modules import each other, even inside functions, and the
model layer's backends are asked what they can do instead of which one they are."""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("society", "roles", "training", "ui")


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports(path: Path, top_level_only: bool) -> set[str]:
    """Project modules `path` imports when it runs; with `top_level_only`, only those run at
    load time (not inside functions). Imports under `if TYPE_CHECKING` never run: left out."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found: set[str] = set()

    def visit(node: ast.AST, nested: bool) -> None:
        for child in ast.iter_child_nodes(node):
            inner = nested or isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef)
            if isinstance(child, ast.If) and "TYPE_CHECKING" in ast.unparse(child.test):
                continue
            if isinstance(child, ast.Import) and not (top_level_only and nested):
                found.update(alias.name for alias in child.names)
            elif isinstance(child, ast.ImportFrom) and child.module and not (top_level_only and nested):
                found.add(child.module)
                found.update(f"{child.module}.{alias.name}" for alias in child.names)
            visit(child, inner)

    visit(tree, False)
    return {name for name in found if name.split(".")[0] in PACKAGES}


def project_modules() -> dict[str, Path]:
    return {module_name(p): p for package in PACKAGES for p in (ROOT / package).rglob("*.py")}


def test_the_core_imports_neither_training_nor_ui_except_the_assembly():
    offenders = {}
    for name, path in project_modules().items():
        if name.startswith("society") and name not in ("society.assemble", "society.cli"):
            wrong = sorted(m for m in imports(path, top_level_only=False) if m.split(".")[0] in ("training", "ui"))
            if wrong:
                offenders[name] = wrong
    assert offenders == {}


def test_no_import_circles_counting_imports_inside_functions():
    """An import moved into a function to dodge a circle is still a circle: every import
    that can run counts."""
    modules = project_modules()
    graph = {
        name: {m for m in imports(path, top_level_only=False) if m in modules and m != name}
        for name, path in modules.items()
    }
    visiting, done, circles = set(), set(), []

    def walk(node: str, trail: list[str]) -> None:
        if node in done:
            return
        if node in visiting:
            circles.append(trail[trail.index(node) :] + [node])
            return
        visiting.add(node)
        for nxt in sorted(graph[node]):
            walk(nxt, [*trail, node] if not trail or trail[-1] != node else trail)
        visiting.discard(node)
        done.add(node)

    for name in sorted(graph):
        walk(name, [name])
    assert circles == []


def test_the_readme_file_map_names_every_module():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    block = readme[readme.index("## Files") :]
    block = block[: block.index("```", block.index("```") + 3)]
    missing = [
        str(path.relative_to(ROOT))
        for path in project_modules().values()
        if path.name != "__init__.py" and path.name not in block
    ]
    assert missing == []


def test_only_the_backends_know_which_backend_an_entry_is():
    """Abilities and request shaping are the backend's (society/models/backends/): a test of
    `backend ==` elsewhere is a three-way switch waiting for a fourth backend."""
    switch = re.compile(r"\b(backend|api_type)\s*[!=]=|==\s*\"(ollama|openai|llama_cpp)\"")
    offenders = [
        f"{path.relative_to(ROOT)}:{number}"
        for name, path in project_modules().items()
        if not name.startswith("society.models.backends")
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        if switch.search(line)
    ]
    assert offenders == []


def test_the_gate_stays_small():
    lines = (ROOT / "society/models/gate.py").read_text(encoding="utf-8").count("\n")
    assert lines <= 320, f"society/models/gate.py has {lines} lines: move a job out of it"


def test_how_a_message_travels_names_files_that_exist():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme[readme.index("### How a message travels") :]
    section = section[: section.index("\n## ")] if "\n## " in section else section
    named = re.findall(r"`((?:society|ui|training|roles)/[\w/]+(?:\.py)?/?)`", section)
    assert len(named) > 15 and [path for path in named if not (ROOT / path).exists()] == []


def test_no_sql_is_written_outside_storage():
    """Queries outside society/storage/ are SQLAlchemy Core expressions on the tables
    (society/storage/tables.py, training/tables.py), not SQL strings."""
    sql = re.compile(r"\b(?:text|exec_driver_sql)\(\s*(?:f?\"|f?'|$)|\"(?:SELECT|INSERT|UPDATE|DELETE|CREATE) ")
    offenders = [
        f"{path.relative_to(ROOT)}:{number}"
        for name, path in project_modules().items()
        if not name.startswith("society.storage")
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        if sql.search(line)
    ]
    assert offenders == []
