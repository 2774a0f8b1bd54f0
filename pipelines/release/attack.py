"""The attacker: what an adversary can work out from the STORED release, by integer programming.

The release of one wave is read as a linear system over the finest cells (site × department × role):

- unknown whole numbers of people per cell, `N_c` (at least 1 where a released row lists the cell,
  0 where no row does: the cell does not exist);
- per population behind a table (the people answering a metric, the leave-path question, the
  reasons question): unknown `a_c` with 0 ≤ a_c ≤ N_c;
- per rate ("family": a metric, a leave path, a reason): unknown successes 0 ≤ s_c ≤ a_c; leave
  paths are exclusive, so the paths of a cell add up to its path population;
- for the means that sit beside a rate of the same variable (call nights beside "4+ call nights",
  the Mini-Z index beside "joyful"): the unknown sum T_c of the variable, with
  xmin·(a − s) + t·s ≤ T ≤ (t − 1)·(a − s) + xmax·s.

Every released figure is a constraint over the cells it aggregates: a visible n or answered is
Σ = n; a visible rate r is Σ s − r·Σ a = 0 (the stored float, within rounding); a band ("≤20%",
"≥80%" in `display`) is an inequality; a pooled driver share of several items is
Σ_items Σ s − r·Σ_items Σ a = 0; a visible mean m is Σ T = m·Σ a.

For every protected figure (a hidden n, a hidden rate's successes and failures, a banded rate's
successes) the attacker computes the tightest [min, max] by `scipy.optimize.milp` (HiGHS). The
protection intervals (a figure is *pinned* when its range is narrower):

- a hidden count of people: max − min ≥ PEOPLE_INTERVAL (2): at least three possible sizes;
- a hidden rate: neither its successes nor its failures exact (max > min for both), so no
  hidden cell can be shown to be all or none, or "exactly 3 of them";
- a banded rate: its successes not exact, so the band is never pinned to 0, to n, or to one value.

Speed: one wave at a time and one *block* at a time (families linked by pooled shares, companions
or exclusivity; every block carries the people counts). Ranges are batched: a few solutions of
summed objectives witness wide ranges for most figures at once; only figures not yet witnessed
wide get their own min/max solves. It works on aggregated cells (hundreds), never on respondents.
"""

from __future__ import annotations

import math
import re
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy import sparse
from scipy.optimize import Bounds, LinearConstraint, linprog, milp

from pipelines.contract import levels

DIMS: tuple[str, ...] = levels.DIMENSIONS
PEOPLE_INTERVAL = 2  # a hidden count must stay uncertain over at least 3 values
RATE_INTERVAL = 1  # a hidden or banded rate's successes (and failures) must not be exact
BIG = 1_000_000
BATCH_ROUNDS = 8  # batched random-direction solves before figure-by-figure solves
BATCH_MIN = 8  # fewer open figures than this go straight to their own solves
TIME_LIMIT = 2.0  # seconds per solve; a solve that runs out keeps HiGHS's bound (never narrower)
PEOPLE = "people"
# Tables whose `n` counts respondents (the same people as rel_groups) when their visible n agree.
PEOPLE_TABLES: tuple[str, ...] = ("rel_groups", "rel_unit_risk", "rel_driver_importance")
# Rates whose variable also has a released mean: (mean metric, threshold, min, max) of the variable.
COMPANIONS: dict[str, tuple[str, float, float, float]] = {
    "call_heavy": ("call_nights", 4.0, 0.0, 31.0),
    "joyful": ("mini_z", 40.0, 10.0, 50.0),
}
_BAND = re.compile(r"^\s*([≤≥])\s*(\d+(?:\.\d+)?)\s*%\s*$")


# ------------------------------------------------------------------------------------------
# Facts read from released tables
# ------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Count:
    """A released count over a group: Σ pop = value (None when hidden: a protected figure)."""

    table: str
    wave: str
    key: tuple  # (site, department, role), None = all
    pop: str
    value: int | None
    column: str = "n"


@dataclass(frozen=True)
class Share:
    """A released rate over a group: Σ s(families) − q·Σ a(families) within [lo, hi].

    kind "exact" (lo = hi = 0 with q the rate), "band" (one side open), "hidden" (no constraint,
    a protected figure), "mean" (Σ T = q·Σ a, for a companion mean)."""

    table: str
    wave: str
    key: tuple
    families: tuple[str, ...]
    kind: str
    q: float = 0.0
    upper: bool = True  # band: ≤ (True) or ≥ (False)
    column: str = ""
    display: str = ""
    bound: int | None = None  # the whole-number form when the denominator is visible: Σ s = / ≤ / ≥ bound


@dataclass
class Release:
    """The facts of one wave: counts, shares, the families' populations and the cells."""

    wave: str
    cells: list[tuple]
    counts: list[Count] = field(default_factory=list)
    shares: list[Share] = field(default_factory=list)
    family_pop: dict[str, str] = field(default_factory=dict)  # family -> population of its a
    exclusive: dict[str, list[str]] = field(default_factory=dict)  # population -> families adding up to it


def _key(row: Mapping) -> tuple:
    return tuple(None if (row[d] is None or row[d] != row[d]) else str(row[d]) for d in DIMS)


def _where(key: tuple) -> str:
    parts = [str(v) for v in key if v is not None]
    return "/".join(parts) if parts else "organisation"


def _level(key: tuple) -> str:
    return levels.level_of(*key)


def parse_band(text: object) -> tuple[bool, float] | None:
    """(upper?, fraction) of a band text such as "≤20%" or "≥80%", else None."""
    if not isinstance(text, str):
        return None
    m = _BAND.match(text)
    if not m:
        return None
    return m.group(1) == "≤", float(m.group(2)) / 100.0


def _rows(df: pd.DataFrame) -> list[dict]:
    return df.astype(object).where(df.notna(), None).to_dict("records")


