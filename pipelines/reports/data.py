"""What every export is built from: the released tables of the warehouse, filtered to one scope.

Rules (METHODS.md, "Confidentiality"; BRIEF "Reports"):
- Only released tables are read: `rel_*` (each re-checked with `privacy.check_released` before use)
  and the public `ref_*` tables; saved scenarios are aggregates whose small rows the planner already
  suppressed, and one is included only when its own scope group is visible in `rel_groups`.
- An export covers a viewer scope (`pipelines.release.scope.Scope`: the whole organisation, a site,
  or a site and a department) and a wave. The released tables are read through
  `pipelines.release.reader`, the dashboard's door too, so the rows inside a scope are the same on
  the screen and in every export: a site scope keeps rows whose `site` is that site; organisation
  rows and organisation-wide role rows are dropped, because they contain other sites' people; a
  table that cannot be scoped (no `site` column) is left out of a scoped export rather than leak.
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

from pipelines.contract.levels import DIMENSIONS as DIMS
from pipelines.release import privacy, reader
from pipelines.release import tables as released_tables
from pipelines.release.scope import Scope
from pipelines.store import settings

SCENARIOS = released_tables.SAVED_SCENARIOS  # the export name of the saved scenarios in scope


class ScopeError(ValueError):
    """The requested scope does not exist in the released tables (or is not a valid scope)."""


@dataclass
class ReportData:
    """Released tables inside a scope, for a wave and the waves before it, with what the exports
    need to describe them."""

    scope: Scope
    wave: str  # the report's wave
    waves: tuple[str, ...]  # every wave included, oldest first, ending with `wave`
    k: int
    intentions_k: int
    generated_at: dt.datetime
    tables: dict[str, pd.DataFrame]  # export name -> rows in scope (rel_*, ref_*, saved_scenarios)
    kinds: dict[str, str]  # export name -> metrics | model | intentions | public | scenarios
    built_at: dt.datetime | None = None
    diagnostics: dict[str, Any] | None = None
    assumptions: dict[str, Any] = field(default_factory=dict)
    left_out: dict[str, str] = field(default_factory=dict)  # table -> why it is not in the export

    @property
    def previous_wave(self) -> str | None:
        return self.waves[-2] if len(self.waves) > 1 else None

    def as_dict(self) -> dict[str, Any]:
        """The scope and waves, as the audit log and the CSV manifest record them."""
        return {
            "wave": self.wave,
            "waves": list(self.waves),
            "site": self.scope.site,
            "department": self.scope.department,
        }

    def slug(self) -> str:
        """A file name stem: clinician-retention_<site>_<department>_<wave>."""
        parts = ["clinician-retention", *(p for p in (self.scope.site, self.scope.department) if p), self.wave]
        text = "_".join(parts)
        safe = "".join(c if c.isalnum() or c in "-_." else "-" for c in text)
        while "--" in safe:
            safe = safe.replace("--", "-")
        return safe.strip("-_.")[:120] or "clinician-retention"

    def table(self, name: str) -> pd.DataFrame | None:
        """The table's rows in scope (None when the build has not produced it yet)."""
        return self.tables.get(name)

    def has(self, name: str) -> bool:
        return name in self.tables


# ------------------------------------------------------------------------------------------
# Loading
# ------------------------------------------------------------------------------------------
def _sort_waves(values: list[str]) -> list[str]:
    """Waves in the order the metrics use for 'previous wave' (sorted labels)."""
    return sorted({str(v) for v in values if v is not None and v == v})


def resolve_scope(
    groups: pd.DataFrame, wave: str | None, site: str | None, department: str | None
) -> tuple[Scope, str, tuple[str, ...]]:
    """Check the requested scope against the released groups and fill in defaults: (the scope, the
    report's wave, every wave included oldest first, ending with that wave)."""
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
    return Scope(site=site, department=department), wave, tuple(w for w in waves if w <= wave)


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


