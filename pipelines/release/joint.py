"""Joint protection: the build's released tables, protected *together* against the attacker.

`privacy.release` protects each table on its own (minimum k, complementary suppression, bands,
and, for the counts of people, attacker-driven secondary suppression). Two tables over the same
people can still undo each other: a department's burnout rate in `rel_metrics` minus its visible
roles pins the one banded role; `rel_groups` (k = 5) and `rel_leave_paths` (k = 10) together pin a
leave-path population the second one hides. So after every producer has run, the build hands all
released tables to `protect`, which runs the attacker (`pipelines.release.attack`) over them, one
wave at a time, exactly as `audit-privacy` will, and, while any protected figure is pinned, hides
one of the released figures its derivation uses, then attacks again:

- a count of people (`rel_groups`, `rel_unit_risk`, `rel_driver_importance`, a metric row's `n`):
  the group is hidden in every table that releases its people (the same pattern everywhere);
- a rate, its `answered`, or a mean in `rel_metrics`: that metric row (with the metrics scored by
  the same expression, and the mean beside a rate of the same variable) is hidden;
- a figure of `rel_leave_paths` / `rel_leave_reasons`: the unit's row of that table is hidden
  (leave paths add up to the row's n, so one hidden path alone would be pinned);
- a pooled share of `rel_driver_importance`: that share (and its denominator) is hidden.

What is hidden is the pinned figure's smallest visible sibling in its own table (the same level,
sharing the most dimensions with it: the classic complementary choice, which gives the figure
company in every sum it is part of), so the release loses little, and no LP dual per figure is
needed to name the derivation. Hiding a figure only
removes a constraint, so ranges only widen: each round re-examines only the figures pinned in the
last round and the figures hidden since, then a final full attack confirms. Figures derived from
visible cells (shrunk rates, change since the previous wave) are derived again afterwards.

Expected departures and cost exposure (`rel_unit_risk`) are checked too: they add up over cells, and
the cost exposure weights each cell by its role's replacement cost, so a parent's two figures would
separate two hidden children of different roles (and, with the roster's headcount, give each one's
mean predicted risk). Where the attacker (`attack.attack_departures`, holding the roster's costs) can
derive a hidden unit's expected departures, the cost exposure of its narrowest visible parent is
hidden; the expected departures stay.

The result is what the attacker, given every released table at once, cannot pin: `audit-privacy`
runs the same program over the stored release and must find nothing.

Each wave's pattern is stored in the warehouse (`release_patterns`) under a fingerprint of that wave's
tables and this code, so a rebuild with nothing changed replays it in well under a second; waves that
must be searched are searched side by side in worker processes (one per core, CLINRET_BUILD_WORKERS).
The search of a wave has a time budget (CLINRET_PROTECT_BUDGET, 900 s): a wave whose units are so
small and so many that it cannot be closed in time is released at organisation level only, and the
Uploads page says why. Nothing is ever released unchecked.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from pipelines.contract import levels
from pipelines.release import attack, privacy

DIMS: tuple[str, ...] = levels.DIMENSIONS
log = logging.getLogger(__name__)
MAX_ROUNDS = 60
DEFAULT_BUDGET = 900.0  # seconds per wave for the pattern search (CLINRET_PROTECT_BUDGET)
PEOPLE_TABLES: tuple[str, ...] = ("rel_groups", "rel_unit_risk", "rel_driver_importance", "rel_metrics")
ROW_TABLES: tuple[str, ...] = ("rel_leave_paths", "rel_leave_reasons")


# A wave's result (the labels hidden, in order) by a fingerprint of that wave's released frames, the
# call threshold and this code: the same input always gives the same pattern, so a rebuild in the
# same process (the app, a test session) replays it instead of attacking again.
_CACHE: dict[str, list[attack.Label]] = {}
_CACHE_MAX = 32


def _code_version() -> str:
    here = Path(__file__).resolve().parent
    digest = hashlib.sha256()
    for name in ("joint.py", "attack.py", "privacy.py"):
        digest.update((here / name).read_bytes())
    return digest.hexdigest()


def fingerprint(
    frames: Mapping[str, pd.DataFrame], wave: str, call_threshold: float | None, budget: float | None = None
) -> str:
    """The pattern's inputs: the wave's released frames, the call threshold, the search's time budget (a
    wave that fell back to organisation level is searched again once the budget is raised) and this code."""
    digest = hashlib.sha256(f"{_code_version()}|{wave}|{call_threshold}|{budget}".encode())
    for name in sorted(frames):
        df = frames[name]
        if name not in attack.RELEASED_TABLES or df is None or df.empty or "wave" not in df.columns:
            continue
        sub = df[df["wave"].astype("str") == wave]
        digest.update(name.encode())
        # order-free: the same rows in another order (a GROUP BY's output order is not fixed) are the same release
        digest.update(np.sort(pd.util.hash_pandas_object(_stable(sub), index=False).to_numpy()).tobytes())
        digest.update("|".join(map(str, sub.columns)).encode())
    return digest.hexdigest()


SIGNIFICANT = 10  # digits of a released float that decide a pattern


def _derived(column: str) -> bool:
    """Columns no derivation reads and the pass derives again afterwards (intervals, shrunk rates, changes
    since the last wave): left out of the fingerprint. A change is a difference of two means, so its last
    digits differ from run to run far more than the means' own; what it is computed from is in the
    fingerprint anyway."""
    return (
        column in ("lo", "hi", "shrunk", "exceeds_noise")
        or column.startswith("change")
        or column.endswith(("_lo", "_hi"))
    )


def _stable(df: pd.DataFrame) -> pd.DataFrame:
    """The frame for hashing (text, and floats as SIGNIFICANT-digit mantissa and exponent): DuckDB's parallel sums can differ in the last bits
    from one run to the next (0.9005311014097478 vs …455), which must not make the same release look new.
    No derivation the attacker makes depends on the 15th digit of a rate."""
    out = {}
    for col in df.columns:
        if _derived(col):
            continue
        s = df[col]
        if pd.api.types.is_float_dtype(s.dtype):
            x = pd.to_numeric(s, errors="coerce").to_numpy(dtype="float64", na_value=np.nan)
            finite = np.isfinite(x)
            with np.errstate(divide="ignore", invalid="ignore"):
                exp = np.where(finite & (x != 0), np.floor(np.log10(np.abs(x))) - (SIGNIFICANT - 1), 0)
                mantissa = np.where(finite, np.round(x / 10.0**exp), 0)
            # a number as (mantissa, exponent), a missing one as a code no number has
            out[f"{col}\0m"] = np.where(finite, mantissa, 0).astype("int64")
            out[f"{col}\0e"] = np.where(finite, exp, -(2**31)).astype("int64")
        else:
            out[col] = s.astype("str")
    return pd.DataFrame(out, index=df.index)


def labels_to_json(labels: Iterable[attack.Label]) -> str:
    return json.dumps([[lab.table, lab.wave, list(lab.key), lab.column] for lab in labels])


def labels_from_json(text: str) -> list[attack.Label]:
    return [attack.Label(table, wave, tuple(key), column) for table, wave, key, column in json.loads(text)]


@dataclass
class Outcome:
    """What the joint pass did, for the build summary and the tests."""

    rounds: int = 0
    hidden: list[str] = field(default_factory=list)  # "table column at unit (wave)" per figure hidden
    seconds: float = 0.0
    unresolved: list[str] = field(default_factory=list)  # pinned figures left (empty unless it gave up)
    patterns: dict[str, tuple[str, list]] = field(default_factory=dict)  # wave -> (fingerprint, labels hidden)
    coarse: dict[str, str] = field(default_factory=dict)  # wave -> why only organisation-wide figures show

    def __str__(self) -> str:
        text = f"joint protection: {len(self.hidden)} more figure(s) hidden in {self.rounds} round(s), {self.seconds:.1f} s"
        if self.unresolved:
            text += f"; {len(self.unresolved)} still pinned"
        if self.coarse:
            text += f"; organisation-wide only (out of time): wave {', '.join(sorted(self.coarse))}"
        return text


# ------------------------------------------------------------------------------------------
# Locating and hiding released figures
# ------------------------------------------------------------------------------------------
def _key_mask(df: pd.DataFrame, wave: str, key: tuple) -> np.ndarray:
    mask = np.array((df["wave"].astype("str").fillna("") == wave).to_numpy(dtype=bool))
    for col, value in zip(DIMS, key, strict=True):
        if col not in df.columns:
            return np.zeros(len(df), dtype=bool)
        s = df[col].astype("str")
        mask &= (s.isna() if value is None else (s == value).fillna(False)).to_numpy()
    return mask


def _value_columns(df: pd.DataFrame) -> list[str]:
    return [c for c in df.columns if c not in privacy.KEY_COLUMNS and not c.startswith("_")]


def _null(df: pd.DataFrame, rows: np.ndarray, cols: Iterable[str]) -> pd.DataFrame:
    cols = [c for c in cols if c in df.columns]
    if not rows.any() or not cols:
        return df
    df = df.copy()
    privacy._null(df, rows, cols)
    return df


def _set_text(df: pd.DataFrame, rows: np.ndarray, col: str, text: str | None) -> pd.DataFrame:
    if col in df.columns and rows.any():
        df[col] = df[col].astype("object")
        df.loc[rows, col] = text
        df[col] = df[col].astype("str")
    return df


def _suppress_rows(df: pd.DataFrame, rows: np.ndarray) -> pd.DataFrame:
    """The rows as a suppressed row is stored: no value, `suppressed`, no band text, the hidden text."""
    df = _null(df, rows, _value_columns(df))
    df["suppressed"] = df["suppressed"].astype("boolean")
    df.loc[rows, "suppressed"] = True
    for col in [c for c in df.columns if c.endswith("_display")]:
        df = _set_text(df, rows, col, None)
    return _set_text(df, rows, "display", privacy.SUPPRESSED_TEXT)


def hide_group(frames: dict[str, pd.DataFrame], wave: str, key: tuple) -> int:
    """Hide a group's people (and everything shown about them) in every table that releases them.
    Returns the number of rows newly hidden."""
    changed = 0
    for name in PEOPLE_TABLES:
        df = frames.get(name)
        if df is None or df.empty:
            continue
        rows = _key_mask(df, wave, key) & ~df["suppressed"].fillna(True).to_numpy(dtype=bool)
        if not rows.any():
            continue
        changed += int(rows.sum())
        frames[name] = _suppress_rows(df, rows)
    return changed


def _aliases_of(metric: str) -> set[str]:
    aliases = attack.metric_aliases()
    canon = aliases.get(metric, metric)
    same = {m for m, c in aliases.items() if c == canon} | {metric}
    # a mean beside a rate of the same variable goes with it (attack 9)
    for mean, rate in privacy.COMPANION_RATES.items():
        if rate in same:
            same.add(mean)
    return same


def hide_metric(frames: dict[str, pd.DataFrame], wave: str, key: tuple, metric: str) -> int:
    """Hide one metric of one group in rel_metrics (with its aliases and companion mean)."""
    df = frames.get("rel_metrics")
    if df is None or df.empty:
        return 0
    rows = (
        _key_mask(df, wave, key)
        & df["metric"].isin(sorted(_aliases_of(metric))).to_numpy()
        & ~df["suppressed"].fillna(True).to_numpy(dtype=bool)
    )
    if not rows.any():
        return 0
    frames["rel_metrics"] = _suppress_rows(df, rows)
    return int(rows.sum())


def hide_row(frames: dict[str, pd.DataFrame], name: str, wave: str, key: tuple) -> int:
    """Hide a unit's whole row of a table with its own population (leave paths, reasons)."""
    df = frames.get(name)
    if df is None or df.empty:
        return 0
    rows = _key_mask(df, wave, key) & ~df["suppressed"].fillna(True).to_numpy(dtype=bool)
    if not rows.any():
        return 0
    frames[name] = _suppress_rows(df, rows)
    return int(rows.sum())