def _visible(row: Mapping) -> bool:
    s = row.get("suppressed")
    return s is not None and not bool(s)


def metric_aliases() -> dict[str, str]:
    """Metric name -> canonical name (metrics scored by the same expression are one figure)."""
    from pipelines.metrics import catalogue as released

    first: dict[str, str] = {}
    out = {}
    for m in released.METRICS:
        out[m.name] = first.setdefault(m.expr, m.name)
    return out


def pooled_items(call_threshold: float | None = 4.0) -> dict[str, tuple[str, ...]]:
    """rel_driver_importance `<group>_unfavourable` -> the rel_metrics metrics of its items."""
    from pipelines.metrics import catalogue as released
    from pipelines.models import drivers

    out = {}
    for g in drivers.DRIVER_GROUPS:
        items = tuple(f"unfav_{i}" for i in g.items)
        if g.key == "call":
            items = ("call_heavy",) if call_threshold == released.CALL_HEAVY_AT else ()
        if items:
            out[f"{g.key}_unfavourable"] = items
    return out


def read_release(tables: Mapping[str, pd.DataFrame], wave: str, *, call_threshold: float | None = 4.0) -> Release:
    """The facts of one wave from released frames (as stored)."""
    frames = {}
    for name, df in tables.items():
        if df is None or df.empty or "wave" not in df.columns:
            continue
        sub = df[df["wave"].astype("str").fillna("") == wave]
        if not sub.empty:
            frames[name] = _rows(sub)
    cells = sorted(
        {_key(r) for rows in frames.values() for r in rows if all(r.get(d) is not None for d in DIMS)},
        key=lambda k: tuple(str(v) for v in k),
    )
    rel = Release(wave=wave, cells=cells)
    aliases = metric_aliases()
    # Counts of people: rel_groups, and other tables whose visible n agree with it.
    base = {(_key(r)): r["n"] for r in frames.get("rel_groups", []) if _visible(r)}
    for name in PEOPLE_TABLES:
        rows = frames.get(name)
        if not rows:
            continue
        vis = {_key(r): r["n"] for r in rows if _visible(r)}
        same = name == "rel_groups" or not base or all(base.get(k, v) == v for k, v in vis.items())
        pop = PEOPLE if same else f"pop:{name}"
        for r in rows:
            rel.counts.append(Count(name, wave, _key(r), pop, int(r["n"]) if _visible(r) else None))
    # rel_metrics (long)
    for r in frames.get("rel_metrics", []):
        metric = aliases.get(r["metric"], r["metric"])
        key = _key(r)
        fam = f"m:{metric}"
        rel.family_pop[fam] = f"ans:{metric}"
        stat = r.get("stat") or "rate"
        if _visible(r) and r.get("n") is not None:
            rel.counts.append(Count("rel_metrics", wave, key, PEOPLE, int(r["n"])))
        if stat != "rate":
            companion = next((c for c, spec in COMPANIONS.items() if spec[0] == metric), None)
            if companion is None:
                continue
            fam = f"m:{aliases.get(companion, companion)}"
            rel.family_pop[fam] = f"ans:{aliases.get(companion, companion)}"
            if _visible(r) and r.get("answered") is not None:
                rel.counts.append(Count("rel_metrics", wave, key, rel.family_pop[fam], int(r["answered"]), "answered"))
                if r.get("value") is not None:
                    rel.shares.append(
                        Share("rel_metrics", wave, key, (fam,), "mean", float(r["value"]), column=r["metric"])
                    )
            continue
        if not _visible(r):
            rel.shares.append(Share("rel_metrics", wave, key, (fam,), "hidden", column=r["metric"]))
            continue
        if r.get("answered") is not None:
            rel.counts.append(Count("rel_metrics", wave, key, rel.family_pop[fam], int(r["answered"]), "answered"))
        if r.get("value") is not None:
            rel.shares.append(Share("rel_metrics", wave, key, (fam,), "exact", float(r["value"]), column=r["metric"]))
        else:
            band = parse_band(r.get("display"))
            if band is not None:
                rel.shares.append(
                    Share("rel_metrics", wave, key, (fam,), "band", band[1], band[0], r["metric"], r.get("display"))
                )
    # Driver shares (rel_driver_importance `<group>_unfavourable`): a share of PEOPLE. A one-item
    # group's share is that item's rel_metrics rate (the same people, the same answers); a group of
    # several items is its own variable (unfavourable on at least half of them) over its own
    # population (`<group>_unfavourable_answered`), protected like any other rate.
    pooled = pooled_items(call_threshold)
    for r in frames.get("rel_driver_importance", []):
        key = _key(r)
        for col, items in pooled.items():
            if col not in r:
                continue
            if len(items) == 1:
                fam = f"m:{aliases.get(items[0], items[0])}"
                rel.family_pop.setdefault(fam, "ans:" + fam[2:])
                own = False
            else:
                fam = f"d:{col}"
                rel.family_pop[fam] = f"ans:{fam}"
                own = True
            if not _visible(r):
                if own:
                    rel.shares.append(Share("rel_driver_importance", wave, key, (fam,), "hidden", column=col))
                continue
            answered = r.get(f"{col}_answered")
            if own and answered is not None:
                rel.counts.append(
                    Count("rel_driver_importance", wave, key, rel.family_pop[fam], int(answered), f"{col}_answered")
                )
            if r.get(col) is not None:
                rel.shares.append(Share("rel_driver_importance", wave, key, (fam,), "exact", float(r[col]), column=col))
            elif (band := parse_band(r.get(f"{col}_display"))) is not None:
                rel.shares.append(
                    Share(
                        "rel_driver_importance",
                        wave,
                        key,
                        (fam,),
                        "band",
                        band[1],
                        band[0],
                        col,
                        r.get(f"{col}_display"),
                    )
                )
            elif own:
                rel.shares.append(Share("rel_driver_importance", wave, key, (fam,), "hidden", column=col))
    # Leave paths (exclusive) and reasons: wide, n = the question's population, <x>_count.
    for name, prefix, exclusive in (("rel_leave_paths", "path_", True), ("rel_leave_reasons", "reason_", False)):
        rows = frames.get(name)
        if not rows:
            continue
        pop = f"pop:{name}"
        codes = [c[: -len("_count")] for c in rows[0] if c.startswith(prefix) and c.endswith("_count")]
        for code in codes:
            rel.family_pop[f"{name}:{code}"] = pop
        if exclusive:
            rel.exclusive[pop] = [f"{name}:{c}" for c in codes]
        for r in rows:
            key = _key(r)
            if not _visible(r):
                rel.counts.append(Count(name, wave, key, pop, None))
                for code in codes:
                    rel.shares.append(Share(name, wave, key, (f"{name}:{code}",), "hidden", column=code))
                continue
            rel.counts.append(Count(name, wave, key, pop, int(r["n"])))
            for code in codes:
                fam = (f"{name}:{code}",)
                if r.get(f"{code}_count") is not None:
                    q = float(r[f"{code}_count"]) / float(r["n"]) if r["n"] else 0.0
                    rel.shares.append(Share(name, wave, key, fam, "exact", q, column=code))
                elif (band := parse_band(r.get(f"{code}_display"))) is not None:
                    rel.shares.append(
                        Share(name, wave, key, fam, "band", band[1], band[0], code, r.get(f"{code}_display"))
                    )
                else:
                    rel.shares.append(Share(name, wave, key, fam, "hidden", column=code))
    return _integer_forms(rel)