def load_scenarios(scenarios: list[reader.SavedScenario], waves: tuple[str, ...], groups: pd.DataFrame) -> pd.DataFrame:
    """Saved scenarios of the export, one row per scenario x lever (the planner's results).

    `scenarios` are those inside the scope (the reader's rule: their own site/department lie inside
    it; an organisation scope takes every scenario). Kept: those whose wave is one of the export's
    waves and whose group is visible in rel_groups (a hidden group shows nothing, scenarios
    included, as on the screen)."""
    frames = []
    for saved in scenarios:
        sc, res = saved.scope, saved.results
        if res.empty:
            continue
        wave = saved.wave
        if wave not in waves:
            continue
        if not _group_visible(groups, wave, sc):
            continue
        res = res.copy()
        res.insert(0, "scenario", saved.name)
        res["saved_at"] = saved.created_at
        res["wave"] = wave
        for d in DIMS:
            res[d] = sc[d]
        res["levers"] = json.dumps(saved.levers)
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


def _in_waves(frame: pd.DataFrame, waves: tuple[str, ...]) -> pd.DataFrame:
    """The rows of the export's waves (a table without a wave column is kept whole)."""
    if "wave" not in frame.columns:
        return frame
    mask = frame["wave"].astype(object).isin(waves)
    return frame[mask.to_numpy(dtype=bool)].reset_index(drop=True)


TURNOVER_CHECK = released_tables.TURNOVER_CHECK


def _in_turnover_waves(frame: pd.DataFrame, waves: tuple[str, ...]) -> pd.DataFrame:
    """Turnover periods whose forecast came from one of the export's waves (a period is labelled by
    HR, e.g. a year, and checks the survey wave in `forecast_wave`)."""
    if "forecast_wave" not in frame.columns:
        return _in_waves(frame, waves)
    mask = frame["forecast_wave"].astype(object).isin(waves)
    return frame[mask.to_numpy(dtype=bool)].reset_index(drop=True)


DIAGNOSTIC_COLUMNS = (
    "wave", "model", "auroc", "observed_expected", "calibration_slope", "verdict", "previous_wave",
    "previous_auroc", "previous_observed_expected", "previous_calibration_slope", "drift", "drift_warning",
)  # fmt: skip


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
    released = reader.read_all(con)
    groups = released.tables.get(released_tables.GROUPS)
    if groups is None:
        raise ScopeError("No released results yet: load a survey wave and build the released tables first.")
    scope, wave, waves = resolve_scope(groups, wave, site, department)
    view = released.view(scope)
    tables: dict[str, pd.DataFrame] = {}
    table_kinds: dict[str, str] = {}
    for name, frame in view.tables.items():
        kind = view.kinds[name]
        if kind != "public":
            _check(name, released.tables[name], kind, k, k_int)  # the whole table, as released
            if name == TURNOVER_CHECK:
                frame = _in_turnover_waves(frame, waves)
            elif name != released_tables.TURNOVER_CONVERSION:  # one row learnt from every period: kept whole
                frame = _in_waves(frame, waves)
        tables[name], table_kinds[name] = frame, kind
    scen = load_scenarios(view.scenarios, waves, groups)
    if not scen.empty:
        tables[SCENARIOS], table_kinds[SCENARIOS] = scen, "scenarios"
    diagnostics = None
    if reader.has_table(con, "model_diagnostics"):
        have = {r[0] for r in con.execute("select column_name from (describe model_diagnostics)").fetchall()}
        columns = ", ".join(c for c in DIAGNOSTIC_COLUMNS if c in have)  # names from the tuple above only
        diag = con.execute(
            f"select {columns} from model_diagnostics "
            "where wave = ? and model = 'intent_to_leave' order by built_at desc limit 1",
            [wave],
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
        wave=wave,
        waves=waves,
        k=k,
        intentions_k=k_int,
        generated_at=dt.datetime.now().replace(microsecond=0),
        tables=tables,
        kinds=table_kinds,
        built_at=released.built_at,
        diagnostics=diagnostics,
        assumptions=values,
        left_out=dict(view.left_out),
    )