def hide_share(frames: dict[str, pd.DataFrame], name: str, wave: str, key: tuple, column: str) -> int:
    """Hide one rate column of a wide table's row (a pooled driver share) with its own columns."""
    df = frames.get(name)
    if df is None or df.empty or column not in df.columns:
        return 0
    rows = (
        _key_mask(df, wave, key) & ~df["suppressed"].fillna(True).to_numpy(dtype=bool) & df[column].notna().to_numpy()
    )
    display = f"{column}_display"
    if display in df.columns:
        shown = df[display].astype("str").fillna("")
        rows = (_key_mask(df, wave, key) & ~df["suppressed"].fillna(True).to_numpy(dtype=bool)) & (
            df[column].notna().to_numpy() | (shown.ne("") & shown.ne(privacy.SUPPRESSED_TEXT)).to_numpy()
        )
    if not rows.any():
        return 0
    own = [c for c in df.columns if c.startswith(f"{column}_") and c != display]
    df = _null(df, rows, [column, *own])
    df = _set_text(df, rows, display, privacy.SUPPRESSED_TEXT)
    frames[name] = df
    return int(rows.sum())


def sync_driver_items(frames: dict[str, pd.DataFrame], wave: str, call_threshold: float | None) -> int:
    """One pattern on every surface: a one-item driver share (rel_driver_importance) is the same rate of
    the same people as its item in rel_metrics, so it is hidden wherever rel_metrics hides the item."""
    drivers, metrics = frames.get("rel_driver_importance"), frames.get("rel_metrics")
    if drivers is None or drivers.empty or metrics is None or metrics.empty:
        return 0
    sub = metrics[(metrics["wave"].astype("str") == wave) & metrics["suppressed"].fillna(True).astype(bool)]
    hidden = set(zip(sub["metric"].astype("str"), privacy._keys(sub, list(DIMS)), strict=True))
    in_wave = np.array((drivers["wave"].astype("str") == wave).to_numpy(dtype=bool))
    row_visible = in_wave & ~drivers["suppressed"].fillna(True).to_numpy(dtype=bool)
    keys = privacy._keys(drivers, list(DIMS))
    changed = 0
    df = drivers
    for col, items in attack.pooled_items(call_threshold).items():
        if len(items) != 1 or col not in df.columns:
            continue
        names = _aliases_of(items[0])
        display = f"{col}_display"
        shown = df[col].notna().to_numpy()
        if display in df.columns:
            text = df[display].astype("str").fillna("")
            shown = shown | (text.ne("") & text.ne(privacy.SUPPRESSED_TEXT)).to_numpy()
        rows = row_visible & shown
        rows &= np.array([any((m, key) in hidden for m in names) for key in keys], dtype=bool)
        if not rows.any():
            continue
        own = [c for c in df.columns if c.startswith(f"{col}_") and c != display]
        df = _null(df, rows, [col, *own])
        df = _set_text(df, rows, display, privacy.SUPPRESSED_TEXT)
        changed += int(rows.sum())
    frames["rel_driver_importance"] = df
    return changed


