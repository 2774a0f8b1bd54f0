"""Layering of the dashboard: pages name no released table; their reads are dashboard.queries."""

from __future__ import annotations

import ast
import re
from pathlib import Path

from pipelines.release import tables

ROOT = Path(__file__).resolve().parents[2]
PAGES = sorted((ROOT / "dashboard" / "pages").glob("*.py"))
TABLE_PREFIX = re.compile(r"\b(rel|ref)_")


def test_there_are_pages_to_check():
    assert len(PAGES) >= 10, PAGES


def test_no_page_names_a_released_table():
    offenders = [
        f"{page.name}:{number}: {line.strip()}"
        for page in PAGES
        for number, line in enumerate(page.read_text(encoding="utf-8").splitlines(), start=1)
        if TABLE_PREFIX.search(line)
    ]
    assert not offenders, offenders


def test_no_page_reads_released_tables_directly():
    """Released rows reach a page through a named query, never through data.query_released/has_table."""
    offenders = []
    for page in PAGES:
        for node in ast.walk(ast.parse(page.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Attribute) and node.attr in ("query_released", "has_table"):
                offenders.append(f"{page.name}:{node.lineno} uses {node.attr}")
    assert not offenders, offenders


def test_queries_take_table_names_from_the_catalogue():
    """dashboard.queries spells no table name itself: every name it reads is a pipelines.release.tables constant."""
    source = (ROOT / "dashboard" / "queries.py").read_text(encoding="utf-8")
    literals = [
        node.value
        for node in ast.walk(ast.parse(source))
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and tables.TABLE_NAME.match(node.value)
    ]
    assert not literals, literals
    from dashboard import queries

    named = {queries.GROUPS, queries.METRICS, queries.BENCHMARKS, queries.RISK, queries.DRIVERS}
    named |= {queries.LEAVE_PATHS, queries.LEAVE_REASONS}
    assert named == {"rel_groups", "rel_metrics", "ref_benchmarks", "rel_unit_risk", "rel_driver_importance",
                     "rel_leave_paths", "rel_leave_reasons"}  # fmt: skip


def test_no_deprecated_use_container_width_in_the_dashboard():
    offenders = [p.name for p in (ROOT / "dashboard").rglob("*.py") if "use_container_width" in p.read_text()]
    assert not offenders, offenders