def _integer_forms(rel: Release) -> Release:
    """Where a share's denominator is released too, state it in whole numbers (Σ s = round(q·A))."""
    known: dict[tuple[str, tuple], int] = {}
    for c in rel.counts:
        if c.value is not None:
            known[(c.pop, c.key)] = c.value
    out = []
    for sh in rel.shares:
        if sh.kind in ("exact", "band"):
            dens = [known.get((rel.family_pop.get(f, ""), sh.key)) for f in sh.families]
            if all(d is not None for d in dens):
                total = sum(dens) * sh.q
                if sh.kind == "exact":
                    bound = round(total)
                elif sh.upper:
                    bound = math.floor(total + 1e-9)
                else:
                    bound = math.ceil(total - 1e-9)
                sh = Share(
                    sh.table, sh.wave, sh.key, sh.families, sh.kind, sh.q, sh.upper, sh.column, sh.display, bound
                )
        out.append(sh)
    rel.shares = out
    return rel


# ------------------------------------------------------------------------------------------
# The integer program
# ------------------------------------------------------------------------------------------
class System:
    """Integer variables with bounds and labelled linear rows lo ≤ a·x ≤ hi."""

    def __init__(self) -> None:
        self.lb: list[float] = []
        self.ub: list[float] = []
        self.integer: list[int] = []
        self.rows: list[tuple[dict[int, float], float, float, object]] = []
        self._compiled = None

    def var(self, lb: float = 0, ub: float = BIG, integer: bool = True) -> int:
        self.lb.append(lb)
        self.ub.append(ub)
        self.integer.append(1 if integer else 0)
        self._compiled = None
        return len(self.lb) - 1

    def add(self, coeffs: Mapping[int, float], lo: float, hi: float, label: object = None) -> None:
        self.rows.append((dict(coeffs), lo, hi, label))
        self._compiled = None

    def compile(self) -> tuple:
        if self._compiled is None:
            data, ri, ci = [], [], []
            for i, (co, _, _, _) in enumerate(self.rows):
                for j, v in co.items():
                    ri.append(i)
                    ci.append(j)
                    data.append(v)
            A = sparse.csr_array((data, (ri, ci)), shape=(len(self.rows), len(self.lb)))
            lo = np.array([r[1] for r in self.rows], dtype=float)
            hi = np.array([r[2] for r in self.rows], dtype=float)
            self._compiled = (A, lo, hi)
        return self._compiled

    def optimise(self, c: np.ndarray, *, relax: bool = False) -> tuple[float, np.ndarray] | None:
        """min c·x; None when infeasible. Out of time: HiGHS's bound and its best solution."""
        A, lo, hi = self.compile()
        cons = [LinearConstraint(A, lo, hi)] if A.shape[0] else []
        res = milp(
            c,
            integrality=np.zeros(len(self.lb)) if relax else np.array(self.integer),
            bounds=Bounds(np.array(self.lb), np.array(self.ub)),
            constraints=cons,
            options={"disp": False, "time_limit": TIME_LIMIT, "presolve": True},
        )
        if res.x is None:
            return None
        value = float(res.fun)
        if res.status != 0 and getattr(res, "mip_dual_bound", None) is not None:
            value = float(res.mip_dual_bound)
        return value, res.x

    def _split(self) -> tuple:
        """The rows as equalities and one-sided inequalities for linprog (cached with compile)."""
        if getattr(self, "_split_cache", None) is None or self._split_cache[0] is not self._compiled:
            A, lo, hi = self.compile()
            eq = lo == hi
            up = np.isfinite(hi) & ~eq
            dn = np.isfinite(lo) & ~eq
            A_ub = sparse.vstack([A[up], -A[dn]]).tocsr() if (up.any() or dn.any()) else None
            b_ub = np.concatenate([hi[up], -lo[dn]]) if A_ub is not None else None
            ub_rows = np.concatenate([np.flatnonzero(up), np.flatnonzero(dn)])
            bounds = np.column_stack([np.array(self.lb, dtype=float), np.array(self.ub, dtype=float)])
            self._split_cache = (self._compiled, A[eq].tocsr(), lo[eq], np.flatnonzero(eq), A_ub, b_ub, ub_rows, bounds)
        return self._split_cache[1:]

    def explain(self, target: Mapping[int, float], maximise: bool) -> list[tuple[float, object]] | None:
        """The LP relaxation's dual: which released figures, with which signs, bound the target."""
        A_eq, b_eq, eq_rows, A_ub, b_ub, ub_rows, bounds = self._split()
        c = np.zeros(len(self.lb))
        for j, v in target.items():
            c[j] = -v if maximise else v
        has_eq = len(eq_rows) > 0
        try:
            res = linprog(
                c,
                A_ub=A_ub,
                b_ub=b_ub,
                A_eq=A_eq if has_eq else None,
                b_eq=b_eq if has_eq else None,
                bounds=bounds,
                method="highs",
            )
        except ValueError:
            return None
        if res.status != 0:
            return None
        out = []
        for i, m in zip(eq_rows, res.eqlin.marginals if has_eq else [], strict=False):
            if abs(m) > 1e-7:
                out.append((-m if maximise else m, self.rows[i][3]))
        if A_ub is not None:
            for i, m in zip(ub_rows, res.ineqlin.marginals, strict=False):
                if abs(m) > 1e-7:
                    out.append((-m if maximise else m, self.rows[i][3]))
        return out