def hide(frames: dict[str, pd.DataFrame], label: attack.Label) -> int:
    """Hide the released figure a derivation's label names (see the module docstring)."""
    table, wave, key, column = label.table, str(label.wave), tuple(label.key), label.column
    if column == ORGANISATION_ONLY:
        return organisation_only(frames, wave)
    if table in ROW_TABLES:
        return hide_row(frames, table, wave, key)
    if table == "rel_metrics" and column != "n":
        if column == "answered":
            # the answered count of a metric row: hide every metric row of the group answered by it
            df = frames["rel_metrics"]
            rows = _key_mask(df, wave, key) & df["answered"].notna().to_numpy()
            return sum(hide_metric(frames, wave, key, m) for m in sorted(set(df.loc[rows, "metric"])))
        return hide_metric(frames, wave, key, column)
    if table == "rel_driver_importance" and column != "n":
        return hide_share(frames, table, wave, key, column.removesuffix("_answered"))
    if table == attack.DEPARTURE_TABLE and column in (attack.DEPARTURES, attack.COST):
        # expected departures go with the cost exposure computed from them
        columns = (attack.DEPARTURES, attack.COST) if column == attack.DEPARTURES else (attack.COST,)
        return sum(hide_share(frames, table, wave, key, c) for c in columns)
    return hide_group(frames, wave, key)


