"""The confidentiality layer: every released table passes through `release` before it is stored.

Pages, exports and the CLI read only released tables (`rel_*` in the warehouse), so the rules in
METHODS.md ("Confidentiality") are enforced here, once, and checked again by `audit`.

Released tables carry the dimension columns `wave, site, department, role` (NULL = all, i.e. not
broken down), a `level`, `n` (respondents; NULL when suppressed) and `suppressed` (bool). A
suppressed row carries no metric value at all. The rules:

1. Minimum group k (settings.min_group_size, never below 3; 10 for `kind="intentions"`): a group
   with fewer than k respondents shows nothing.
2. Complementary suppression. Groups are related across levels within a wave: organisation →
   site / role; site → department / site×role; role → site×role; department and site×role →
   department×role (crossed tables are protected in both directions). For every visible parent the
   hidden part (suppressed children plus the parent's remainder not covered by any child) must be 0
   or at least k respondents, and never a single hidden child on its own (parent minus visible
   children would give its exact n). A suppressed parent may not have all its children visible
   (their sum would rebuild it). Violations hide the next smallest child (or, if none is left, the
   parent), and the passes repeat until nothing changes.
3. Item non-response: the same rules are applied per metric to `answered` (the metric's
   denominator), so a metric answered by fewer than k people in an otherwise visible group is
   hidden too, and cannot be rebuilt by subtraction.
4. Homogeneity: when fewer than 10 people answered, a rate of 0% or 100% reveals everyone's answer.
   Such rates are shown only as a band. Deviation from METHODS.md, on purpose: with fewer than 10
   answers a band of "≤10%" can only mean 0%, so the band here is widened to cover 0 *and* 1 person
   ("≤20%" for 5 answers, "≤15%" for 8) and a rate of one person is banded too; otherwise the band
   itself discloses. The exact value and interval are nulled and the text goes to `display`.
   The hidden remainder of a visible parent (parent minus its exactly visible children) is checked
   the same way: if fewer than 10 people and all or none unfavourable, more children are hidden.
5. Remainder rule for ad-hoc filtered views: `check_filter`.

Derived figures that combine several cells (shrunk rates, change since the previous wave) are
computed *after* suppression, from visible cells only (the `derive` hook), so they cannot leak a
hidden cell; a hidden or banded cell in either wave gives no change.

Layouts accepted by `release`:
- long (the frame has a `metric` column): one row per group × metric with `n`, `stat` ("rate",
  "mean", "median", "p75", …), `answered`, `value`, `lo`, `hi` and optionally other value columns.
  Rates (stat "rate") get the homogeneity rule; every metric gets per-metric suppression.
- wide: one row per group with `n` and metric columns. Columns listed in `rates` are proportions
  in [0, 1]; `<rate>_answered` (if present) is their denominator, else `n`; columns named
  `<rate>_*` (e.g. `<rate>_lo`, `<rate>_hi`) belong to that rate and are hidden with it; a
  `<rate>_display` text column is added. Other metric columns follow the group's suppression only.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

import duckdb
import numpy as np
import pandas as pd

from pipelines.contract import levels as _levels
from pipelines.store import settings

DIM_COLUMNS: tuple[str, ...] = ("wave", "site", "department", "role")
BREAKDOWN: tuple[tuple[int, str], ...] = ((1, "site"), (2, "department"), (4, "role"))
# Bitmask of the kept dimensions (site 1, department 2, role 4) -> level name, from pipelines.contract.levels;
# the department levels without their site (2, 6) are accepted for tables that release them.
LEVEL_NAMES: dict[int, str] = {
    sum(bit for bit, col in BREAKDOWN if col in dims): name for name, dims in _levels.LEVELS.items()
} | {2: "department_all_sites", 6: "department_role_all_sites"}
LEVEL_ORDER: dict[str, int] = {name: i for i, name in enumerate(LEVEL_NAMES.values())}
# Columns that describe a row rather than report a figure: never nulled by suppression.
KEY_COLUMNS: tuple[str, ...] = (*DIM_COLUMNS, "level", "metric", "stat", "suppressed", "display")
# mean metric -> the rate of the same variable beside it (pipelines.metrics.released)
COMPANION_RATES: dict[str, str] = {"call_nights": "call_heavy", "mini_z": "joyful"}
HOMOGENEITY_N = 10  # below this many answers a 0%/100% rate is shown only as a band
KINDS = ("metrics", "intentions", "model")
SUPPRESSED_TEXT = "hidden to protect confidentiality"
BAND_STEP = 5  # band edges are rounded outwards to multiples of 5 percentage points


@dataclass(frozen=True)
class Problem:
    """One finding of `audit`: which table, which row, what is wrong."""

    table: str
    rule: str
    detail: str

    def __str__(self) -> str:
        return f"{self.table}: [{self.rule}] {self.detail}"


# ------------------------------------------------------------------------------------------
# Thresholds
# ------------------------------------------------------------------------------------------
def check_k(k: int) -> int:
    """The minimum group size, validated: never below 3 (METHODS.md)."""
    if k is None or int(k) != k or int(k) < 3:
        raise ValueError(f"The minimum group size must be a whole number of at least 3, not {k!r}.")
    return int(k)


def thresholds(con: duckdb.DuckDBPyConnection) -> tuple[int, int]:
    """(min_group_size, intentions_min_group_size) from the warehouse settings, validated."""
    k = check_k(settings.get(con, "min_group_size"))
    k_int = max(check_k(settings.get(con, "intentions_min_group_size")), 10, k)
    return k, k_int


def effective_k(kind: str, k: int, intentions_k: int = 10) -> int:
    """The threshold for a table kind: intentions and reasons need max(k, intentions_k, 10)."""
    if kind not in KINDS:
        raise ValueError(f"Unknown table kind {kind!r}; expected one of {KINDS}.")
    k = check_k(k)
    return max(k, intentions_k, 10) if kind == "intentions" else k


def check_filter(group_n: int | None, parent_n: int | None, k: int) -> bool:
    """Remainder rule: may a filtered group (say physicians within a department) be released?

    Only if the group has at least k respondents and the rest of its parent (parent − group) has
    at least k too, or is empty (the filter then shows the parent itself). Unknown counts: no.
    """
    k = check_k(k)
    if group_n is None or parent_n is None or pd.isna(group_n) or pd.isna(parent_n):
        return False
    rest = int(parent_n) - int(group_n)
    return int(group_n) >= k and (rest == 0 or rest >= k)


# ------------------------------------------------------------------------------------------
# Structure: levels and parent/child relations between released groups
# ------------------------------------------------------------------------------------------
def _masks(df: pd.DataFrame) -> np.ndarray:
    mask = np.zeros(len(df), dtype=np.int64)
    for bit, col in BREAKDOWN:
        if col in df.columns:
            mask |= np.where(df[col].notna().to_numpy(), bit, 0)
    return mask


def level_name(mask: int) -> str:
    return LEVEL_NAMES[int(mask)]


def _keys(df: pd.DataFrame, cols: Sequence[str]) -> list[tuple]:
    arrays = [df[c].astype(object).where(df[c].notna(), None).tolist() for c in cols]
    return list(zip(*arrays, strict=True)) if arrays else [()] * len(df)


def relations(groups: pd.DataFrame) -> list[tuple[int, list[int]]]:
    """(parent row, child rows) for every released parent, by position in `groups`.

    A child level is any present level whose dimensions strictly contain the parent's, with no
    present level in between (so organisation → department only when sites are not released).
    """
    masks = _masks(groups)
    present = sorted(set(masks.tolist()))
    out: list[tuple[int, list[int]]] = []
    positions = np.arange(len(groups))
    names = ["wave"] + [c for _, c in BREAKDOWN if c in groups.columns]
    full = _keys(groups, names)  # once for every row; each pair below reads the columns it needs
    at = {c: i for i, c in enumerate(names)}
    for pm in present:
        for cm in present:
            if pm == cm or (pm & cm) != pm:
                continue
            if any(lm not in (pm, cm) and (pm & lm) == pm and (lm & cm) == lm for lm in present):
                continue
            idx = [0] + [at[c] for bit, c in BREAKDOWN if pm & bit]
            p_rows = positions[masks == pm].tolist()
            c_rows = positions[masks == cm].tolist()
            parent_of = {tuple(full[r][i] for i in idx): r for r in p_rows}
            children: dict[int, list[int]] = {}
            for row in c_rows:
                parent = parent_of.get(tuple(full[row][i] for i in idx))
                if parent is not None:
                    children.setdefault(parent, []).append(row)
            out.extend(children.items())
    return out


def _protect(
    count: Sequence[int],
    hidden: Sequence[bool],
    rels: list[tuple[int, list[int]]],
    k: int,
    *,
    success: Sequence[int] | None = None,
    banded: Sequence[bool] | None = None,
) -> list[bool]:
    """Complementary suppression until stable (see the module docstring, rules 2-4)."""
    count = [int(c) for c in count]
    hidden = [bool(h) for h in hidden]
    banded = [bool(b) for b in banded] if banded is not None else [False] * len(count)
    succ = [int(s) for s in success] if success is not None else None
    changed = True
    while changed:
        changed = False
        for p, ch in rels:
            if hidden[p]:
                if ch and not any(hidden[c] for c in ch):
                    hidden[min(ch, key=lambda c: (count[c], c))] = True
                    changed = True
                continue
            hidden_kids = [c for c in ch if hidden[c]]
            remainder = max(count[p] - sum(count[c] for c in ch), 0)
            total = sum(count[c] for c in hidden_kids) + remainder
            ok = total == 0 or (total >= k and (len(hidden_kids) != 1 or remainder > 0))
            candidates = [c for c in ch if not hidden[c]]
            if ok and succ is not None and not banded[p]:
                known = [c for c in ch if not hidden[c] and not banded[c]]
                rest_n = count[p] - sum(count[c] for c in known)
                rest_s = succ[p] - sum(succ[c] for c in known)
                if (
                    0 < rest_n < HOMOGENEITY_N
                    and (rest_s <= 0 or rest_s >= rest_n)
                    or _unknown_pinned(p, ch, count, succ, hidden, banded, rest_s)
                ):
                    ok, candidates = False, known
            if not ok:
                if candidates:
                    hidden[min(candidates, key=lambda c: (count[c], c))] = True
                else:
                    hidden[p] = True
                changed = True
    return hidden


def _unknown_pinned(
    p: int,
    ch: list[int],
    count: list[int],
    succ: list[int],
    hidden: list[bool],
    banded: list[bool],
    rest_s: int,
) -> bool:
    """Parent minus its exact children leaves `rest_s` successes among the hidden and banded children
    (and people in no child). Each of those has a range: a "≤" band 0-1, a "≥" band n−1 to n, a hidden
    child 0 to n. When rest_s sits at the bottom or the top of their summed range, every one of them is
    at its extreme: a band pinned, or a hidden child all or none. That discloses unless the child is a
    hidden group of at least 10 answers, or the parent itself is 0%/100% over at least 10 (the rules let
    it show, and it says as much)."""
    unknown = [c for c in ch if hidden[c] or banded[c]]
    if not unknown:
        return False
    if (succ[p] <= 0 or succ[p] >= count[p]) and count[p] >= HOMOGENEITY_N:
        return False
    lo = hi = 0
    for c in unknown:
        if hidden[c]:
            hi += count[c]
        elif succ[c] <= 1:  # "≤" band: 0 or 1
            hi += min(1, count[c])
        else:  # "≥" band: n − 1 or n
            lo += count[c] - 1
            hi += count[c]
    hi += max(count[p] - sum(count[c] for c in ch), 0)
    if lo < rest_s < hi:
        return False
    return any(banded[c] and not hidden[c] for c in unknown) or any(
        hidden[c] and count[c] < HOMOGENEITY_N for c in unknown
    )


# ------------------------------------------------------------------------------------------
# Homogeneity bands
# ------------------------------------------------------------------------------------------
def band_text(successes: int, answered: int) -> str | None:
    """The band shown instead of a small group's rate, or None when the exact rate may show.

    With fewer than 10 answers, 0 or 1 unfavourable answers show as "≤X%" and all or all but one
    as "≥Y%", X being 1/answered rounded up to a multiple of 5 points, so the band always covers
    two possible counts and never pins down everyone's answer.
    """
    if answered <= 0 or answered >= HOMOGENEITY_N:
        return None
    edge = min(100, math.ceil(100 / answered / BAND_STEP) * BAND_STEP)
    if successes <= 1:
        return f"≤{edge}%"
    if successes >= answered - 1:
        return f"≥{100 - edge}%"
    return None


def _fmt(value: float, stat: str) -> str:
    if pd.isna(value):
        return ""
    if stat == "rate":
        return f"{100 * value:.1f}%"
    return f"{value:.1f}"


# ------------------------------------------------------------------------------------------
# release
# ------------------------------------------------------------------------------------------
def _prepare(df: pd.DataFrame, sort_extra: Sequence[str]) -> pd.DataFrame:
    out = df.copy()
    for col in DIM_COLUMNS:
        if col not in out.columns:
            out[col] = pd.Series(pd.NA, index=out.index, dtype="str")
    if "n" not in out.columns:
        raise ValueError("A released table needs an `n` column (respondents per group).")
    if out["n"].isna().any():
        raise ValueError("`n` must be known for every group before release.")
    masks = _masks(out)
    if "level" not in out.columns:
        out["level"] = [level_name(m) for m in masks]
    out["_mask"] = masks
    out = out.sort_values(
        ["wave", "_mask", "site", "department", "role", *sort_extra], na_position="first"
    ).reset_index(drop=True)
    front = [*DIM_COLUMNS, "level"]
    return out[front + [c for c in out.columns if c not in front]]


def _value_columns(df: pd.DataFrame) -> list[str]:
    return [c for c in df.columns if c not in KEY_COLUMNS and not c.startswith("_")]


def _null(df: pd.DataFrame, rows: np.ndarray, cols: Iterable[str]) -> None:
    if not rows.any():
        return
    for col in cols:
        if df[col].dtype == bool:
            df[col] = df[col].astype("boolean")
        elif pd.api.types.is_integer_dtype(df[col]) and not isinstance(df[col].dtype, pd.api.extensions.ExtensionDtype):
            df[col] = df[col].astype("Int64")
        df.loc[rows, col] = None


def _group_pass(df: pd.DataFrame, k: int) -> np.ndarray:
    """Suppression of whole groups by n; returns the hidden flag per row of df."""
    gcols = list(DIM_COLUMNS)
    groups = df.drop_duplicates(gcols)[[*gcols, "n"]].reset_index(drop=True)
    if len(groups) != len(df.drop_duplicates([*gcols, "n"])):
        raise ValueError("Each group must have a single n.")
    n = groups["n"].astype("int64").to_numpy()
    rels = relations(groups)
    hidden = _protect(n, n < k, rels, k)
    if ATTACKER_SECONDARY:
        hidden = _secondary_people(groups, n, hidden, rels, k)
    flag = dict(zip(_keys(groups, gcols), hidden, strict=True))
    return np.array([flag[key] for key in _keys(df, gcols)], dtype=bool)


MAX_ATTACK_ROUNDS = 50
# Attacker-driven secondary suppression of the counts of people (attack 1 of issue 11: organisation −
# visible roles, then site − visible site×role cells). On: every release's group pattern is closed
# under the attacker's integer program, so no hidden n of people can be derived to fewer than
# attack.PEOPLE_INTERVAL + 1 values from the released counts together.
ATTACKER_SECONDARY = True
# The build releases several tables over the same groups: their patterns are computed once.
_SECONDARY_CACHE: dict[tuple, list[bool]] = {}
_SECONDARY_CACHE_MAX = 64


def _secondary_people(
    groups: pd.DataFrame, n: np.ndarray, hidden: list[bool], rels: list[tuple[int, list[int]]], k: int
) -> list[bool]:
    """Secondary suppression driven by the attacker (pipelines.release.attack) on the counts of people:
    while a hidden n is pinned (its derivable range narrower than the protection interval), hide the
    smallest visible group among the released counts that pin it, then close the pattern again.

    Runs on the aggregated groups (one row per released group, never respondents), one wave at a time
    (groups of different waves share no constraint). Hiding a count only removes a constraint, so a
    figure once shown wide stays wide: after the first attack of a wave, only the figures pinned in the
    last round and the counts hidden since are examined again. The result of a wave is cached per
    (its groups, n, starting pattern, k), so the tables of one build that release the same groups of
    a wave share the work."""
    hidden = list(hidden)
    keys = _keys(groups, list(DIM_COLUMNS))
    by_wave: dict[str, list[int]] = {}
    for i, key in enumerate(keys):
        by_wave.setdefault(str(key[0]), []).append(i)
    for rows in by_wave.values():
        sub = groups.iloc[rows].reset_index(drop=True)
        sub_n = n[rows]
        sub_hidden = [hidden[i] for i in rows]
        cache_key = (k, tuple(keys[i] for i in rows), tuple(int(x) for x in sub_n), tuple(sub_hidden))
        result = _SECONDARY_CACHE.get(cache_key)
        if result is None:
            result = _secondary_wave(sub, sub_n, sub_hidden, relations(sub), k)
            if len(_SECONDARY_CACHE) >= _SECONDARY_CACHE_MAX:
                _SECONDARY_CACHE.clear()
            _SECONDARY_CACHE[cache_key] = list(result)
        for i, h in zip(rows, result, strict=True):
            hidden[i] = h
    return _protect(n, hidden, rels, k)


def _secondary_wave(
    groups: pd.DataFrame, n: np.ndarray, hidden: list[bool], rels: list[tuple[int, list[int]]], k: int
) -> list[bool]:
    """`_secondary_people` for the groups of one wave."""
    from pipelines.release import attack

    hidden = _protect(n, hidden, rels, k)
    keys = _keys(groups, list(DIM_COLUMNS))
    index = {(str(w), tuple(key)): i for i, (w, *key) in enumerate(keys)}
    wave = str(keys[0][0]) if keys else ""
    recheck: set[tuple] | None = None  # None: every figure (the first round)
    for _ in range(MAX_ATTACK_ROUNDS):
        frame = groups.assign(n=np.where(hidden, None, n).astype(object), suppressed=hidden)
        rel = attack.read_release({"rel_groups": frame}, wave)
        only = None if recheck is None else (lambda f, keep=recheck: tuple(f.key) in keep)
        pinned = attack.attack_release(rel, only=only)
        if not pinned:
            return hidden
        before = list(hidden)
        for p in pinned:
            choices = [index.get((str(s.wave), tuple(s.key))) for s in p.sources]
            choices = [
                i
                for i in choices
                if i is not None and not hidden[i] and any(x is not None for x in groups.iloc[i][list(DIMS_ONLY)])
            ]
            if not choices:  # no named source: hide the smallest visible group overlapping the figure
                choices = [
                    i for i, (_w, *key) in enumerate(keys) if not hidden[i] and _overlap(tuple(key), p.figure.key)
                ]
            if not choices:
                continue
            # The choice that hides the fewest people once the pattern is closed again (hiding a
            # small site can force its only department out with it; a finer cell often costs less).
            best = None
            for i in sorted(set(choices), key=lambda i: (n[i], i)):
                trial = list(hidden)
                trial[i] = True
                trial = _protect(n, trial, rels, k)
                cost = sum(int(n[j]) for j in range(len(trial)) if trial[j] and not hidden[j])
                if best is None or cost < best[0]:
                    best = (cost, trial)
            hidden = best[1]
        hidden = _protect(n, hidden, rels, k)
        recheck = {tuple(p.figure.key) for p in pinned}
        recheck |= {tuple(keys[i][1:]) for i in range(len(keys)) if hidden[i] and not before[i]}
    return [True] * len(hidden)


DIMS_ONLY: tuple[str, ...] = _levels.DIMENSIONS


def _overlap(a: tuple, b: tuple) -> bool:
    return all(x is None or y is None or x == y for x, y in zip(a, b, strict=True))


def release(
    df: pd.DataFrame,
    *,
    kind: str,
    k: int,
    intentions_k: int = 10,
    rates: Sequence[str] = (),
    derive: Callable[[pd.DataFrame], pd.DataFrame] | None = None,
) -> pd.DataFrame:
    """Apply the confidentiality rules to an aggregate table and return the releasable version.

    df: one row per group (wide) or per group × metric (long, has a `metric` column) with any of
    the dimension columns `wave, site, department, role` (missing ones are added as NULL; NULL
    means "all"), `n` = respondents in the group, and metric columns (see the module docstring).
    kind: "metrics", "model" (threshold k) or "intentions" (threshold max(k, intentions_k, 10)).
    k: settings.min_group_size; ValueError if below 3.
    rates: wide layout only: the proportion columns that get per-cell suppression and bands.
    derive: optional function run on the suppressed table to add figures computed from visible
    cells only (shrinkage, change since the previous wave); its result is checked again.

    Returns the table sorted by wave, level, site, department, role (and metric) with `level`,
    `n` (NULL when suppressed), `suppressed` and `display` columns, and no metric value in any
    suppressed row. Raises ValueError if the result still breaks an invariant.
    """
    k = effective_k(kind, k, intentions_k)
    long = "metric" in df.columns
    out = _prepare(df, ["metric"] if long else [])
    group_hidden = _group_pass(out, k)
    if long:
        out = _release_long(out, group_hidden, k)
    else:
        out = _release_wide(out, group_hidden, k, rates)
    out = out.drop(columns=["_mask"])
    if derive is not None:
        out = derive(out)
        _null(out, out["suppressed"].to_numpy(dtype=bool), _value_columns(out))
    problems = check_released(out, k, table="release", structure=False)
    if problems:
        raise ValueError("Release failed its own checks: " + "; ".join(map(str, problems[:5])))
    return out


def _release_long(out: pd.DataFrame, group_hidden: np.ndarray, k: int) -> pd.DataFrame:
    if "answered" not in out.columns:
        out["answered"] = out["n"]
    stat = out["stat"] if "stat" in out.columns else pd.Series("rate", index=out.index)
    is_rate = (stat == "rate").to_numpy()
    answered = out["answered"].fillna(0).astype("int64").to_numpy()
    value = out["value"].astype("float64").to_numpy() if "value" in out.columns else None
    success = np.zeros(len(out), dtype=np.int64)
    if value is not None:
        success = np.where(is_rate & ~np.isnan(value), np.rint(np.nan_to_num(value) * answered), 0)
        success = success.astype(np.int64)
    banded = np.zeros(len(out), dtype=bool)
    display = np.full(len(out), "", dtype=object)
    for i in np.flatnonzero(is_rate & (answered < HOMOGENEITY_N)):
        text = band_text(int(success[i]), int(answered[i]))
        if text is not None:
            banded[i] = True
            display[i] = text
    hidden = group_hidden | (answered < k)
    gcols = list(DIM_COLUMNS)
    groups = out.drop_duplicates(gcols)[gcols].reset_index(drop=True)
    group_rels = relations(groups)
    group_of = {key: i for i, key in enumerate(_keys(groups, gcols))}
    row_group = np.array([group_of[key] for key in _keys(out, gcols)])
    # A mean of the variable behind a rate is hidden where that rate is hidden or banded (attack 9:
    # a mean of 0.0 call nights beside "≤20%" would say 0%).
    withheld: dict[str, np.ndarray] = {}
    for _metric, rows in out.groupby("metric", sort=True).indices.items():
        rate_of = COMPANION_RATES.get(_metric)
        if rate_of in withheld:
            companion = withheld[rate_of][row_group[rows]]
            hidden[rows] |= companion
        # The same parent/child structure for every metric: map group positions to rows.
        local = np.full(len(groups), -1)
        local[row_group[rows]] = np.arange(len(rows))
        rels = [(int(local[p]), [int(local[c]) for c in ch if local[c] >= 0]) for p, ch in group_rels if local[p] >= 0]
        rate_metric = bool(is_rate[rows].all())
        hidden[rows] = _protect(
            answered[rows],
            hidden[rows],
            rels,
            k,
            success=success[rows] if rate_metric else None,
            banded=banded[rows],
        )
        if rate_metric:
            mask = np.zeros(len(groups), dtype=bool)
            mask[row_group[rows]] = hidden[rows] | banded[rows]
            withheld[_metric] = mask
    value_cols = [c for c in _value_columns(out) if c not in ("n", "answered")]
    _null(out, hidden, ["n", "answered", *value_cols])
    _null(out, banded & ~hidden, value_cols)
    if value is not None:
        show = np.flatnonzero(~hidden & ~banded)
        stat_of = stat.to_numpy(dtype=object)
        display[show] = [_fmt(v, st) for v, st in zip(value[show], stat_of[show], strict=True)]
    display[hidden] = SUPPRESSED_TEXT
    out["suppressed"] = hidden
    out["display"] = pd.array(display, dtype="str")
    return _order(out)


def _release_wide(out: pd.DataFrame, group_hidden: np.ndarray, k: int, rates: Sequence[str]) -> pd.DataFrame:
    rels = relations(out[list(DIM_COLUMNS)])
    n = out["n"].astype("int64").to_numpy()
    for rate in rates:
        den_col = f"{rate}_answered"
        den = out[den_col].fillna(0).astype("int64").to_numpy() if den_col in out else n
        value = out[rate].astype("float64").to_numpy()
        success = np.rint(np.nan_to_num(value) * den).astype(np.int64)
        display = np.full(len(out), "", dtype=object)
        banded = np.zeros(len(out), dtype=bool)
        for i in np.flatnonzero(den < HOMOGENEITY_N):
            text = band_text(int(success[i]), int(den[i])) if not np.isnan(value[i]) else None
            if text is not None:
                banded[i], display[i] = True, text
        cell_hidden = np.array(
            _protect(den, group_hidden | (den < k), rels, k, success=success, banded=banded), dtype=bool
        )
        own = [c for c in out.columns if c.startswith(f"{rate}_") and c != f"{rate}_display"]
        values = [rate, *[c for c in own if c != den_col]]
        _null(out, cell_hidden & ~group_hidden, [rate, *own])
        _null(out, banded & ~cell_hidden, values)
        for i in np.flatnonzero(~cell_hidden & ~banded):
            display[i] = _fmt(value[i], "rate")
        display[cell_hidden] = SUPPRESSED_TEXT
        out[f"{rate}_display"] = pd.array(display, dtype="str")
    value_cols = [c for c in _value_columns(out) if not c.endswith("_display")]
    _null(out, group_hidden, value_cols)
    for rate in rates:
        out.loc[group_hidden, f"{rate}_display"] = None
    out["suppressed"] = group_hidden
    out["display"] = pd.array(np.where(group_hidden, SUPPRESSED_TEXT, ""), dtype="str")
    return _order(out)


def _order(out: pd.DataFrame) -> pd.DataFrame:
    out["n"] = out["n"].astype("Int64")
    front = [*DIM_COLUMNS, "level", "n", "suppressed"]
    return out[front + [c for c in out.columns if c not in front]]


# ------------------------------------------------------------------------------------------
# Checks on released tables (used by release itself and by audit)
# ------------------------------------------------------------------------------------------
def check_released(df: pd.DataFrame, k: int, *, table: str, structure: bool = True) -> list[Problem]:
    """Everything that can be verified from a released table alone.

    - the required columns are there; no visible n (or answered) below k;
    - no value in a suppressed row;
    - no suppressed cell recoverable from a visible parent: parent minus visible children must
      leave 0 or at least k, and never a single hidden child with nothing else unexplained;
      a suppressed parent must not have all its children visible;
    - no small homogeneous rate exposed (answered < 10 and 0%/100%, or an interval reaching 0 or
      1), and no small homogeneous remainder of a visible parent.

    The audit cannot see a parent's remainder (people in no released child), so it treats a lone
    suppressed child as recoverable; `release` itself, which knows it, passes structure=False.
    """
    problems: list[Problem] = []
    missing = [c for c in (*DIM_COLUMNS, "n", "suppressed") if c not in df.columns]
    if missing:
        return [Problem(table, "columns", f"missing required column(s) {missing}")]
    if df.empty:
        return problems
    supp = df["suppressed"].fillna(True).to_numpy(dtype=bool)

    def where(i: int) -> str:
        row = df.iloc[i]
        parts = [f"{c}={row[c]}" for c in (*DIM_COLUMNS, "metric") if c in df and pd.notna(row[c])]
        return ", ".join(parts) or "organisation"

    n = df["n"]
    for i in np.flatnonzero(~supp & (n.isna() | (n.fillna(0) < k)).to_numpy()):
        problems.append(Problem(table, "min_group", f"visible n={n.iloc[i]} < k={k} at {where(i)}"))
    if "answered" in df.columns:
        ans = df["answered"]
        for i in np.flatnonzero(~supp & (ans.notna() & (ans.fillna(0) < k)).to_numpy()):
            problems.append(Problem(table, "min_group", f"visible answered={ans.iloc[i]} < k at {where(i)}"))
    for col in [c for c in df.columns if c not in KEY_COLUMNS]:
        bad = supp & df[col].notna().to_numpy()
        for i in np.flatnonzero(bad)[:3]:
            problems.append(Problem(table, "value_in_suppressed", f"{col} shown at {where(i)}"))

    for rate in [c for c in df.columns if f"{c}_display" in df.columns]:
        den_col = f"{rate}_answered" if f"{rate}_answered" in df.columns else "n"
        small = (df[den_col].astype("Float64") < HOMOGENEITY_N).fillna(False).to_numpy()
        value = df[rate].astype("Float64")
        extreme = ((value <= 0) | (value >= 1)).fillna(False).to_numpy()
        for i in np.flatnonzero(small & extreme):
            problems.append(Problem(table, "homogeneity", f"{rate} 0%/100% exposed at {where(i)}"))
    if not structure:
        return problems
    long = "metric" in df.columns
    parts = df.groupby("metric", sort=True).indices.values() if long else [np.arange(len(df))]
    count_col = "answered" if long and "answered" in df.columns else "n"
    for rows in parts:
        sub = df.iloc[rows].reset_index(drop=True)
        rels = relations(sub)
        count = sub[count_col].fillna(0).astype("int64").to_numpy()
        hid = sub["suppressed"].fillna(True).to_numpy(dtype=bool)
        for p, ch in rels:
            kids_hidden = [c for c in ch if hid[c]]
            if hid[p]:
                if not kids_hidden:
                    problems.append(
                        Problem(table, "recoverable", f"suppressed {where(rows[p])} = sum of visible parts")
                    )
                continue
            diff = count[p] - sum(count[c] for c in ch if not hid[c])
            if kids_hidden and (0 < diff < k or (diff > 0 and len(kids_hidden) == 1)):
                problems.append(
                    Problem(
                        table,
                        "recoverable",
                        f"{where(rows[p])} minus visible parts leaves {diff} in {len(kids_hidden)} suppressed cell(s)",
                    )
                )
        if long or "value" in sub.columns:
            problems += _check_homogeneity(sub, rels, table, lambda i, rows=rows: where(rows[i]))
    return problems


def _check_homogeneity(
    sub: pd.DataFrame, rels: list[tuple[int, list[int]]], table: str, where: Callable[[int], str]
) -> list[Problem]:
    if "value" not in sub.columns:
        return []
    if "stat" in sub.columns and not (sub["stat"] == "rate").all():
        return []
    den = (sub["answered"] if "answered" in sub.columns else sub["n"]).astype("Float64")
    value = sub["value"].astype("Float64")
    lo = sub["lo"].astype("Float64") if "lo" in sub.columns else None
    hi = sub["hi"].astype("Float64") if "hi" in sub.columns else None
    problems = []
    small = (den < HOMOGENEITY_N).fillna(False)
    extreme = ((value <= 0) | (value >= 1)).fillna(False)
    if lo is not None and hi is not None:
        extreme |= ((lo <= 0) | (hi >= 1)).fillna(False)
    for i in np.flatnonzero((small & extreme).to_numpy()):
        problems.append(Problem(table, "homogeneity", f"0%/100% exposed in a small cell at {where(i)}"))
    den_a = den.to_numpy(dtype="float64", na_value=np.nan)
    succ = np.rint(value.to_numpy(dtype="float64", na_value=np.nan) * den_a)
    exact = sub["suppressed"].eq(False).to_numpy() & value.notna().to_numpy()
    for p, ch in rels:
        if not exact[p]:
            continue
        known = [c for c in ch if exact[c]]
        rest_n = den_a[p] - den_a[known].sum()
        rest_s = succ[p] - succ[known].sum()
        if 0 < rest_n < HOMOGENEITY_N and (rest_s <= 0 or rest_s >= rest_n):
            problems.append(Problem(table, "homogeneity", f"remainder of {where(p)} is small and homogeneous"))
    return problems


def _manifest(con: duckdb.DuckDBPyConnection) -> dict[str, str]:
    exists = con.execute(
        "select count(*) from information_schema.tables where table_name = 'release_manifest'"
    ).fetchone()[0]
    if not exists:
        return {}
    return dict(con.execute("select table_name, kind from release_manifest").fetchall())


def attack_problems(
    con: duckdb.DuckDBPyConnection, *, waves: Iterable[str] | None = None, budget: float | None = None
) -> list[Problem]:
    """The attacker's findings (pipelines.release.attack) as Problems: every pinned protected figure,
    with its derivable range and the released figures it is derived from; and, when a time budget ran
    out, an `unchecked` problem per wave naming what was not examined (not examined is not passed)."""
    from pipelines.release import attack

    report = attack.attack_stored(con, waves=waves, budget=budget)
    out = [Problem(p.figure.table, "pinned", str(p)) for p in report.pinned]
    for wave, blocks in report.unchecked.items():
        names = sorted({f for fams in blocks for f in fams} | ({"people"} if [] in blocks else set()))
        shown = ", ".join(names[:6]) + (f" (and {len(names) - 6} more)" if len(names) > 6 else "")
        out.append(
            Problem(
                "release",
                "unchecked",
                f"wave {wave}: {len(blocks)} block(s) of figures not examined within the {budget:g} s budget: {shown}",
            )
        )
    return out


def categories(problems: Iterable[Problem]) -> dict[str, int]:
    """How many problems of each category: "<table> <rule>" and, for pinned figures, their kind
    (hidden n, hidden count, band)."""
    out: dict[str, int] = {}
    for p in problems:
        cat = f"{p.table} {p.rule}"
        if p.rule == "pinned":
            kind = next((k for k in ("hidden n", "hidden count", "band") if f"): {k}" in p.detail), "")
            cat += f" ({kind})" if kind else ""
        out[cat] = out.get(cat, 0) + 1
    return dict(sorted(out.items()))


def audit(
    con: duckdb.DuckDBPyConnection,
    *,
    attack: bool = False,
    waves: Iterable[str] | None = None,
    budget: float | None = None,
) -> list[Problem]:
    """Check every released table (`rel_*`) in the warehouse; an empty list means all is well.

    attack=True also runs the attacker's integer program (`attack_problems`, optionally only on
    `waves` and within `budget` seconds per wave).

    Uses the thresholds in the warehouse settings; tables registered with kind "intentions" in
    `release_manifest` (or named like intentions/reasons) are held to the intentions threshold.
    """
    k, k_int = thresholds(con)
    kinds = _manifest(con)
    names = [
        r[0]
        for r in con.execute(
            "select table_name from information_schema.tables "
            "where table_name like 'rel\\_%' escape '\\' order by table_name"
        ).fetchall()
    ]
    problems: list[Problem] = []
    for name in names:
        kind = kinds.get(name) or ("intentions" if ("intention" in name or "reason" in name) else "metrics")
        df = con.execute(f'select * from "{name}"').df()  # name read from the catalog
        problems += check_released(df, k_int if kind == "intentions" else k, table=name)
    if attack:
        problems += attack_problems(con, waves=waves, budget=budget)
    return problems