@dataclass(frozen=True)
class Figure:
    """A protected figure: what it is, where, and the linear expression an attacker bounds."""

    table: str
    wave: str
    key: tuple
    column: str  # "n" for a count, else the metric / column
    kind: str  # people | successes | failures | band
    display: str = ""
    family: str = ""

    @property
    def need(self) -> int:
        return PEOPLE_INTERVAL if self.kind == "people" else RATE_INTERVAL

    def describe(self) -> str:
        what = {
            "people": "hidden n",
            "successes": "hidden count",
            "failures": "hidden count (not)",
            "band": "band",
            "departures": "hidden expected departures",
        }
        extra = f" {self.display}" if self.display else ""
        return f"{self.table} {self.column} at {_where(self.key)} ({_level(self.key)}, wave {self.wave}): {what[self.kind]}{extra}"


@dataclass(frozen=True)
class Pinned:
    """A figure the attacker pins: its derivable range and how it is derived."""

    figure: Figure
    lo: int
    hi: int
    derivation: str
    sources: tuple  # the visible released figures (labels) that pin it, for secondary suppression
    block: tuple[str, ...] = ()  # the families of the system it was pinned in ([] = the people counts)

    def __str__(self) -> str:
        rng = f"exactly {self.lo}" if self.lo == self.hi else f"between {self.lo} and {self.hi}"
        return f"{self.figure.describe()} is {rng} from {self.derivation}"


@dataclass(frozen=True)
class Label:
    """A constraint's origin: which released figure (table, wave, group, column) and how big it is."""

    table: str
    wave: str
    key: tuple
    column: str
    size: int | None = None

    def __str__(self) -> str:
        col = "" if self.column == "n" else f" {self.column}"
        return f"{self.table}{col} {_level(self.key)} {_where(self.key)}"


