"""Saved scenarios: save, list, show (load), compare and delete.

A saved scenario holds its levers with their parameters, its scope and its (already protected)
results; nothing individual is stored.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

import duckdb
import numpy as np
import pandas as pd

from pipelines.scenarios.levers import RESULT_METRICS


def _json_default(value: Any) -> Any:
    if isinstance(value, (np.floating, np.integer)):
        return value.item()
    if isinstance(value, np.bool_):
        return bool(value)
    return str(value)


def _clean(value: Any) -> Any:
    if isinstance(value, float) and not np.isfinite(value):
        return None
    return value


def save_scenario(
    con: duckdb.DuckDBPyConnection,
    name: str,
    levers: Sequence[Any],
    scope: Mapping[str, Any],
    results: pd.DataFrame,
    *,
    created_by: str | None = None,
    overwrite: bool = False,
) -> None:
    """Store a scenario (levers with parameters, scope, results) under a unique name."""
    name = str(name).strip()
    if not name:
        raise ValueError("A scenario needs a name.")
    exists = con.execute("select count(*) from scenarios where name = ?", [name]).fetchall()[0][0]
    if exists and not overwrite:
        raise ValueError(f"A scenario called {name!r} already exists.")
    records = [{k: _clean(v) for k, v in r.items()} for r in results.to_dict(orient="records")]
    payload = [
        json.dumps(list(levers), default=_json_default),
        json.dumps(dict(scope), default=_json_default),
        json.dumps(records, default=_json_default),
    ]
    if exists:
        con.execute("delete from scenarios where name = ?", [name])
    con.execute(
        "insert into scenarios (name, levers, scope, results, created_by, created_at) "
        "values (?, ?, ?, ?, ?, current_timestamp)",
        [name, *payload, created_by],
    )


VIEWER_DIMENSIONS: tuple[str, ...] = ("site", "department")


def within(saved_scope: Mapping[str, Any], viewer: Mapping[str, Any] | None) -> bool:
    """Was a scenario computed within the viewer's scope? `viewer` maps site and/or department to
    the viewer's value (None or absent = not limited on it; `viewer=None` = the whole organisation).
    A site leader sees only scenarios computed for that site (or a part of it), never the
    organisation's or another site's."""
    if not viewer:
        return True
    return all(viewer.get(dim) is None or saved_scope.get(dim) == viewer.get(dim) for dim in VIEWER_DIMENSIONS)


def list_scenarios(con: duckdb.DuckDBPyConnection, scope: Mapping[str, Any] | None = None) -> pd.DataFrame:
    """Saved scenarios, newest first, with their levers and scope in words: only those computed
    within the viewer's `scope` (site and/or department; None = everything)."""
    rows = con.execute(
        "select name, levers, scope, created_by, created_at from scenarios order by created_at desc, name"
    ).fetchall()
    out = []
    for name, levers, saved, by, at in rows:
        levers, saved = json.loads(levers), json.loads(saved)
        if not within(saved, scope):
            continue
        scope_words = ", ".join(f"{k}={v}" for k, v in saved.items() if v is not None) or "whole organisation"
        out.append(
            {
                "name": name,
                "levers": ", ".join(lv["key"] if isinstance(lv, dict) else str(lv) for lv in levers),
                "scope": scope_words,
                "created_by": by,
                "created_at": at,
            }
        )
    return pd.DataFrame(out, columns=["name", "levers", "scope", "created_by", "created_at"])


def load_scenario(con: duckdb.DuckDBPyConnection, name: str, scope: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """{"name", "levers", "scope", "results" (DataFrame), "created_by", "created_at"}. A scenario
    outside the viewer's `scope` is reported as not found (its existence is not confirmed)."""
    rows = con.execute(
        "select name, levers, scope, results, created_by, created_at from scenarios where name = ?", [name]
    ).fetchall()
    if not rows or not within(json.loads(rows[0][2]), scope):
        raise KeyError(f"No saved scenario called {name!r}.")
    row = rows[0]
    return {
        "name": row[0],
        "levers": json.loads(row[1]),
        "scope": json.loads(row[2]),
        "results": pd.DataFrame(json.loads(row[3])),
        "created_by": row[4],
        "created_at": row[5],
    }


def delete_scenario(con: duckdb.DuckDBPyConnection, name: str, scope: Mapping[str, Any] | None = None) -> bool:
    """Delete a saved scenario; True when one was deleted (never one outside the viewer's `scope`)."""
    rows = con.execute("select scope from scenarios where name = ?", [name]).fetchall()
    if not rows or not within(json.loads(rows[0][0]), scope):
        return False
    con.execute("delete from scenarios where name = ?", [name])
    return True


def _headline(results: pd.DataFrame) -> pd.Series:
    """The row that sums up a scenario: 'combined' when there are several levers."""
    combined = results[results["lever"] == "combined"]
    return (combined if len(combined) else results).iloc[0]


def compare_scenarios(
    con: duckdb.DuckDBPyConnection, names: Sequence[str], scope: Mapping[str, Any] | None = None
) -> pd.DataFrame:
    """Side by side: one row per result metric, for each scenario the estimate and its interval
    (only scenarios within the viewer's `scope`; others are not found)."""
    data: dict[str, list[Any]] = {"metric": [label for _, label in RESULT_METRICS]}
    for name in names:
        sc = load_scenario(con, name, scope)
        head = _headline(sc["results"])
        data[name] = [head.get(m) for m, _ in RESULT_METRICS]
        data[f"{name} low"] = [head.get(f"{m}_lo") for m, _ in RESULT_METRICS]
        data[f"{name} high"] = [head.get(f"{m}_hi") for m, _ in RESULT_METRICS]
    frame = pd.DataFrame(data)
    extra = {"metric": ["Levers", "Scope"]}
    for name in names:
        sc = load_scenario(con, name, scope)
        extra[name] = [
            ", ".join(lv["key"] if isinstance(lv, dict) else str(lv) for lv in sc["levers"]),
            ", ".join(f"{k}={v}" for k, v in sc["scope"].items() if v is not None) or "whole organisation",
        ]
        extra[f"{name} low"] = [None, None]
        extra[f"{name} high"] = [None, None]
    return pd.concat([pd.DataFrame(extra), frame.astype(object)], ignore_index=True)