# ------------------------------------------------------------------------------------------
# Choosing what to hide
# ------------------------------------------------------------------------------------------
def _people(frames: Mapping[str, pd.DataFrame], wave: str) -> dict[tuple, int]:
    groups = frames.get("rel_groups")
    if groups is None or groups.empty:
        return {}
    sub = groups[groups["wave"].astype("str") == wave]
    keys = privacy._keys(sub, list(DIMS))
    return {k: int(n) if pd.notna(n) else 0 for k, n in zip(keys, sub["n"].tolist(), strict=True)}


def _depth(key: tuple) -> int:
    return sum(v is not None for v in key)


def _choose(pinned: attack.Pinned, people: Mapping[tuple, int]) -> attack.Label | None:
    """The source to hide: the smallest finest visible group named in the derivation, never the
    organisation and never the pinned figure itself."""
    fig = pinned.figure
    candidates = [
        lab
        for lab in pinned.sources
        if isinstance(lab, attack.Label)
        and _depth(tuple(lab.key)) > 0
        and not (lab.table == fig.table and tuple(lab.key) == tuple(fig.key) and lab.column == fig.column)
        # a rate is closed by hiding another rate (a count of people behind it stays shown elsewhere)
        and (fig.kind == "people" or lab.column not in ("n", "answered"))
    ]
    if not candidates:
        return None
    # Hide within the figure's own table where the derivation allows (a leave-path figure is closed
    # by hiding leave-path rows, not the unit's people everywhere), then the smallest finest group.
    # A coarser group is a last resort: hidden, it is rebuilt from its own children.
    return min(
        candidates,
        key=lambda lab: (
            lab.table != fig.table,
            _depth(tuple(lab.key)) < _depth(tuple(fig.key)),
            people.get(tuple(lab.key), 10**9),
            -_depth(tuple(lab.key)),
            str(lab),
        ),
    )


def _fallback(frames: Mapping[str, pd.DataFrame], fig: attack.Figure) -> attack.Label | None:
    """No usable source: hide the pinned figure's smallest visible sibling in its own table
    (a group of the same level under the same parent), so the figure has company."""
    table = "rel_groups" if fig.kind == "people" and fig.table not in ROW_TABLES else fig.table
    df = frames.get(table)
    if df is None or df.empty:
        return None
    key = tuple(fig.key)
    sub = df[(df["wave"].astype("str") == str(fig.wave)) & ~df["suppressed"].fillna(True).astype(bool)]
    if fig.table == "rel_metrics" and fig.column not in ("n", "answered"):
        sub = sub[sub["metric"].isin(sorted(_aliases_of(fig.column)))]
    best = None
    for row_key, n in zip(privacy._keys(sub, list(DIMS)), sub["n"].tolist(), strict=True):
        same_level = all((a is None) == (b is None) for a, b in zip(row_key, key, strict=True))
        # a visible child of the figure: a hidden group whose children all show is their sum
        child = _depth(row_key) > _depth(key) and all(b is None or a == b for a, b in zip(row_key, key, strict=True))
        if not (same_level or child) or row_key == key or _depth(row_key) == 0:
            continue
        shared = sum(a is not None and a == b for a, b in zip(row_key, key, strict=True))
        rank = (not child, -shared, int(n) if pd.notna(n) else 10**9)
        if best is None or rank < best[0]:
            best = (rank, row_key)
    if best is None:
        return None
    return attack.Label(table, str(fig.wave), best[1], "n" if table in ROW_TABLES else fig.column)