class _Block:
    """The system of one wave and one block of families."""

    def __init__(self, rel: Release, families: Iterable[str]):
        self.rel = rel
        self.families = sorted(families)
        self.sys = System()
        cells = rel.cells
        self.cell_index = {c: i for i, c in enumerate(cells)}
        site = np.array([c[0] for c in cells], dtype=object)
        dept = np.array([c[1] for c in cells], dtype=object)
        role = np.array([c[2] for c in cells], dtype=object)
        self._cols = (site, dept, role)
        ub = np.full(len(cells), float(BIG))
        for c in rel.counts:
            if c.pop == PEOPLE and c.value is not None:
                idx = self.members(c.key)
                ub[idx] = np.minimum(ub[idx], c.value)
        self.N = [self.sys.var(1, max(1.0, ub[i])) for i in range(len(cells))]
        self.pop: dict[str, list[int]] = {PEOPLE: self.N}
        pops = {PEOPLE} | {c.pop for c in rel.counts if c.pop != PEOPLE and self._needs_pop(c.pop)}
        pops |= {rel.family_pop[f] for f in self.families if f in rel.family_pop}
        for p in sorted(pops - {PEOPLE}):
            self.pop[p] = [self.sys.var(0, self.sys.ub[self.N[i]]) for i in range(len(cells))]
            for i in range(len(cells)):
                self.sys.add({self.pop[p][i]: 1, self.N[i]: -1}, -np.inf, 0)
        self.s: dict[str, list[int]] = {}
        for f in self.families:
            a = self.pop[rel.family_pop[f]]
            self.s[f] = [self.sys.var(0, self.sys.ub[a[i]]) for i in range(len(cells))]
            for i in range(len(cells)):
                self.sys.add({self.s[f][i]: 1, a[i]: -1}, -np.inf, 0)
        for pop, fams in rel.exclusive.items():
            if pop in self.pop and all(f in self.s for f in fams):
                for i in range(len(cells)):
                    co = {self.s[f][i]: 1 for f in fams}
                    co[self.pop[pop][i]] = -1
                    self.sys.add(co, 0, 0)
        self.T: dict[str, list[int]] = {}
        for f in self.families:
            metric = f[2:] if f.startswith("m:") else None
            if metric in COMPANIONS:
                _, t, xmin, xmax = COMPANIONS[metric]
                a, s = self.pop[rel.family_pop[f]], self.s[f]
                self.T[f] = [self.sys.var(-BIG * 50, BIG * 50, integer=False) for _ in cells]
                for i in range(len(cells)):
                    # T ≥ xmin·(a−s) + t·s and T ≤ (t−1)·(a−s) + xmax·s
                    self.sys.add({self.T[f][i]: 1, a[i]: -xmin, s[i]: xmin - t}, 0, np.inf)
                    self.sys.add({self.T[f][i]: 1, a[i]: -(t - 1), s[i]: (t - 1) - xmax}, -np.inf, 0)
        self.figures: list[tuple[Figure, dict[int, float]]] = []
        seen_counts = set()
        for c in rel.counts:
            if c.pop not in self.pop:
                continue
            idx = self.members(c.key)
            var = [self.pop[c.pop][i] for i in idx]
            if c.value is not None:
                ident = (c.pop, c.key, c.value)
                if ident in seen_counts:
                    continue
                seen_counts.add(ident)
                self.sys.add({v: 1 for v in var}, c.value, c.value, Label(c.table, c.wave, c.key, c.column, c.value))
            elif (c.pop == PEOPLE) == (not self.families) and (c.pop == PEOPLE or c.pop.startswith("pop:")):
                if not var:
                    continue
                fig = Figure(c.table, c.wave, c.key, "n", "people")
                self.figures.append((fig, {v: 1.0 for v in var}))
        for sh in rel.shares:
            if not all(f in self.s for f in sh.families):
                continue
            idx = self.members(sh.key)
            if not idx:
                continue
            s_co: dict[int, float] = {}
            a_co: dict[int, float] = {}
            for f in sh.families:
                for i in idx:
                    s_co[self.s[f][i]] = s_co.get(self.s[f][i], 0) + 1.0
                    a_var = self.pop[rel.family_pop[f]][i]
                    a_co[a_var] = a_co.get(a_var, 0) + 1.0
            label = Label(sh.table, sh.wave, sh.key, sh.column)
            if sh.kind in ("exact", "band") and sh.bound is not None:
                lo, hi = {"exact": (sh.bound, sh.bound)}.get(sh.kind) or (
                    (-np.inf, sh.bound) if sh.upper else (sh.bound, np.inf)
                )
                self.sys.add(s_co, lo, hi, label)
                if sh.kind == "band" and _protected_band(sh):
                    self.figures.append((Figure(sh.table, sh.wave, sh.key, sh.column, "band", sh.display), s_co))
            elif sh.kind == "exact":
                co = dict(s_co)
                for v, w in a_co.items():
                    co[v] = co.get(v, 0) - sh.q * w
                tol = 1e-6 * max(1.0, len(idx) * len(sh.families))
                self.sys.add(co, -tol, tol, label)
            elif sh.kind == "mean":
                f = sh.families[0]
                if f not in self.T:
                    continue
                co = {self.T[f][i]: 1.0 for i in idx}
                for v, w in a_co.items():
                    co[v] = co.get(v, 0) - sh.q * w
                tol = 1e-6 * max(1.0, len(idx))  # the stored mean is exact to float precision
                self.sys.add(co, -tol, tol, label)
            elif sh.kind == "band":
                co = dict(s_co)
                for v, w in a_co.items():
                    co[v] = co.get(v, 0) - sh.q * w
                if sh.upper:
                    self.sys.add(co, -np.inf, 1e-9, label)
                else:
                    self.sys.add(co, -1e-9, np.inf, label)
                if _protected_band(sh):
                    self.figures.append((Figure(sh.table, sh.wave, sh.key, sh.column, "band", sh.display), s_co))
            elif sh.kind == "hidden" and len(sh.families) == 1:
                self.figures.append(
                    (Figure(sh.table, sh.wave, sh.key, sh.column, "successes", family=sh.families[0]), s_co)
                )
                fail = {v: w for v, w in a_co.items()}
                for v, w in s_co.items():
                    fail[v] = fail.get(v, 0) - w
                self.figures.append(
                    (Figure(sh.table, sh.wave, sh.key, sh.column, "failures", family=sh.families[0]), fail)
                )

    def _needs_pop(self, pop: str) -> bool:
        return any(self.rel.family_pop.get(f) == pop for f in self.families)

    def members(self, key: tuple) -> list[int]:
        """The cells a group covers (cached on the release: every block of a wave has the same cells)."""
        cache = self.rel.__dict__.setdefault("_members", {})
        found = cache.get(key)
        if found is None:
            mask = np.ones(len(self.rel.cells), dtype=bool)
            for col, v in zip(self._cols, key, strict=True):
                if v is not None:
                    mask &= col == v
            found = cache[key] = np.flatnonzero(mask).tolist()
        return found


def _protected_band(sh: Share) -> bool:
    """A band is a protected figure, except a one-item driver share's band: the same band of the same
    people is protected as the item's rel_metrics figure."""
    return sh.table != "rel_driver_importance" or any(f.startswith("d:") for f in sh.families)


def blocks_of(rel: Release, *, people: bool = True) -> list[list[str]]:
    """Families linked by pooled shares or exclusivity form one block; [] = the people block."""
    parent: dict[str, str] = {f: f for f in rel.family_pop}

    def find(x: str) -> str:
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    def union(a: str, b: str) -> None:
        parent[find(a)] = find(b)

    for sh in rel.shares:
        for f in sh.families[1:]:
            union(sh.families[0], f)
    for fams in rel.exclusive.values():
        for f in fams[1:]:
            union(fams[0], f)
    groups: dict[str, list[str]] = {}
    for f in rel.family_pop:
        groups.setdefault(find(f), []).append(f)
    # Only blocks with something to protect.
    protected = {f for sh in rel.shares if sh.kind in ("hidden", "band") for f in sh.families}
    pops_hidden = {c.pop for c in rel.counts if c.value is None}
    out = [[]] if people else []
    for fams in sorted(groups.values()):
        if protected & set(fams) or pops_hidden & {rel.family_pop[f] for f in fams}:
            out.append(sorted(fams))
    return out


