"""What every export is built from: the released tables of the warehouse, filtered to one scope.

Rules (METHODS.md, "Confidentiality"; BRIEF "Reports"):
- Only released tables are read: `rel_*` (each re-checked with `privacy.check_released` before use)
  and the public `ref_*` tables; saved scenarios are aggregates whose small rows the planner already
  suppressed, and one is included only when its own scope group is visible in `rel_groups`.
- A scope is a wave plus optionally a site, or a site and a department. Scoping keeps only released
  rows INSIDE the scope: a site scope keeps rows whose `site` is that site (the site itself, its
  departments, its roles and department × role cells). Organisation rows and organisation-wide role
  rows are dropped, because they contain other sites' people; a leader scoped to one site never sees
  another site's name or figures. A table that cannot be scoped (no `site` column) is left out of a
  scoped export rather than leak.
- Waves: the report's wave (default: the latest released wave) and every earlier wave, for trends and
  "change since the last wave"; later waves are left out.

`load(con, wave=..., site=..., department=...)` returns a `ReportData`; the PDF, workbook, slides and
CSV extracts all read from it, so they carry the same numbers as each other and as the screen.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass, field
from typing import Any

import duckdb
import pandas as pd

from pipelines.release import privacy
from pipelines.store import settings

GROUPS = "rel_groups"
METRICS = "rel_metrics"
RISK = ("rel_unit_risk", "rel_risk")
DRIVERS = ("rel_driver_importance", "rel_drivers")
PATHS = ("rel_leave_paths",)
REASONS = ("rel_leave_reasons",)
BENCHMARKS = "ref_benchmarks"
SCENARIOS = "saved_scenarios"  # the export name of the saved scenarios in scope
# Order of sheets / CSV files; any other released table follows in name order.
PREFERRED_ORDER = (GROUPS, METRICS, *RISK, *DRIVERS, *PATHS, *REASONS)
DIMS = ("site", "department", "role")


class ScopeError(ValueError):
    """The requested scope does not exist in the released tables (or is not a valid scope)."""


@dataclass(frozen=True)
class Scope:
    """A wave and an optional site (and department within it)."""

    wave: str
    waves: tuple[str, ...]  # every wave included, oldest first, ending with `wave`
    site: str | None = None
    department: str | None = None

    @property
    def level(self) -> str:
        if self.department is not None:
            return "department"
        return "site" if self.site is not None else "organisation"

    @property
    def previous_wave(self) -> str | None:
        return self.waves[-2] if len(self.waves) > 1 else None

    def describe(self) -> str:
        """'the whole organisation', 'Riverside', 'Riverside · Cardiology'."""
        parts = [p for p in (self.site, self.department) if p]
        return " · ".join(parts) or "the whole organisation"

    def title(self) -> str:
        text = self.describe()
        return text[:1].upper() + text[1:]

    def as_dict(self) -> dict[str, Any]:
        return {"wave": self.wave, "waves": list(self.waves), "site": self.site, "department": self.department}

    def slug(self) -> str:
        parts = ["clinician-retention", *(p for p in (self.site, self.department) if p), self.wave]
        text = "_".join(parts)
        safe = "".join(c if c.isalnum() or c in "-_." else "-" for c in text)
        while "--" in safe:
            safe = safe.replace("--", "-")
        return safe.strip("-_.")[:120] or "clinician-retention"

    # --- row filters ------------------------------------------------------------------------
    def keep(self, df: pd.DataFrame) -> pd.DataFrame:
        """The rows of a released table inside this scope (see the module docstring)."""
        mask = pd.Series(True, index=df.index)
        if "wave" in df.columns:
            mask &= df["wave"].astype(object).isin(self.waves)
        for col, value in (("site", self.site), ("department", self.department)):
            if value is None:
                continue
            if col not in df.columns:
                return df.iloc[0:0]
            mask &= (df[col].astype(object) == value).fillna(False)
        return df[mask.to_numpy(dtype=bool)].reset_index(drop=True)

    def scope_rows(self, df: pd.DataFrame, wave: str | None = None) -> pd.DataFrame:
        """The rows describing the scope group itself (its level, role not broken down)."""
        if df.empty or "level" not in df.columns:
            return df.iloc[0:0]
        mask = df["level"] == self.level
        if wave is not None and "wave" in df.columns:
            mask &= df["wave"].astype(object) == wave
        return df[mask.fillna(False).to_numpy(dtype=bool)]

    def child_levels(self) -> tuple[str, ...]:
        """Levels one step below the scope, as unit breakdowns."""
        return {
            "organisation": ("site", "department", "role"),
            "site": ("department", "site_role"),
            "department": ("department_role",),
        }[self.level]


@dataclass
class ReportData:
    """Released tables filtered to a scope, with what the exports need to describe them."""

    scope: Scope
    k: int
    intentions_k: int
    generated_at: dt.datetime
    tables: dict[str, pd.DataFrame]  # export name -> rows in scope (rel_*, ref_*, saved_scenarios)
    kinds: dict[str, str]  # export name -> metrics | model | intentions | public | scenarios
    built_at: dt.datetime | None = None
    diagnostics: dict[str, Any] | None = None
    assumptions: dict[str, Any] = field(default_factory=dict)
    left_out: dict[str, str] = field(default_factory=dict)  # table -> why it is not in the export

    def table(self, *names: str) -> pd.DataFrame | None:
        """The first of `names` present (None when the build has not produced it yet)."""
        for name in names:
            if name in self.tables:
                return self.tables[name]
        return None

    def has(self, *names: str) -> bool:
        return self.table(*names) is not None

    def name_of(self, *names: str) -> str | None:
        return next((n for n in names if n in self.tables), None)


# ------------------------------------------------------------------------------------------
# Loading
# ------------------------------------------------------------------------------------------
def _table_names(con: duckdb.DuckDBPyConnection) -> list[str]:
    rows = con.execute(
        "select table_name from information_schema.tables "
        "where table_name like 'rel\\_%' escape '\\' or table_name like 'ref\\_%' escape '\\' "
        "order by table_name"
    ).fetchall()
    return [r[0] for r in rows if privacy_name_ok(r[0])]


def privacy_name_ok(name: str) -> bool:
    from pipelines.release.build import TABLE_NAME

    return bool(TABLE_NAME.match(name))


def _has_table(con: duckdb.DuckDBPyConnection, name: str) -> bool:
    return bool(
        con.execute("select count(*) from information_schema.tables where table_name = ?", [name]).fetchone()[0]
    )


def _manifest(con: duckdb.DuckDBPyConnection) -> tuple[dict[str, str], dt.datetime | None]:
    if not _has_table(con, "release_manifest"):
        return {}, None
    rows = con.execute("select table_name, kind, built_at from release_manifest").fetchall()
    built = max((r[2] for r in rows if r[2] is not None), default=None)
    return {r[0]: r[1] for r in rows}, built


def _sort_waves(values: list[str]) -> list[str]:
    """Waves in the order the metrics use for 'previous wave' (sorted labels)."""
    return sorted({str(v) for v in values if v is not None and v == v})


def resolve_scope(groups: pd.DataFrame, wave: str | None, site: str | None, department: str | None) -> Scope:
    """Check the requested scope against the released groups and fill in defaults."""
    if groups is None or groups.empty:
        raise ScopeError("No released results yet: load a survey wave and build the released tables first.")
    waves = _sort_waves(groups["wave"].astype(object).tolist())
    site = site or None
    department = department or None
    if wave is None or wave == "":
        wave = waves[-1]
    wave = str(wave)
    if wave not in waves:
        raise ScopeError(f"Wave {wave!r} is not in the released tables; released waves: {', '.join(waves)}.")
    sites = groups[groups["level"] == "site"]
    known_sites = sorted({str(s) for s in sites["site"].dropna()})
    if department is not None and site is None:
        depts = groups[(groups["level"] == "department") & (groups["department"].astype(object) == department)]
        owners = sorted({str(s) for s in depts["site"].dropna()})
        if len(owners) != 1:
            where = f" it exists at {', '.join(owners)}." if owners else " it is not in the released tables."
            raise ScopeError(
                f"Department names repeat across sites: give --site with --department {department!r};{where}"
            )
        site = owners[0]
    if site is not None and site not in known_sites:
        raise ScopeError(f"Site {site!r} is not in the released tables.")
    if department is not None:
        depts = groups[(groups["level"] == "department") & (groups["site"].astype(object) == site)]
        if department not in {str(d) for d in depts["department"].dropna()}:
            raise ScopeError(f"Department {department!r} is not a released department of {site}.")
    return Scope(wave=wave, waves=tuple(w for w in waves if w <= wave), site=site, department=department)


def _check(name: str, frame: pd.DataFrame, kind: str, k: int, k_int: int) -> None:
    """Refuse to export a released table that fails the confidentiality checks."""
    threshold = k_int if kind == "intentions" else k
    problems = privacy.check_released(frame, threshold, table=name, structure=False)
    if problems:
        raise ValueError(
            f"{name} failed its confidentiality check, so nothing was exported: "
            + "; ".join(map(str, problems[:3]))
            + ". Rebuild the released tables (python -m pipelines build) and try again."
        )


def _group_visible(groups: pd.DataFrame, wave: Any, dims: dict[str, Any]) -> bool:
    """Is this group (wave + site/department/role, None = all) released and not suppressed?"""
    mask = groups["wave"].astype(object) == wave
    for d in DIMS:
        v = dims.get(d)
        mask &= groups[d].isna() if v is None else (groups[d].astype(object) == v).fillna(False)
    rows = groups[mask.to_numpy(dtype=bool)]
    return not rows.empty and not bool(rows["suppressed"].fillna(True).astype(bool).iloc[0])


def load_scenarios(con: duckdb.DuckDBPyConnection, scope: Scope, groups: pd.DataFrame) -> pd.DataFrame:
    """Saved scenarios inside the scope, one row per scenario x lever (the planner's results).

    A scenario is in scope when its own site/department lie inside the export scope (an organisation
    scope takes every scenario), its wave is one of the scope's waves, and its group is visible in
    rel_groups (a hidden group shows nothing, scenarios included, as on the screen)."""
    if not _has_table(con, "scenarios"):
        return pd.DataFrame()
    rows = con.execute(
        "select name, levers, scope, results, created_at from scenarios order by created_at, name"
    ).fetchall()
    frames = []
    for name, levers, sc_scope, results, created_at in rows:
        sc = json.loads(sc_scope) if sc_scope else {}
        sc = {key: (None if sc.get(key) in ("", None) else str(sc.get(key))) for key in ("wave", *DIMS)}
        res = pd.DataFrame(json.loads(results) if results else [])
        if res.empty:
            continue
        wave = sc["wave"] or (str(res["wave"].iloc[0]) if "wave" in res else None)
        if wave not in scope.waves:
            continue
        if scope.site is not None and sc["site"] != scope.site:
            continue
        if scope.department is not None and sc["department"] != scope.department:
            continue
        if not _group_visible(groups, wave, sc):
            continue
        res = res.copy()
        res.insert(0, "scenario", str(name))
        res["saved_at"] = created_at
        res["wave"] = wave
        for d in DIMS:
            res[d] = sc[d]
        res["levers"] = json.dumps(json.loads(levers)) if levers else "[]"
        res = res.drop(columns=[c for c in ("created_by",) if c in res.columns])
        # a suppressed lever row carries no figure, whatever was stored
        if "suppressed" in res.columns:
            hidden = res["suppressed"].fillna(True).astype(bool)
            value_cols = [
                c
                for c in res.columns
                if c not in ("scenario", "wave", *DIMS, "lever", "label", "kind", "n", "suppressed", "headcount_source",
                             "published_effect", "evidence", "caveat", "notes", "saved_at", "levers")
            ]  # fmt: skip
            for c in value_cols:
                res[c] = res[c].astype(object).where(~hidden, None)
        frames.append(res)
    if not frames:
        return pd.DataFrame()
    out = pd.concat(frames, ignore_index=True)
    front = ["scenario", "wave", *DIMS, "lever", "label", "kind", "n", "suppressed"]
    front = [c for c in front if c in out.columns]
    return out[front + [c for c in out.columns if c not in front]]


def load(
    con: duckdb.DuckDBPyConnection,
    *,
    wave: str | None = None,
    site: str | None = None,
    department: str | None = None,
) -> ReportData:
    """Every released table in scope (see the module docstring). Raises ScopeError for a scope that
    is not in the released tables, ValueError for a table that fails its confidentiality check."""
    k, k_int = privacy.thresholds(con)
    kinds, built_at = _manifest(con)
    names = _table_names(con)
    if GROUPS not in names:
        raise ScopeError("No released results yet: load a survey wave and build the released tables first.")
    full: dict[str, pd.DataFrame] = {}
    for name in names:
        full[name] = con.execute(f'select * from "{name}"').df()  # name read from the catalog, pattern-checked
    scope = resolve_scope(full[GROUPS], wave, site, department)
    tables: dict[str, pd.DataFrame] = {}
    table_kinds: dict[str, str] = {}
    left_out: dict[str, str] = {}
    ordered = [n for n in PREFERRED_ORDER if n in full] + [n for n in names if n not in PREFERRED_ORDER]
    for name in ordered:
        frame = full[name]
        if name.startswith("ref_"):
            tables[name], table_kinds[name] = frame, "public"
            continue
        kind = kinds.get(name) or (
            "intentions" if ("intention" in name or "reason" in name or "path" in name) else "metrics"
        )
        _check(name, frame, kind, k, k_int)
        if scope.level != "organisation" and "site" not in frame.columns:
            left_out[name] = "it has no site column, so it cannot be limited to the scope"
            continue
        tables[name], table_kinds[name] = scope.keep(frame), kind
    scen = load_scenarios(con, scope, full[GROUPS])
    if not scen.empty:
        tables[SCENARIOS], table_kinds[SCENARIOS] = scen, "scenarios"
    diagnostics = None
    if _has_table(con, "model_diagnostics"):
        diag = con.execute(
            "select wave, model, auroc, observed_expected, calibration_slope, verdict from model_diagnostics "
            "where wave = ? and model = 'intent_to_leave' order by built_at desc limit 1",
            [scope.wave],
        ).df()
        if not diag.empty:
            diagnostics = diag.iloc[0].to_dict()
    from pipelines.models import assumptions

    try:
        values = assumptions.values(con)
    except Exception:  # noqa: BLE001 - assumptions are descriptive here; the report still builds
        values = {}
    values.setdefault("min_group_size", settings.get(con, "min_group_size"))
    return ReportData(
        scope=scope,
        k=k,
        intentions_k=k_int,
        generated_at=dt.datetime.now().replace(microsecond=0),
        tables=tables,
        kinds=table_kinds,
        built_at=built_at,
        diagnostics=diagnostics,
        assumptions=values,
        left_out=left_out,
    )
