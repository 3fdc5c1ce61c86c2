"""The shape of the code (docs/ARCHITECTURE.md §0): imports go down the pipeline, one home for the
run-folder layout, small glue functions, no import-order exemptions."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SUITE = (
    "common",
    "data",
    "losses",
    "metrics",
    "models",
    "training",
    "evaluation",
    "grid",
    "scripts",
    "train",
    "eval",
)
#: What each room may import of the suite (besides itself); the reason is in ARCHITECTURE §0.
ALLOWED = {
    "common": set(),
    "losses": {"common"},
    "metrics": {"common"},
    "models": {"common"},
    "data": {"common", "losses"},
    "training": {"common", "data", "losses", "metrics", "models"},
    "evaluation": {"common", "data", "losses", "metrics", "training"},
    "grid": {"common", "data", "losses", "training", "evaluation"},
    "scripts": {"common", "data", "losses", "metrics", "models", "training", "evaluation", "grid", "scripts"},
}
GLUE_LIMIT = 60  # "about 50 lines": body lines of a glue function, docstring included


def python_files(room: str) -> list[Path]:
    return sorted(p for p in (ROOT / room).rglob("*.py") if "__pycache__" not in p.parts)


def suite_imports(path: Path) -> set[str]:
    """Top-level suite packages that ``path`` imports (absolute imports only)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    out = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [node.module]
        else:
            continue
        out |= {n.split(".")[0] for n in names if n.split(".")[0] in SUITE}
    return out


@pytest.mark.parametrize("room", sorted(ALLOWED))
def test_imports_go_down_the_pipeline(room):
    bad = {
        str(p.relative_to(ROOT)): sorted(suite_imports(p) - ALLOWED[room] - {room})
        for p in python_files(room)
        if suite_imports(p) - ALLOWED[room] - {room}
    }
    assert not bad, f"upward or sideways imports: {bad}"


def test_no_module_imports_a_command_line_script():
    scripts = {"train", "eval", "data.prepare"}
    offenders = []
    for room in ALLOWED:
        for p in python_files(room):
            if room == "scripts":
                continue
            tree = ast.parse(p.read_text(encoding="utf-8"))
            for node in ast.walk(tree):
                mod = node.module if isinstance(node, ast.ImportFrom) else None
                names = [a.name for a in node.names] if isinstance(node, ast.Import) else []
                if mod in scripts or any(n in scripts for n in names):
                    offenders.append(str(p.relative_to(ROOT)))
    assert not offenders


def test_no_import_order_exemptions_or_sys_path_surgery():
    hits = []
    for p in [*ROOT.glob("*.py"), *(q for room in ALLOWED for q in python_files(room))]:
        text = p.read_text(encoding="utf-8")
        if "noqa: E402" in text or re.search(r"sys\.path(\[|\.insert|\.append)", text):
            hits.append(str(p.relative_to(ROOT)))
    assert not hits


def test_run_folder_paths_are_spelled_only_in_the_run_folder_module():
    pattern = re.compile(r"""f?["']seed\{|["']fold\{|/ ?f["']seed|["']\*/\*/seed\*""")
    hits = []
    for p in [*ROOT.glob("*.py"), *(q for room in ALLOWED for q in python_files(room))]:
        if p == ROOT / "common" / "run_folder.py":
            continue
        for i, line in enumerate(p.read_text(encoding="utf-8").splitlines(), 1):
            if pattern.search(line):
                hits.append(f"{p.relative_to(ROOT)}:{i}")
    assert not hits


@pytest.mark.parametrize("room", ["training", "evaluation", "grid", "scripts"])
def test_glue_functions_are_small(room):
    long = []
    for p in python_files(room):
        for node in ast.walk(ast.parse(p.read_text(encoding="utf-8"))):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                length = node.end_lineno - node.lineno
                if length > GLUE_LIMIT:
                    long.append(f"{p.relative_to(ROOT)}::{node.name} ({length} lines)")
    assert not long