def _ranges(
    block: _Block, figures: list[tuple[Figure, dict[int, float]]], relax: bool = False
) -> list[tuple[float, float, bool]]:
    """(lo, hi, exact?) per figure: exact bounds where needed, else witnessed values wide enough.

    relax: the linear relaxation instead of the integer program (fast). Its ranges are never
    narrower than the integer program's, so a figure it pins is pinned; one it leaves wide may
    still be pinned by whole-number reasoning (the joint pass confirms with the integer program)."""
    sys = block.sys
    nvar = len(sys.lb)
    if not figures:
        return []
    T = np.zeros((len(figures), nvar))
    for i, (_, co) in enumerate(figures):
        for j, v in co.items():
            T[i, j] = v
    need = np.array([f.need for f, _ in figures], dtype=float)
    lo_seen = np.full(len(figures), np.inf)
    hi_seen = np.full(len(figures), -np.inf)

    def observe(x: np.ndarray) -> None:
        vals = T @ x if relax else np.rint(T @ x)
        np.minimum(lo_seen, vals, out=lo_seen)
        np.maximum(hi_seen, vals, out=hi_seen)

    first = sys.optimise(np.zeros(nvar), relax=relax)
    if first is None:
        return [(np.nan, np.nan, False)] * len(figures)
    observe(first[1])
    for sign in (1.0, -1.0):
        got = sys.optimise(sign * T.sum(axis=0), relax=relax)
        if got is not None:
            observe(got[1])
    # A few more batched solves over the figures not yet seen wide, each pushed up or down at random
    # (seeded: the same release gives the same answer); stop when they stop paying off.
    rng = np.random.default_rng(0)
    for _ in range(BATCH_ROUNDS):
        open_ = np.flatnonzero(hi_seen - lo_seen < need)
        if len(open_) < BATCH_MIN:
            break
        signs = rng.choice((-1.0, 1.0), size=len(open_))
        got = sys.optimise(signs @ T[open_], relax=relax)
        if got is None:
            break
        observe(got[1])
        if np.count_nonzero(hi_seen[open_] - lo_seen[open_] < need[open_]) > 0.9 * len(open_):
            break
    lo_exact = np.full(len(figures), np.nan)
    hi_exact = np.full(len(figures), np.nan)
    for i in range(len(figures)):
        if hi_seen[i] - lo_seen[i] >= need[i]:
            continue
        got = sys.optimise(-T[i], relax=relax)
        if got is not None:
            hi_exact[i] = math.floor(-got[0] + 1e-6)
            observe(got[1])
        if max(hi_seen[i], hi_exact[i] if not np.isnan(hi_exact[i]) else -np.inf) - lo_seen[i] >= need[i]:
            continue
        got = sys.optimise(T[i], relax=relax)
        if got is not None:
            lo_exact[i] = math.ceil(got[0] - 1e-6)
            observe(got[1])
    out = []
    for i in range(len(figures)):
        lo = lo_exact[i] if not np.isnan(lo_exact[i]) else lo_seen[i]
        hi = hi_exact[i] if not np.isnan(hi_exact[i]) else hi_seen[i]
        out.append((float(lo), float(hi), not np.isnan(lo_exact[i]) and not np.isnan(hi_exact[i])))
    return out


def _derivation(block: _Block, target: Mapping[int, float]) -> tuple[str, tuple]:
    terms: dict[object, float] = {}
    for maximise in (True, False):
        for w, label in block.sys.explain(target, maximise) or []:
            if label is None:
                continue
            terms[label] = terms.get(label, 0.0) + (abs(w) if not terms.get(label) else 0.0) * np.sign(w)
    labelled = [(w, lab) for lab, w in terms.items() if isinstance(lab, Label)]
    if labelled:
        labelled.sort(key=lambda t: (-abs(t[0]), str(t[1])))
        text = " ".join(("+ " if w > 0 else "− ") + str(lab) for w, lab in labelled[:8]).lstrip("+ ")
        if len(labelled) > 8:
            text += f" (and {len(labelled) - 8} more)"
        return text, tuple(lab for _, lab in labelled)
    return "whole-number reasoning over the released counts (existence of every listed cell)", ()


HOMOGENEITY_N = 10  # privacy.HOMOGENEITY_N: a released 0%/100% of this many answers is allowed to show


def _inside(key: tuple, group: tuple) -> bool:
    return all(g is None or g == k for k, g in zip(key, group, strict=True))


def _allowed_homogeneous(rel: Release) -> dict[str, list[tuple]]:
    """family -> groups released exactly at 0% or 100% with at least 10 answers: the rules let such a
    group show, so every cell inside it being all or none is not a new disclosure."""
    known = {(c.pop, c.key): c.value for c in rel.counts if c.value is not None}
    out: dict[str, list[tuple]] = {}
    for sh in rel.shares:
        if sh.kind == "exact" and len(sh.families) == 1 and (sh.q <= 0 or sh.q >= 1):
            den = known.get((rel.family_pop.get(sh.families[0], ""), sh.key))
            if den is not None and den >= HOMOGENEITY_N:
                out.setdefault(sh.families[0], []).append((sh.key, sh.q))
    return out


def _family_of(rel: Release, fig: Figure) -> str:
    """The family of a band figure (its share's only family)."""
    for sh in rel.shares:
        if sh.kind == "band" and sh.table == fig.table and sh.key == fig.key and sh.column == fig.column:
            return sh.families[0] if len(sh.families) == 1 else ""
    return ""


def _fewest_answers(block: _Block, fig: Figure, family: str) -> float:
    """The fewest answers an attacker must allow behind a hidden rate (its population over the cells)."""
    a = block.pop[block.rel.family_pop[family]]
    idx = block.members(fig.key)
    c = np.zeros(len(block.sys.lb))
    for i in idx:
        c[a[i]] = 1.0
    got = block.sys.optimise(c, relax=True)  # never above the integer minimum: errs towards "pinned"
    return math.ceil(got[0] - 1e-6) if got is not None else 0.0


