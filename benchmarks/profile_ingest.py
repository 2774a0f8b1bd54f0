"""Where an ingest spends its time: every SQL statement on the staging connection, timed.

    python -m benchmarks.profile_ingest FILE --db PATH [--wave 2026] [--top 15]

Runs pipelines.ingest.load.ingest with its in-memory staging connection wrapped so each execute() is
timed (the SQL text is shortened). Prints the slowest statements and the total per phase.
Used to write benchmarks/NOTES.md; not part of the benchmark run.
"""

from __future__ import annotations

import argparse
import json
import re
import time

from pipelines.ingest import load as ingest_module

TIMINGS: list[tuple[float, str]] = []


class TimedConnection:
    def __init__(self, con):
        self._con = con

    def execute(self, sql, *args, **kwargs):
        t = time.perf_counter()
        try:
            return self._con.execute(sql, *args, **kwargs)
        finally:
            TIMINGS.append((time.perf_counter() - t, re.sub(r"\s+", " ", str(sql))[:160]))

    def executemany(self, sql, *args, **kwargs):
        t = time.perf_counter()
        try:
            return self._con.executemany(sql, *args, **kwargs)
        finally:
            TIMINGS.append((time.perf_counter() - t, "executemany " + re.sub(r"\s+", " ", str(sql))[:140]))

    def __getattr__(self, name):
        return getattr(self._con, name)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("file")
    parser.add_argument("--db", required=True)
    parser.add_argument("--wave", default="2026")
    parser.add_argument("--top", type=int, default=15)
    parser.add_argument(
        "--fast-to-num",
        action="store_true",
        help="try the fix in NOTES.md: to_num tries a plain cast before the regex clean-up",
    )
    args = parser.parse_args()
    if args.fast_to_num:
        install = ingest_module._install_macros

        def patched(con):
            install(con)
            con.execute(
                "create or replace macro to_num(x) as coalesce(try_cast(trim(x) as double), "
                "try_cast(replace(regexp_replace(trim(x), '\\s', '', 'g'), ',', '.') as double))"
            )

        ingest_module._install_macros = patched
    real = ingest_module._staging_connection
    ingest_module._staging_connection = lambda: TimedConnection(real())
    t0 = time.perf_counter()
    result = ingest_module.ingest(args.file, wave=args.wave, db=args.db)
    total = time.perf_counter() - t0
    sql_total = sum(t for t, _ in TIMINGS)
    print(json.dumps({"status": result.status, "rows": result.rows_loaded, "seconds": round(total, 2),
                      "sql_seconds": round(sql_total, 2), "statements": len(TIMINGS)}))  # fmt: skip
    for t, sql in sorted(TIMINGS, reverse=True)[: args.top]:
        print(f"{t:7.2f} s  {sql}")
    examples = [t for t, s in TIMINGS if s.startswith("select count(*) from clean where")]
    print(f"count(*) example queries: {len(examples)} statements, {sum(examples):.2f} s")


if __name__ == "__main__":
    main()
