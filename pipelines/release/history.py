"""Differencing across builds (issue 11, attack 11): the new release against the one it replaces.

Replacing a wave with a file one person larger, or adding a two-row upload to a wave, changes released
counts and rates by the answers of those one or two people: the difference of the two releases is a
cell of fewer than k people. Before the joint protection pass, the build compares the release it is
about to store with the release stored now (the previous build, still in the warehouse), wave by wave:

- if the organisation's count of a wave moved by fewer than 10 people (the intentions floor, since
  leave paths are released too; at least k), the whole wave is
  **held back**: every table keeps the previous build's rows for that wave, until enough further
  responses arrive (or the change is undone); the reason is recorded in `release_holds` and shown on
  the Uploads page;
- otherwise, every group visible in both releases whose count moved by fewer than k people (but
  moved) is hidden in the new release, so its difference cannot be read; the joint pass then closes
  the pattern as usual.

What is compared is only what was released (the stored `rel_groups`), never respondents.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import duckdb
import pandas as pd

from pipelines.contract import levels
from pipelines.release import joint, privacy

DIMS: tuple[str, ...] = levels.DIMENSIONS
HOLDS_TABLE = "release_holds"


@dataclass
class Guard:
    held_back: dict[str, str] = field(default_factory=dict)  # wave -> why
    hidden: list[str] = field(default_factory=list)

    def __str__(self) -> str:
        parts = [f"wave {w} held back ({why})" for w, why in self.held_back.items()]
        if self.hidden:
            parts.append(f"{len(self.hidden)} group(s) hidden whose count moved by fewer than k since the last build")
        return "release history: " + ("; ".join(parts) if parts else "no small differences")


def _present(con: duckdb.DuckDBPyConnection, name: str) -> bool:
    return bool(
        con.execute("select count(*) from information_schema.tables where table_name = ?", [name]).fetchone()[0]
    )


def previous(con: duckdb.DuckDBPyConnection, names: list[str]) -> dict[str, pd.DataFrame]:
    """The release stored now (the build before this one), for the named tables that exist."""
    return {n: con.execute(f'select * from "{n}"').df() for n in names if privacy_name(n) and _present(con, n)}


def privacy_name(name: str) -> bool:
    return name.startswith("rel_")


def _counts(groups: pd.DataFrame, wave: str) -> dict[tuple, int]:
    sub = groups[(groups["wave"].astype("str") == wave) & ~groups["suppressed"].fillna(True).astype(bool)]
    return {key: int(n) for key, n in zip(privacy._keys(sub, list(DIMS)), sub["n"].tolist(), strict=True)}


def guard(
    frames: Mapping[str, pd.DataFrame], old: Mapping[str, pd.DataFrame], k: int, hold_k: int | None = None
) -> tuple[dict[str, pd.DataFrame], Guard]:
    """The new frames with small differences against the previous release held back or hidden.
    k: a group whose count moved by fewer is hidden; hold_k (default k; the build passes the
    intentions floor, since leave paths are released at 10): a wave whose count moved by fewer is held back."""
    hold_k = k if hold_k is None else hold_k
    out = dict(frames)
    result = Guard()
    new_groups, old_groups = out.get("rel_groups"), old.get("rel_groups")
    if new_groups is None or old_groups is None or new_groups.empty or old_groups.empty:
        return out, result
    waves = sorted(set(new_groups["wave"].astype("str")) & set(old_groups["wave"].astype("str")))
    for wave in waves:
        now, before = _counts(new_groups, wave), _counts(old_groups, wave)
        org = (None,) * len(DIMS)
        moved = {key: now[key] - before[key] for key in now.keys() & before.keys() if now[key] != before[key]}
        if org in moved and abs(moved[org]) < hold_k:
            result.held_back[wave] = (
                f"its responses changed by {abs(moved[org])} since the last build, fewer than {hold_k}: the new "
                f"figures would show those people's answers by difference; they are released once at least "
                f"{hold_k} have changed"
            )
            for name, df in list(out.items()):
                prior = old.get(name)
                if df is None or "wave" not in df.columns:
                    continue
                keep = df[df["wave"].astype("str") != wave]
                if prior is not None and "wave" in prior.columns:
                    rows = prior[prior["wave"].astype("str") == wave]
                    rows = rows.reindex(columns=df.columns)
                    keep = pd.concat([keep, rows.astype(df.dtypes.to_dict(), errors="ignore")], ignore_index=True)
                out[name] = keep.sort_values(["wave", "level"], kind="stable").reset_index(drop=True)
            continue
        for key, delta in sorted(moved.items(), key=lambda kv: tuple(str(v) for v in kv[0])):
            if key != org and abs(delta) < k and joint.hide_group(out, wave, key):
                result.hidden.append(
                    f"{'/'.join(v for v in key if v) or 'organisation'} (wave {wave}, moved by {delta})"
                )
    return out, result


def store_holds(con: duckdb.DuckDBPyConnection, held: Mapping[str, str]) -> None:
    """Record why waves are held back (read by the Uploads page); replaced on every build."""
    con.execute(f"create or replace table {HOLDS_TABLE} (wave VARCHAR, reason VARCHAR, since TIMESTAMP)")
    if held:
        con.executemany(
            f"insert into {HOLDS_TABLE} values (?, ?, current_timestamp)", [[w, r] for w, r in held.items()]
        )


def read_holds(con: duckdb.DuckDBPyConnection) -> pd.DataFrame:
    if not _present(con, HOLDS_TABLE):
        return pd.DataFrame({"wave": pd.Series(dtype="str"), "reason": pd.Series(dtype="str")})
    return con.execute(f"select wave, reason, since from {HOLDS_TABLE} order by wave").df()