def attack_release(
    rel: Release,
    *,
    people: bool = True,
    families: Iterable[str] | None = None,
    deadline: float | None = None,
    skipped: list[list[str]] | None = None,
    only: Callable[[Figure], bool] | None = None,
    relax: bool = False,
    explain: bool = True,
) -> list[Pinned]:
    """Every pinned protected figure of one wave's facts.

    deadline: a time.perf_counter() value; blocks not started by then are not examined and are
    appended to `skipped` (so a caller can say the check is incomplete rather than passed).
    only: examine only the figures it accepts (the others are not reported either way).
    explain: name each pinned figure's derivation (an LP dual per figure; the joint pass does without).
    relax: bound by the linear relaxation (fast, never reports a figure the integer program would not;
    may miss some it would).

    Not counted as pinned: a hidden cell's "none" (or "all") inside a released group of at least 10
    answers that is itself 0% (or 100%): the rules allow that group to show, and it says as much;
    and a hidden cell's "none" (or "all") when it has at least 10 answers however the attacker
    counts: a released 0% or 100% of 10 or more people is allowed (privacy rule 4)."""
    out: list[Pinned] = []
    allowed = _allowed_homogeneous(rel)
    wanted = set(families) if families is not None else None
    for fams in blocks_of(rel, people=people):
        if wanted is not None and fams and not (wanted & set(fams)):
            continue
        if deadline is not None and time.perf_counter() > deadline:
            if skipped is not None:
                skipped.append(fams)
            continue
        block = _Block(rel, fams)
        figures = block.figures if only is None else [(f, co) for f, co in block.figures if only(f)]
        if not figures:
            continue
        candidates = []
        excused: set[tuple] = set()  # rates whose "none"/"all" is allowed: their other count is just a − 0
        for (fig, co), (lo, hi, _) in zip(figures, _ranges(block, figures, relax), strict=True):
            if np.isnan(lo) or hi - lo >= fig.need:
                continue
            if fig.kind == "band" and lo == hi:
                fam = _family_of(rel, fig)
                if fam and any(
                    _inside(fig.key, g) and ((q == 0.0 and hi == 0) or q == 1.0) for g, q in allowed.get(fam, [])
                ):
                    continue  # a band at the extreme inside a released 0%/100% group of at least 10
            if fig.kind in ("successes", "failures") and lo == hi == 0:
                fam = fig.family
                extreme = 0.0 if fig.kind == "successes" else 1.0
                if fam and (
                    any(q == extreme and _inside(fig.key, g) for g, q in allowed.get(fam, []))
                    or _fewest_answers(block, fig, fam) >= HOMOGENEITY_N  # a released 0%/100% of ≥ 10 may show
                ):
                    excused.add((fig.table, fig.key, fig.column))
                    continue
            candidates.append((fig, co, lo, hi))
        for fig, co, lo, hi in candidates:
            if fig.kind in ("successes", "failures") and (fig.table, fig.key, fig.column) in excused:
                continue  # "exactly a of them are not": only the count who answered, beside an allowed none
            text, sources = _derivation(block, co) if explain else ("", ())
            out.append(Pinned(fig, int(lo), int(hi), text, sources, tuple(fams)))
    return out


# ------------------------------------------------------------------------------------------
# Expected departures and cost exposure (attack 5)
# ------------------------------------------------------------------------------------------
DEPARTURE_TABLE = "rel_unit_risk"
DEPARTURES = "expected_departures"
COST = "cost_exposure"
_RANK_TOL = 1e-9


def departure_costs(df: pd.DataFrame) -> dict[tuple, float]:
    """The replacement cost an attacker gives each cell (site × department × role) of one wave of
    rel_unit_risk: cost exposure over expected departures of the cell's own visible row, else of the
    narrowest visible row of the same role that contains it (site × role, then the role). With
    roster costs that differ between departments this is the attacker's estimate; the caller may pass
    the roster's own figures instead (the stronger attacker)."""
    rows = _rows(df)
    ratio = {}
    for r in rows:
        ed, ce = r.get(DEPARTURES), r.get(COST)
        if _visible(r) and ed is not None and ce is not None and ed > 0:
            ratio[_key(r)] = float(ce) / float(ed)
    out = {}
    for r in rows:
        key = _key(r)
        if any(v is None for v in key):
            continue
        site, _, role = key
        for k in (key, (site, None, role), (None, None, role)):
            if k in ratio:
                out[key] = ratio[k]
                break
    return out


def _folded(key: tuple) -> tuple:
    return tuple(None if v is None else str(v).strip().casefold() for v in key)


def roster_costs(con, waves: Iterable[str]) -> dict[str, dict[tuple, float]]:
    """{wave: {cell: replacement cost}} from the warehouse's roster and assumptions: what an attacker
    who holds the roster knows (the build and the audit both attack with it)."""
    from pipelines.models import assumptions, risk

    try:
        by_role = risk.role_costs(assumptions.values(con))
    except Exception:  # no settings table (a hand-made warehouse): the release's own ratios only
        return {}
    out: dict[str, dict[tuple, float]] = {}
    for wave in waves:
        try:
            roster = risk.load_roster(con, wave or None)
        except Exception:  # no roster table
            return out
        if roster is None or roster.empty:
            continue
        costs = {}
        for site, department, role, cost in roster[["site", "department", "role", "replacement_cost"]].itertuples(
            index=False
        ):
            own = cost is not None and cost == cost
            costs[_folded((site, department, role))] = float(cost) if own else by_role.get(str(role), float("nan"))
        out[wave] = costs
    return out