def close_structure(frames: dict[str, pd.DataFrame], wave: str) -> list[attack.Label]:
    """The table-by-table rule the audit also checks (privacy.check_released): a visible parent never has
    a single hidden child with nothing else unexplained (parent minus visible children would be its
    count). Hiding one metric row of a group can leave that pattern behind; hide the next smallest
    visible child until none is left. Returns what was hidden."""
    hidden: list[attack.Label] = []
    df = frames.get("rel_metrics")
    if df is None or df.empty:
        return hidden
    changed = True
    while changed:
        changed = False
        df = frames["rel_metrics"]
        sub_all = df[df["wave"].astype("str") == wave]
        for metric, rows in sub_all.groupby("metric", sort=True).indices.items():
            sub = sub_all.iloc[rows].reset_index(drop=True)
            count = sub["answered"].fillna(0).astype("int64").to_numpy()
            hid = sub["suppressed"].fillna(True).to_numpy(dtype=bool)
            keys = privacy._keys(sub, list(DIMS))
            for p, ch in privacy.relations(sub):
                if hid[p]:
                    continue
                kids_hidden = [c for c in ch if hid[c]]
                diff = count[p] - sum(count[c] for c in ch if not hid[c])
                if len(kids_hidden) == 1 and diff > 0:
                    visible = [c for c in ch if not hid[c]]
                    if not visible:
                        continue
                    c = min(visible, key=lambda c: (count[c], c))
                    label = attack.Label("rel_metrics", wave, keys[c], str(metric))
                    if hide(frames, label):
                        hidden.append(label)
                        changed = True
                        break
            if changed:
                break
    return hidden


def _departure_source(pinned: attack.Pinned) -> attack.Label | None:
    """What to hide for a pinned expected-departures figure: the cost exposure of its narrowest
    visible ancestor the derivation uses (the role-cost split that separates its cells), else any
    cost exposure it uses, else the narrowest expected departures it uses."""
    key = tuple(pinned.figure.key)

    def rank(lab: attack.Label) -> tuple:
        lk = tuple(lab.key)
        ancestor = all(a is None or a == b for a, b in zip(lk, key, strict=True))
        return (lab.column != attack.COST, not ancestor, -_depth(lk), str(lab))

    usable = [lab for lab in pinned.sources if isinstance(lab, attack.Label)]
    return min(usable, key=rank) if usable else None


def close_departures(
    frames: dict[str, pd.DataFrame], wave: str, costs: Mapping[tuple, float] | None = None
) -> list[attack.Label]:
    """Attack 5: hide cost exposures (then expected departures) until no hidden unit's expected
    departures follow from the released ones (`attack.attack_departures`). Returns what was hidden."""
    hidden: list[attack.Label] = []
    for _ in range(MAX_ROUNDS):
        pinned = attack.attack_departures(frames, wave, costs=costs)
        if not pinned:
            return hidden
        done: set[tuple] = set()
        for p in pinned:
            label = _departure_source(p)
            if label is None or (label.column, tuple(label.key)) in done:
                continue
            done.add((label.column, tuple(label.key)))
            if hide(frames, label):
                hidden.append(label)
        if not done:
            break
    return hidden


# ------------------------------------------------------------------------------------------
# The pass
# ------------------------------------------------------------------------------------------
def _attack(
    frames: Mapping[str, pd.DataFrame],
    wave: str,
    call_threshold: float | None,
    only: Callable[[attack.Figure], bool] | None,
    relax: bool = False,
    explain: bool = False,
    families: set[str] | None = None,
    deadline: float | None = None,
) -> list[attack.Pinned]:
    """The pinned figures of one wave; raises OutOfTime when `deadline` passes before every block is examined."""
    rel = attack.read_release(
        {n: f for n, f in frames.items() if n in attack.RELEASED_TABLES}, wave, call_threshold=call_threshold
    )
    if not rel.cells:
        return []
    skipped: list[list[str]] = []
    found = attack.attack_release(
        rel, only=only, relax=relax, explain=explain, families=families, deadline=deadline, skipped=skipped
    )
    if skipped or (deadline is not None and time.perf_counter() > deadline):
        raise OutOfTime(wave)
    return found


class OutOfTime(Exception):
    """The pattern search of a wave ran past its time budget."""


# The label that stands for "this wave is released at organisation level only" (the fallback).
ORGANISATION_ONLY = "organisation_only"
COARSE_REASON = (
    "the confidentiality check could not finish within its time budget for this wave's units (many groups "
    "of very few people): only organisation-wide figures are released for it; merge the smallest units in "
    "the upload, or raise CLINRET_PROTECT_BUDGET and rebuild"
)


def organisation_only(frames: dict[str, pd.DataFrame], wave: str) -> int:
    """The fallback when a wave cannot be protected in time: every row of the wave below the organisation
    is left out of every released table (not hidden: absent, so no hidden figure is left to derive).
    One aggregate of everyone per figure cannot be differenced within the wave. Returns rows removed."""
    removed = 0
    for name, df in list(frames.items()):
        if name not in attack.RELEASED_TABLES or df is None or df.empty or "wave" not in df.columns:
            continue
        in_wave = (df["wave"].astype("str").fillna("") == wave).to_numpy(dtype=bool)
        below = np.zeros(len(df), dtype=bool)
        for col in DIMS:
            if col in df.columns:
                below |= df[col].notna().to_numpy(dtype=bool)
        drop = in_wave & below
        if drop.any():
            frames[name] = df[~drop].reset_index(drop=True)
            removed += int(drop.sum())
    return removed


