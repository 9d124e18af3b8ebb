"""How the wings connect: the core never imports learning or serving (only the assembly
does), and no two modules import each other at load time."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("society", "roles", "training", "ui")


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports(path: Path, top_level_only: bool) -> set[str]:
    """Project modules `path` imports; with `top_level_only`, only those run at load time
    (not inside functions, not under `if TYPE_CHECKING`)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found: set[str] = set()

    def visit(node: ast.AST, nested: bool) -> None:
        for child in ast.iter_child_nodes(node):
            inner = nested or isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef)
            if isinstance(child, ast.If) and "TYPE_CHECKING" in ast.unparse(child.test):
                inner = True
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
        if name.startswith("society") and name != "society.assemble":
            wrong = sorted(m for m in imports(path, top_level_only=False) if m.split(".")[0] in ("training", "ui"))
            if wrong:
                offenders[name] = wrong
    assert offenders == {}


def test_no_import_circles_at_load_time():
    modules = project_modules()
    graph = {
        name: {m for m in imports(path, top_level_only=True) if m in modules and m != name}
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