def attack_departures(
    tables: Mapping[str, pd.DataFrame], wave: str, *, costs: Mapping[tuple, float] | None = None
) -> list[Pinned]:
    """Hidden units of rel_unit_risk whose expected departures an attacker derives exactly.

    Expected departures (ED) add up over cells; cost exposure (CE) is ED weighted by each cell's
    replacement cost. Read as a linear system over the cells' unknown ED, every visible ED is
    Σ ED_c = value and every visible CE is Σ cost_c·ED_c = value. A hidden unit's ED is pinned when
    its cells' indicator lies in the span of the visible rows (then ED, and with the roster headcount
    the unit's mean predicted risk, follow exactly, whatever the bounds): two figures of one parent,
    its ED and its CE, separate two hidden children of different costs. Linear algebra on a few
    hundred cells, so it runs on every build; `sources` names the visible figures the derivation uses."""
    df = tables.get(DEPARTURE_TABLE)
    if df is None or df.empty or DEPARTURES not in df.columns:
        return []
    df = df[df["wave"].astype("str").fillna("") == wave]
    rows = _rows(df)
    cells = sorted({_key(r) for r in rows if all(v is not None for v in _key(r))}, key=lambda k: tuple(map(str, k)))
    if not cells:
        return []
    index = {c: i for i, c in enumerate(cells)}
    cost = dict(departure_costs(df))
    known = {_folded(k): v for k, v in (costs or {}).items() if v == v}
    cost.update({c: known[_folded(c)] for c in cells if _folded(c) in known})

    def members(key: tuple) -> list[int]:
        return [i for c, i in index.items() if all(k is None or k == v for k, v in zip(key, c, strict=True))]

    eqs, labels = [], []
    hidden = []
    for r in rows:
        key, idx = _key(r), members(_key(r))
        if not idx:
            continue
        if not _visible(r) or r.get(DEPARTURES) is None:
            hidden.append((key, idx))
            continue
        v = np.zeros(len(cells))
        v[idx] = 1.0
        eqs.append(v)
        labels.append(Label(DEPARTURE_TABLE, wave, key, DEPARTURES))
        if r.get(COST) is not None and all(cells[i] in cost for i in idx):
            w = np.zeros(len(cells))
            w[idx] = [cost[cells[i]] for i in idx]
            eqs.append(w / np.linalg.norm(w))
            labels.append(Label(DEPARTURE_TABLE, wave, key, COST))
    if not eqs or not hidden:
        return []
    A = np.vstack(eqs)
    A_pinv = np.linalg.pinv(A, rcond=_RANK_TOL)
    out = []
    for key, idx in hidden:
        v = np.zeros(len(cells))
        v[idx] = 1.0
        y = v @ A_pinv  # the combination of visible figures closest to the hidden unit
        if np.linalg.norm(y @ A - v) > 1e-6 * np.linalg.norm(v):
            continue  # not in their span: not derivable
        used = [labels[i] for i in np.flatnonzero(np.abs(y) > 1e-9)]
        text = "a combination of " + ", ".join(
            str(lab) + (f" {lab.column}" if lab.column == COST else "") for lab in used[:6]
        )
        if len(used) > 6:
            text += f" and {len(used) - 6} more"
        fig = Figure(DEPARTURE_TABLE, wave, key, DEPARTURES, "departures")
        out.append(Pinned(fig, 0, 0, text, tuple(used), (DEPARTURES,)))
    return out


def _waves(tables: Mapping[str, pd.DataFrame]) -> list[str]:
    found: set[str] = set()
    for df in tables.values():
        if df is not None and "wave" in df.columns and not df.empty:
            found |= set(df["wave"].astype("str").fillna("").unique().tolist())
    return sorted(found)


@dataclass
class Report:
    pinned: list[Pinned]
    seconds: float
    figures: int
    # wave -> families of the blocks not examined within the time budget ([] = the people block)
    unchecked: dict[str, list[list[str]]] = field(default_factory=dict)


def attack(
    tables: Mapping[str, pd.DataFrame],
    *,
    call_threshold: float | None = 4.0,
    waves: Iterable[str] | None = None,
    budget: float | None = None,
    costs: Mapping[str, Mapping[tuple, float]] | None = None,
) -> Report:
    """Attack released frames {table name: frame}, one wave at a time.

    costs: {wave: {cell: replacement cost}} the attacker knows (a roster); else inferred from the release.
    waves: only these waves (default: all). budget: seconds per wave; blocks of a wave not started
    within it are listed in Report.unchecked (the people block always comes first)."""
    started = time.perf_counter()
    pinned: list[Pinned] = []
    count = 0
    unchecked: dict[str, list[list[str]]] = {}
    chosen = None if waves is None else {str(w) for w in waves}
    for wave in _waves(tables):
        if chosen is not None and wave not in chosen:
            continue
        rel = read_release(tables, wave, call_threshold=call_threshold)
        if not rel.cells:
            continue
        skipped: list[list[str]] = []
        deadline = None if budget is None else time.perf_counter() + float(budget)
        found = attack_release(rel, deadline=deadline, skipped=skipped)
        found += attack_departures(tables, wave, costs=(costs or {}).get(wave))
        pinned += found
        if skipped:
            unchecked[wave] = skipped
        count += sum(1 for s in rel.shares if s.kind in ("hidden", "band")) + sum(
            1 for c in rel.counts if c.value is None
        )
        count += sum(1 for c in rel.counts if c.table == DEPARTURE_TABLE and c.value is None)
    return Report(pinned, time.perf_counter() - started, count, unchecked)


RELEASED_TABLES: tuple[str, ...] = (
    "rel_groups",
    "rel_metrics",
    "rel_unit_risk",
    "rel_driver_importance",
    "rel_leave_paths",
    "rel_leave_reasons",
)


def read_stored(con) -> dict[str, pd.DataFrame]:
    """The stored released tables the attacker reads (those that exist)."""
    present = {r[0] for r in con.execute("select table_name from information_schema.tables").fetchall()}
    return {name: con.execute(f'select * from "{name}"').df() for name in RELEASED_TABLES if name in present}


def attack_stored(con, *, waves: Iterable[str] | None = None, budget: float | None = None) -> Report:
    """Attack the release stored in the warehouse (optionally only some waves, within a time budget
    per wave: see `attack`)."""
    try:
        from pipelines.models import assumptions

        threshold = float(assumptions.values(con)["lever_call_threshold"])
    except Exception:  # no settings table (a hand-made warehouse): assume the default
        threshold = 4.0
    tables = read_stored(con)
    costs = roster_costs(con, _waves(tables))
    return attack(tables, call_threshold=threshold, waves=waves, budget=budget, costs=costs)
