"""Layering: pipelines never import Streamlit or the dashboard; pages hold no SQL."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SQL = re.compile(r"\b(select\s+.+\s+from|insert\s+into|delete\s+from|update\s+\w+\s+set|create\s+table)\b", re.I | re.S)


def imported_modules(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


def test_pipelines_never_import_streamlit_or_dashboard():
    offenders = []
    for path in (ROOT / "pipelines").rglob("*.py"):
        for name in imported_modules(path):
            if name.split(".")[0] in ("streamlit", "dashboard"):
                offenders.append(f"{path.relative_to(ROOT)} imports {name}")
    assert not offenders, offenders


def test_pages_contain_no_sql_and_no_duckdb():
    offenders = []
    for path in (ROOT / "dashboard" / "pages").glob("*.py"):
        if any(name.split(".")[0] == "duckdb" for name in imported_modules(path)):
            offenders.append(f"{path.name} imports duckdb")
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Constant) and isinstance(node.value, str) and SQL.search(node.value):
                offenders.append(f"{path.name}: {node.value[:60]!r}")
    assert not offenders, offenders


def test_pages_never_allow_html():
    for path in (ROOT / "dashboard").rglob("*.py"):
        assert "unsafe_allow_html=True" not in path.read_text(encoding="utf-8"), path


def test_router_only_routes():
    source = (ROOT / "streamlit_app.py").read_text(encoding="utf-8")
    assert "st.navigation(" in source and len(source.splitlines()) < 90
    assert not SQL.search(source)


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def import_graph() -> dict[str, set[str]]:
    """pipelines module -> the pipelines modules it imports (anywhere in the file, function-level
    imports included); `from pipelines.x import y` counts as importing pipelines.x.y when y is a module."""
    paths = {_module_name(p): p for p in (ROOT / "pipelines").rglob("*.py")}
    graph: dict[str, set[str]] = {}
    for name, path in paths.items():
        edges: set[str] = set()
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                edges.update(a.name for a in node.names if a.name in paths)
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    base = ".".join(
                        package.split(".")[: len(package.split(".")) - node.level + 1] + ([base] if base else [])
                    )
                for alias in node.names:
                    full = f"{base}.{alias.name}"
                    if full in paths:
                        edges.add(full)
                    elif base in paths:
                        edges.add(base)
        graph[name] = edges - {name}
    return graph


def test_no_import_cycles_in_pipelines():
    """No module imports one that imports it back, directly or through others."""
    graph = import_graph()
    cycles: list[list[str]] = []
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                cycles.append([*stack[stack.index(nxt) :], nxt])
            elif nxt not in state:
                visit(nxt)
        stack.pop()
        state[node] = 2

    for node in sorted(graph):
        if node not in state:
            visit(node)
    assert not cycles, "\n".join(" -> ".join(c) for c in cycles)


def test_import_graph_sees_a_cycle(tmp_path):
    """The cycle check can fail: two modules that import each other are caught."""
    pkg = tmp_path / "pipelines"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "a.py").write_text("from pipelines import b\n")
    (pkg / "b.py").write_text("def f():\n    from pipelines.a import thing\n")
    globals()["ROOT"], saved = tmp_path, ROOT
    try:
        with pytest.raises(AssertionError, match="pipelines.a -> pipelines.b -> pipelines.a"):
            test_no_import_cycles_in_pipelines()
    finally:
        globals()["ROOT"] = saved