def budget_setting() -> float | None:
    """Seconds the pattern search of one wave may take: CLINRET_PROTECT_BUDGET (default 900; 0 = no limit)."""
    value = os.environ.get("CLINRET_PROTECT_BUDGET", "").strip()
    try:
        seconds = float(value) if value else DEFAULT_BUDGET
    except ValueError:
        seconds = DEFAULT_BUDGET
    return seconds if seconds > 0 else None


def _wave_frames(frames: Mapping[str, pd.DataFrame], wave: str) -> dict[str, pd.DataFrame]:
    """The rows of one wave of every table the attacker reads (what a worker process needs)."""
    out = {}
    for name, df in frames.items():
        if name in attack.RELEASED_TABLES and df is not None and not df.empty and "wave" in df.columns:
            out[name] = df[df["wave"].astype("str") == wave].reset_index(drop=True)
    return out


def _describe(label: attack.Label, wave: str) -> str:
    return f"{label.table} {label.column} at {attack._where(tuple(label.key))} (wave {wave})"


def _replay(out: dict[str, pd.DataFrame], wave: str, labels: Iterable[attack.Label], call_threshold, outcome) -> None:
    """Hide a wave's pattern found before (same input, same code: the same result as searching again).
    Every step only hides, so the driver items are synchronised once, before and after."""
    sync_driver_items(out, wave, call_threshold)
    labels = list(labels)
    metric_rows = [lab for lab in labels if lab.table == "rel_metrics" and lab.column not in ("n", "answered")]
    if metric_rows and out.get("rel_metrics") is not None:
        # one pass over rel_metrics for all of them (the same rows hide_metric would hide, one by one)
        df = out["rel_metrics"]
        in_wave = (df["wave"].astype("str").fillna("") == wave).to_numpy(dtype=bool)
        open_rows = in_wave & ~df["suppressed"].fillna(True).to_numpy(dtype=bool)
        where: dict[tuple, list[int]] = {}
        for i, key in zip(np.flatnonzero(open_rows), privacy._keys(df[open_rows], list(DIMS)), strict=True):
            where.setdefault(tuple(None if v is None else str(v) for v in key), []).append(int(i))
        metric = df["metric"].astype("str").to_numpy(dtype=object)
        rows = np.zeros(len(df), dtype=bool)
        for lab in metric_rows:
            names = _aliases_of(lab.column)
            hit = [i for i in where.get(tuple(lab.key), []) if metric[i] in names and not rows[i]]
            if hit:
                rows[hit] = True
                outcome.hidden.append(_describe(lab, wave))
        if rows.any():
            out["rel_metrics"] = _suppress_rows(df, rows)
        labels = [lab for lab in labels if lab not in metric_rows]
    for label in labels:
        if hide(out, label):
            outcome.hidden.append(_describe(label, wave))
    sync_driver_items(out, wave, call_threshold)


def protect_wave(
    frames: Mapping[str, pd.DataFrame],
    wave: str,
    call_threshold: float | None = 4.0,
    costs: Mapping[tuple, float] | None = None,
    budget: float | None = None,
) -> tuple[list[attack.Label], Outcome]:
    """Search one wave's pattern: the figures to hide, in order, until the attacker pins nothing.
    Works on (and changes) a copy of the frames; returns the labels hidden and what was done.

    budget: seconds; a search still running then stops, and the wave falls back to organisation-wide
    figures only (`organisation_only`; recorded in `outcome.coarse` with the reason)."""
    started = time.perf_counter()
    deadline = None if budget is None else started + budget
    try:
        return _protect_wave(frames, wave, call_threshold, costs, deadline, started)
    except OutOfTime:
        out = dict(frames)
        outcome = Outcome(rounds=0)
        label = attack.Label("*", wave, (), ORGANISATION_ONLY)
        removed = hide(out, label)
        outcome.hidden.append(f"{removed} rows below the organisation left out (wave {wave})")
        outcome.coarse[wave] = COARSE_REASON
        outcome.seconds = time.perf_counter() - started
        return [label], outcome


