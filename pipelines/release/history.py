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

Counts alone miss a replacement of the same size: swap one real person's row for a made-up one and
every count stays put while the rates move by exactly that person's answers. So the build also keeps,
for the release it stores, one hash per distinct answer row per cell (`released_answers`: no keys, no
identifiers, inside the warehouse) and counts how many rows were removed or added since, per cell:
a wave in which fewer than 10 answer rows changed (but some did) is held back, and a visible group in
which fewer than k changed is hidden, whatever its count did. A held wave keeps the hashes of what is
still released, so the next build compares with that.

What is compared is what was released (the stored `rel_groups`, and the hashes of the rows behind it).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import duckdb
import pandas as pd

from pipelines import contract
from pipelines.contract import levels
from pipelines.release import joint, privacy

DIMS: tuple[str, ...] = levels.DIMENSIONS
HOLDS_TABLE = "release_holds"
ANSWERS_TABLE = "released_answers"
# every answer a released figure can be computed from: the record without its keys and provenance
_ANSWER_COLUMNS = [name for name, _ in contract.responses_columns() if name not in ("response_key", "upload_id")]
_CELL_HASHES = (
    "select coalesce(wave, '') as wave, site, department, role, hash({cols}) as row_hash, count(*)::BIGINT as n "
    "from responses where coalesce(wave, '') in (select wave from _changed_waves) group by all"
).format(cols=", ".join(f'"{c}"' for c in _ANSWER_COLUMNS))


@dataclass
class Answers:
    """What this build computes from, against what the stored release was computed from.

    signatures: wave -> its uploads, row count and a checksum of its rows' keys now (rows only change
    through uploads, and every ingested row gets a new random key, so a wave with the same signature has
    the same rows); changed: waves whose signature differs from the
    stored one (or that are new); hashes: the answer-row hashes of the changed waves; changes: answer
    rows removed or added per cell in changed waves that were released before (None: nothing to compare)."""

    signatures: dict[str, str]
    changed: list[str]
    hashes: pd.DataFrame
    changes: pd.DataFrame | None


def answers_since_release(con: duckdb.DuckDBPyConnection) -> Answers | None:
    """Hash the answer rows of the waves whose uploads changed since the stored release and count, per cell,
    the rows removed or added. Waves whose uploads did not change cost one small query. None without the tables."""
    if not (_present(con, ANSWERS_TABLE) and _present(con, "responses")):
        return None
    now = {  # the uploads, the count and a checksum of the rows' keys (random per ingested row)
        wave: f"{uploads}|{n}|{keys}"
        for wave, uploads, n, keys in con.execute(
            "select coalesce(wave, ''), string_agg(distinct upload_id, ',' order by upload_id), count(*), "
            "bit_xor(hash(response_key)) from responses group by 1"
        ).fetchall()
    }
    before = dict(con.execute("select wave, signature from released_waves").fetchall())
    changed = sorted(w for w in now if before.get(w) != now[w])
    compared = [w for w in changed if w in before]
    con.register("_changed_waves", pd.DataFrame({"wave": pd.Series(changed, dtype="str")}))
    try:
        hashes = con.execute(_CELL_HASHES).df()
        changes = None
        if compared:
            con.register("_now_hashes", hashes)
            changes = con.execute(
                f"""select coalesce(a.wave, b.wave) as wave, coalesce(a.site, b.site) as site,
                       coalesce(a.department, b.department) as department, coalesce(a.role, b.role) as role,
                       sum(abs(coalesce(a.n, 0) - coalesce(b.n, 0)))::BIGINT as changed
                    from _now_hashes a
                    full outer join (select * from {ANSWERS_TABLE} where wave in (select wave from _changed_waves)) b
                      on a.wave = b.wave and a.site is not distinct from b.site
                     and a.department is not distinct from b.department and a.role is not distinct from b.role
                     and a.row_hash = b.row_hash
                    group by all having sum(abs(coalesce(a.n, 0) - coalesce(b.n, 0))) > 0"""
            ).df()
            con.unregister("_now_hashes")
            changes = changes[changes["wave"].astype("str").isin(compared)]
    finally:
        con.unregister("_changed_waves")
    return Answers(now, changed, hashes, changes)


def store_answers(con: duckdb.DuckDBPyConnection, answers: Answers | None, held: Mapping[str, str]) -> None:
    """Keep the hashes and upload signatures of what this build releases (inside its write transaction): a
    changed wave's rows are replaced, a held-back wave keeps those of its earlier, still released, rows, and a
    wave gone is forgotten."""
    if answers is None or not _present(con, ANSWERS_TABLE):
        return
    gone = [w for (w,) in con.execute("select wave from released_waves").fetchall() if w not in answers.signatures]
    fresh = [w for w in answers.changed if w not in held]
    for wave in [*gone, *fresh]:
        con.execute(f"delete from {ANSWERS_TABLE} where wave = ?", [wave])
        con.execute("delete from released_waves where wave = ?", [wave])
    rows = answers.hashes[answers.hashes["wave"].astype("str").isin(fresh)]
    con.register("_answers", rows)
    try:
        con.execute(f"insert into {ANSWERS_TABLE} select wave, site, department, role, row_hash, n from _answers")
    finally:
        con.unregister("_answers")
    if fresh:
        con.executemany("insert into released_waves values (?, ?)", [[w, answers.signatures[w]] for w in fresh])


def _changed_in(changes: pd.DataFrame, wave: str) -> dict[tuple, int]:
    sub = changes[changes["wave"].astype("str") == wave]
    return {key: int(n) for key, n in zip(privacy._keys(sub, list(DIMS)), sub["changed"].tolist(), strict=True)}


def _group_changes(cells: Mapping[tuple, int], key: tuple) -> int:
    return sum(n for cell, n in cells.items() if all(v is None or v == c for v, c in zip(key, cell, strict=True)))


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
    frames: Mapping[str, pd.DataFrame],
    old: Mapping[str, pd.DataFrame],
    k: int,
    hold_k: int | None = None,
    changes: pd.DataFrame | None = None,
) -> tuple[dict[str, pd.DataFrame], Guard]:
    """The new frames with small differences against the previous release held back or hidden.
    k: a group whose count moved by fewer is hidden; hold_k (default k; the build passes the
    intentions floor, since leave paths are released at 10): a wave whose count moved by fewer is held back.
    changes: answer rows removed or added per cell (`answers_since_release`); with it, a wave or group whose
    answers changed in fewer rows than those floors is treated the same way even if no count moved."""
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
        cells = _changed_in(changes, wave) if changes is not None else {}
        changed = {key: _group_changes(cells, key) for key in now.keys() & before.keys()} if cells else {}
        small_org = (org in moved and abs(moved[org]) < hold_k) or 0 < changed.get(org, 0) < hold_k
        if small_org:
            size = changed.get(org) or abs(moved.get(org, 0))
            result.held_back[wave] = (
                f"its responses changed in {size} answer row(s) since the last build, fewer than {hold_k}: the new "
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
        small = {key: f"moved by {delta}" for key, delta in moved.items() if abs(delta) < k}
        small.update(
            {key: f"{n} answer row(s) changed" for key, n in changed.items() if 0 < n < k and key not in small}
        )
        for key, why in sorted(small.items(), key=lambda kv: tuple(str(v) for v in kv[0])):
            if key != org and joint.hide_group(out, wave, key):
                result.hidden.append(f"{'/'.join(v for v in key if v) or 'organisation'} (wave {wave}, {why})")
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
