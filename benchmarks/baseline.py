"""The comparison job, written plainly in pandas: what an analyst would write without this product.

Read the canonical CSV, map the answer labels ("Prefer not to answer" and blanks to missing, codes to
numbers), validate ranges (rows without site/department/valid role rejected, out-of-range answers set
missing), group by site, role and department, and compute burnout and intent-to-leave rates. No
confidentiality layer, no intervals, no warehouse: a floor for "the same aggregation by hand".

    python -m benchmarks.baseline FILE.csv
"""

from __future__ import annotations

import json
import sys
import time

import pandas as pd

from pipelines import contract

MISSING = ["", "Prefer not to answer", "prefer not to answer", "N/A", "NA", "Don't know"]


def run(path: str) -> dict:
    t0 = time.perf_counter()
    frame = pd.read_csv(path, na_values=MISSING, keep_default_na=False, low_memory=False)
    t_read = time.perf_counter() - t0
    # Labels -> codes / booleans; ranges.
    for item in (*contract.ITEM_NAMES, "intent_to_leave"):
        x = pd.to_numeric(frame[item], errors="coerce")
        frame[item] = x.where(x.between(1, 5) & (x == x.round()))
    frame["clinical_fte"] = pd.to_numeric(frame["clinical_fte"], errors="coerce").where(lambda s: s.between(0, 1))
    frame["call_nights_per_month"] = pd.to_numeric(frame["call_nights_per_month"], errors="coerce").where(
        lambda s: s.between(0, 31)
    )
    frame["ehr_after_hours_per_week"] = pd.to_numeric(frame["ehr_after_hours_per_week"], errors="coerce").where(
        lambda s: s.between(0, 80)
    )
    frame["inbox_messages_per_day"] = pd.to_numeric(frame["inbox_messages_per_day"], errors="coerce").where(
        lambda s: s.between(0, 500)
    )
    frame["intent_to_reduce_fte"] = frame["intent_to_reduce_fte"].str.lower().map({"yes": True, "no": False})
    role = (
        frame["role"]
        .str.strip()
        .str.lower()
        .map(lambda v: contract.ROLE_SYNONYMS.get(v, v if v in contract.ROLES else None))
    )
    frame["role"] = role
    valid = frame["site"].notna() & frame["department"].notna() & frame["role"].notna()
    rejected = int((~valid).sum())
    frame = frame[valid]
    burn_op, burn_at = contract.ITEMS_BY_NAME["burnout_level"].unfavourable
    burnout = frame["burnout_level"] >= burn_at if burn_op == ">=" else frame["burnout_level"] <= burn_at
    frame["burnout"] = burnout.where(frame["burnout_level"].notna())
    frame["itl"] = (frame["intent_to_leave"] >= contract.ITL_THRESHOLD).where(frame["intent_to_leave"].notna())
    t_clean = time.perf_counter() - t0 - t_read
    tables = {}
    for keys in (["site"], ["role"], ["site", "department"], ["site", "role"], ["site", "department", "role"]):
        g = frame.groupby(keys, observed=True)
        tables["_".join(keys)] = g.agg(
            n=("burnout", "size"),
            burnout_rate=("burnout", "mean"),
            itl_rate=("itl", "mean"),
        ).reset_index()
    t_total = time.perf_counter() - t0
    return {
        "rows": int(len(frame) + rejected),
        "rejected": rejected,
        "groups": {k: len(v) for k, v in tables.items()},
        "read_seconds": round(t_read, 3),
        "clean_seconds": round(t_clean, 3),
        "seconds": round(t_total, 3),
    }


if __name__ == "__main__":
    print("BENCH-RESULT " + json.dumps(run(sys.argv[1])))