def _protect_wave(
    frames: Mapping[str, pd.DataFrame],
    wave: str,
    call_threshold: float | None,
    costs: Mapping[tuple, float] | None,
    deadline: float | None,
    started: float,
) -> tuple[list[attack.Label], Outcome]:
    out = dict(frames)
    outcome = Outcome()
    labels: list[attack.Label] = []
    sync_driver_items(out, wave, call_threshold)
    recheck: set[tuple] | None = None  # keys whose figures to examine; None = every figure
    relax = True  # rounds on the linear relaxation (fast) until it pins nothing, then the integer program
    seen: dict[tuple, int] = {}  # figure -> rounds it has been pinned in
    blocks: set[str] | None = None  # families to attack again (None: all)
    stuck = 0  # rounds in a row in which nothing could be hidden
    for _ in range(MAX_ROUNDS):
        outcome.rounds += 1
        only = None if recheck is None else (lambda f, keep=recheck: tuple(f.key) in keep)
        tick = time.perf_counter()
        # A figure still pinned after its sibling was hidden is pinned through another breakdown:
        # ask for its derivation (an LP dual) and hide one of the released figures it names.
        again = recheck is not None and any(n >= 1 for n in seen.values())
        pinned = _attack(out, wave, call_threshold, only, relax, explain=again, families=blocks, deadline=deadline)
        log.info(
            "wave %s round %d (%s, %s): %d pinned (%.1f s)",
            wave,
            outcome.rounds,
            "relaxation" if relax else "integer",
            "all figures" if recheck is None else f"{len(recheck)} units",
            len(pinned),
            time.perf_counter() - tick,
        )
        if not pinned:
            closed = close_structure(out, wave)
            if closed:
                labels += closed
                outcome.hidden += [_describe(lab, wave) for lab in closed]
                recheck, blocks = {tuple(lab.key) for lab in closed}, None
                continue
            if recheck is None and not relax:
                break  # the integer program over every figure pins nothing: closed
            recheck, relax, blocks = None, False, None
            continue
        people = _people(out, wave)
        touched: set[tuple] = set()
        done: set[tuple] = set()
        grouped = False
        for p in pinned:
            ident_fig = (p.figure.table, tuple(p.figure.key), p.figure.column, p.figure.kind)
            seen[ident_fig] = seen.get(ident_fig, 0) + 1
            label = (_choose(p, people) if seen[ident_fig] > 1 else None) or _fallback(out, p.figure)
            if label is None:
                continue  # examined again next round, with its derivation
            ident = (label.table, tuple(label.key), label.column)
            if ident in done:
                continue
            done.add(ident)
            grouped |= label.column == "n" and label.table not in ROW_TABLES
            if hide(out, label):
                labels.append(label)
                outcome.hidden.append(_describe(label, wave))
                touched.add(tuple(label.key))
        if not touched:
            stuck += 1
            if stuck > 2:
                outcome.unresolved += [str(p) for p in pinned]
                break
            recheck = {tuple(p.figure.key) for p in pinned}
            continue
        stuck = 0
        sync_driver_items(out, wave, call_threshold)
        recheck = {tuple(p.figure.key) for p in pinned} | touched
        # hiding a group's people adds hidden figures to every family; otherwise only the
        # systems the pinned figures were found in can change
        blocks = None if grouped else {f for p in pinned for f in p.block}
    else:
        outcome.unresolved += [str(p) for p in _attack(out, wave, call_threshold, None, False, deadline=deadline)]
    # expected departures and cost exposure: hiding them changes no figure of the integer program
    closed = close_departures(out, wave, costs)
    labels += closed
    outcome.hidden += [_describe(lab, wave) for lab in closed]
    outcome.unresolved += [str(p) for p in attack.attack_departures(out, wave, costs=costs)]
    outcome.seconds = time.perf_counter() - started
    return labels, outcome


def _search(jobs: list[tuple], workers: int) -> list[tuple[list[attack.Label], Outcome]]:
    """Search the waves' patterns, several at once in worker processes when there are several waves
    and cores. A worker is a fresh `python -m pipelines.release.joint JOB RESULT` (no fork of the
    caller, which may be the app's threaded server; no re-import of the caller's main script)."""
    workers = max(1, min(workers, len(jobs)))
    if workers == 1:
        return [protect_wave(*job) for job in jobs]
    import pickle
    import subprocess
    import sys
    import tempfile
    from concurrent.futures import ThreadPoolExecutor

    def run(job: tuple) -> tuple[list[attack.Label], Outcome]:
        with tempfile.TemporaryDirectory(prefix="clinret-joint-") as tmp:
            src, dst = Path(tmp) / "job.pickle", Path(tmp) / "result.pickle"
            src.write_bytes(pickle.dumps(job))
            done = subprocess.run(
                [sys.executable, "-m", "pipelines.release.joint", str(src), str(dst)],
                stdout=subprocess.DEVNULL,  # HiGHS writes stray lines to stdout
                stderr=subprocess.PIPE,
                cwd=Path(__file__).resolve().parents[2],
                check=False,
            )
            if done.returncode or not dst.exists():
                tail = done.stderr.decode(errors="replace").strip().splitlines()[-3:]
                raise RuntimeError(f"joint protection worker for wave {job[1]} failed: {' / '.join(tail)}")
            return pickle.loads(dst.read_bytes())  # our own file, written by our own worker

    with ThreadPoolExecutor(max_workers=workers) as pool:
        return list(pool.map(run, jobs))


