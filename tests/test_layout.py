"""Imports only point down: each product folder imports only the folders below it, and no two folders
import each other. Read from the code's own imports (every .py of the product folders, parsed, lazy
imports inside functions too), so an import that breaks the layout fails here with its file and line."""

import ast
import itertools
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

# What each folder may import besides itself (README, Layout). Folders not listed as a key import nothing.
MAY_IMPORT: dict[str, frozenset[str]] = {
    "workflows": frozenset(),
    "core": frozenset({"workflows"}),
    "journal": frozenset({"core", "workflows"}),
    "activities": frozenset({"core", "journal", "workflows"}),
    "workers": frozenset({"activities", "core", "journal", "workflows"}),
    "console": frozenset({"core", "journal", "workflows"}),
    "starters": frozenset({"activities", "console", "core", "journal", "workers", "workflows"}),
    "simulator": frozenset({"activities", "core", "journal", "starters", "workflows"}),
    "bench": frozenset({"activities", "console", "core", "journal", "simulator", "starters", "workers", "workflows"}),
}
FOLDERS = frozenset(MAY_IMPORT)


def project_imports(path: Path) -> Iterator[tuple[int, str]]:
    """(line, module) of every absolute import of a product folder in one file."""
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [node.module]
        else:
            continue
        for name in names:
            if name.split(".", 1)[0] in FOLDERS:
                yield node.lineno, name


def imports_by_folder() -> dict[str, list[tuple[str, int, str]]]:
    """For each product folder, (file, line, module) of its imports of other product folders."""
    found: dict[str, list[tuple[str, int, str]]] = {folder: [] for folder in FOLDERS}
    for folder in sorted(FOLDERS):
        for path in sorted((ROOT / folder).rglob("*.py")):
            for line, module in project_imports(path):
                if module.split(".", 1)[0] != folder:
                    found[folder].append((str(path.relative_to(ROOT)), line, module))
    return found


def test_every_folder_imports_only_the_folders_below_it() -> None:
    offending = [
        f"{file}:{line}: imports {module} "
        f"({folder}/ may import {', '.join(sorted(MAY_IMPORT[folder])) or 'nothing of the project'})"
        for folder, imports in imports_by_folder().items()
        for file, line, module in imports
        if module.split(".", 1)[0] not in MAY_IMPORT[folder]
    ]
    assert not offending, "imports that point up or sideways:\n" + "\n".join(offending)


def test_no_two_folders_import_each_other() -> None:
    """The folder graph as the code draws it (not as the table allows) has no cycle."""
    imports = imports_by_folder()
    graph = {folder: {module.split(".", 1)[0] for _, _, module in found} for folder, found in imports.items()}
    where = {
        (folder, module.split(".", 1)[0]): f"{file}:{line}"
        for folder, found in imports.items()
        for file, line, module in found
    }

    def cycle_from(start: str, path: list[str]) -> list[str] | None:
        for nxt in sorted(graph[path[-1]]):
            if nxt == start:
                return [*path, start]
            if nxt not in path:
                found = cycle_from(start, [*path, nxt])
                if found:
                    return found
        return None

    for folder in sorted(graph):
        cycle = cycle_from(folder, [folder])
        assert cycle is None, (
            "folders that import each other: "
            + " -> ".join(f"{a} ({where[(a, b)]})" for a, b in itertools.pairwise(cycle))
            + f" -> {cycle[-1]}"
        )


def test_the_rules_see_every_product_file() -> None:
    """A folder renamed or added without a rule would slip past the tests above."""
    packages = {path.parent.name for path in ROOT.glob("*/__init__.py")} - {"tests"}
    assert packages <= FOLDERS, f"product folders without an import rule: {sorted(packages - FOLDERS)}"
