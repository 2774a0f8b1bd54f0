"""Layering: pipelines never import Streamlit or the dashboard; pages hold no SQL."""

from __future__ import annotations

import ast
import re
from pathlib import Path

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