def _shared_dir() -> Path | None:
    """CLINRET_PATTERN_CACHE: a folder of patterns by fingerprint shared by every process on the machine
    (off unless set; the test suite sets it, so each distinct release is searched once per run). A pattern
    is a list of unit names and columns to hide, keyed by a hash of its inputs; it holds no figures."""
    value = os.environ.get("CLINRET_PATTERN_CACHE", "").strip()
    return Path(value) if value else None


def _write_shared(path: Path, text: str) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        tmp.write_text(text, encoding="utf-8")
        tmp.replace(path)  # atomic: a reader sees the whole pattern or none
    except OSError as exc:  # a cache, never a reason to fail a build
        log.warning("could not keep the pattern in %s: %s", path.parent, exc)


def default_workers() -> int:
    """Worker processes for the pattern search: CLINRET_BUILD_WORKERS, else the cores available."""
    value = os.environ.get("CLINRET_BUILD_WORKERS", "").strip()
    if value.isdigit() and int(value) >= 1:
        return int(value)
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not Linux
        return max(1, os.cpu_count() or 1)


def protect(
    frames: Mapping[str, pd.DataFrame],
    *,
    call_threshold: float | None = 4.0,
    waves: Iterable[str] | None = None,
    known: Mapping[str, list[attack.Label]] | None = None,
    workers: int | None = None,
    costs: Mapping[str, Mapping[tuple, float]] | None = None,
    budget: float | None = None,
) -> tuple[dict[str, pd.DataFrame], Outcome]:
    """Hide further figures until no protected figure of any wave is pinned by the attacker reading
    all the tables together. Returns the new frames (the inputs are not changed) and what was done.

    `known`: patterns found before, by fingerprint (the build passes those stored in the warehouse,
    so a rebuild with nothing changed replays them instead of attacking again); `outcome.patterns`
    holds every wave's {wave: (fingerprint, labels)} for the caller to store. Waves not known are
    searched independently (a hide only touches its own wave), in `workers` processes. `costs`:
    {wave: {cell: replacement cost}} an attacker holding the roster knows (attack.roster_costs).
    `budget`: seconds per wave for the search (see protect_wave); a stored pattern that fell back to
    organisation-wide figures replays as such."""
    started = time.perf_counter()
    out = dict(frames)
    outcome = Outcome()
    all_waves = (
        waves if waves is not None else attack._waves({n: f for n, f in out.items() if n in attack.RELEASED_TABLES})
    )
    keys = {str(w): fingerprint(out, str(w), call_threshold, budget) for w in all_waves}
    found: dict[str, list[attack.Label]] = {}
    shared = _shared_dir()
    for wave, key in keys.items():
        if known and key in known:
            found[wave] = list(known[key])
            log.info("wave %s: pattern stored by an earlier build (%d hidden)", wave, len(found[wave]))
        elif key in _CACHE:
            found[wave] = list(_CACHE[key])
            log.info("wave %s: pattern replayed from the cache (%d hidden)", wave, len(found[wave]))
        elif shared is not None and (shared / f"{key}.json").exists():
            found[wave] = labels_from_json((shared / f"{key}.json").read_text(encoding="utf-8"))
            log.info("wave %s: pattern read from %s (%d hidden)", wave, shared, len(found[wave]))
    todo = [w for w in keys if w not in found]
    jobs = [(_wave_frames(out, w), w, call_threshold, (costs or {}).get(w), budget) for w in todo]
    for wave, (labels, searched) in zip(todo, _search(jobs, workers or default_workers()), strict=True):
        outcome.rounds += searched.rounds
        outcome.unresolved += searched.unresolved
        outcome.coarse.update(searched.coarse)
        found[wave] = labels  # hidden even when unresolved (the build then refuses to store the release)
        if not searched.unresolved:
            if len(_CACHE) >= _CACHE_MAX:
                _CACHE.clear()
            _CACHE[keys[wave]] = labels
            outcome.patterns[wave] = (keys[wave], labels)
            if shared is not None:
                _write_shared(shared / f"{keys[wave]}.json", labels_to_json(labels))
    for wave in keys:
        _replay(out, wave, found[wave], call_threshold, outcome)
        if any(lab.column == ORGANISATION_ONLY for lab in found[wave]):
            outcome.coarse[wave] = COARSE_REASON
        if wave not in todo:
            outcome.patterns[wave] = (keys[wave], found[wave])
    if "rel_metrics" in out and outcome.hidden and {"shrunk", "change"} <= set(out["rel_metrics"].columns):
        from pipelines.metrics import released as metrics

        df = metrics.derive_metrics(out["rel_metrics"])
        privacy._null(df, df["suppressed"].to_numpy(dtype=bool), _value_columns(df))
        out["rel_metrics"] = df
    outcome.seconds = time.perf_counter() - started
    return out, outcome


if __name__ == "__main__":  # a worker of _search: python -m pipelines.release.joint JOB RESULT
    import pickle
    import sys

    from pipelines.release import joint as _joint  # the module by its name, so its classes unpickle

    _job = pickle.loads(Path(sys.argv[1]).read_bytes())
    Path(sys.argv[2]).write_bytes(pickle.dumps(_joint.protect_wave(*_job)))
