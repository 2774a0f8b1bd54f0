"""Child-process entry points of the benchmark: `python -m benchmarks.steps STEP ...`.

benchmarks/run.py starts each as its own process and measures its wall time and peak RSS from the
outside; each step also prints one `BENCH-RESULT {json}` line with what it timed inside (after its
imports), so process start-up and import time can be told apart from the work.

    floor FILE DB            bare DuckDB: CREATE TABLE t AS SELECT * FROM read_csv(FILE) into DB
    metrics DB               the released-metrics producer alone (pipelines.release.build.produce_metrics:
                             DuckDB SQL + confidentiality layer), read-only, nothing stored
    build DB [--with-models] pipelines.release.build.build with each producer timed; --with-models adds
                             pipelines.models.build.produce_models when build.py does not list it yet
    export FMT DB OUT        pipelines.reports.export (used while `pipelines export` is not registered)
    page-data DB PAGE        the page's data-layer calls (dashboard.data / dashboard.queries)
                             cold, warm (cache cleared) and cached; see benchmarks/pages.py
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time


def emit(result: dict) -> None:
    print("BENCH-RESULT " + json.dumps(result, default=str), flush=True)


def floor(path: str, db: str) -> dict:
    import duckdb

    t0 = time.perf_counter()
    con = duckdb.connect(db)
    con.execute("set enable_progress_bar = false")
    con.execute("create table t as select * from read_csv(?)", [path])
    rows = con.execute("select count(*) from t").fetchone()[0]
    con.close()
    return {"seconds": round(time.perf_counter() - t0, 3), "rows": rows}


def metrics(db: str) -> dict:
    from pipelines.release import build, privacy
    from pipelines.store import warehouse

    t0 = time.perf_counter()
    with warehouse.connect(db, read_only=True) as con:
        t1 = time.perf_counter()
        k, k_int = privacy.thresholds(con)
        ctx = build.BuildContext(k=k, intentions_k=k_int)
        tables = build.produce_metrics(con, ctx)
        t2 = time.perf_counter()
    return {
        "seconds": round(t2 - t1, 3),
        "with_connect_seconds": round(t2 - t0, 3),
        "tables": {t.name: len(t.frame) for t in tables},
    }


def _producer_name(producer) -> str:
    return f"{producer.__module__}.{producer.__name__}"


def forget_model_results(db: str) -> int:
    """Delete what a build keeps for the next one: the per-wave model results (pipelines/models/cache.py),
    the joint-protection patterns and the release history's answer hashes, so the next build computes
    everything: a full build even on a warehouse built before (`run.py --only full_build`). Returns the
    model results deleted."""
    from pipelines.store import warehouse

    with warehouse.connect(db) as con:
        present = {r[0] for r in con.execute("select table_name from duckdb_tables()").fetchall()}
        for table in ("release_patterns", "released_answers", "released_waves"):
            if table in present:
                con.execute(f"delete from {table}")
        if "model_cache" not in present:
            return 0
        n = con.execute("select count(*) from model_cache").fetchall()[0][0]
        con.execute("delete from model_cache")
        return int(n)


def build_step(db: str, with_models: bool) -> dict:
    from pipelines.release import build

    names = [_producer_name(p) for p in build.PRODUCERS]
    wired = any("model" in n or "risk" in n or "driver" in n for n in names)
    added = False
    if with_models and not wired:
        from pipelines.models import build as models_cli

        build.PRODUCERS.append(models_cli.produce_models)
        added = True
    seconds: dict[str, float] = {}

    def timed(producer):
        def run(con, ctx):
            t = time.perf_counter()
            try:
                return producer(con, ctx)
            finally:
                seconds[_producer_name(producer)] = round(time.perf_counter() - t, 3)

        run.__name__ = producer.__name__
        run.__module__ = producer.__module__
        return run

    build.PRODUCERS[:] = [timed(p) for p in build.PRODUCERS]

    def clocked(fn, label: str):
        def run(*args, **kwargs):
            t = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                seconds[label] = round(time.perf_counter() - t, 3)

        return run

    build.write = clocked(build.write, "write (one transaction)")
    build.protect_jointly = clocked(build.protect_jointly, "joint protection (release history + attacker)")
    model_seconds: dict[str, float] = {}
    cached: list[str] = []
    try:
        from pipelines.models import build as models_cli

        inner = models_cli.build_models

        def build_models(*args, **kwargs):
            result = inner(*args, **kwargs)
            model_seconds.update({k: round(v, 3) for k, v in result.seconds.items()})
            cached.extend(getattr(result, "cached", []))
            return result

        models_cli.build_models = build_models
    except ImportError:
        pass
    t0 = time.perf_counter()
    summary = build.build(db)
    return {
        "seconds": round(time.perf_counter() - t0, 3),
        "producers": seconds,
        "model_parts": model_seconds,
        "cached": cached,
        "tables": summary.tables,
        "models_wired_in_build": wired,
        "models_added_by_benchmark": added,
    }


def page_data(db: str, page: str, repeats: int = 5) -> dict:
    import logging
    import os

    os.environ["CLINRET_DB"] = db
    logging.getLogger("streamlit").setLevel(logging.ERROR)
    t_import = time.perf_counter()
    import streamlit  # noqa: F401  (imported first so its import time is counted here)

    from benchmarks import pages
    from dashboard import data

    for name in list(logging.root.manager.loggerDict):
        if name.startswith("streamlit"):
            logging.getLogger(name).setLevel(logging.ERROR)
    import_seconds = time.perf_counter() - t_import
    from pipelines.store import warehouse

    opened = {"count": 0, "seconds": 0.0}
    real_open = warehouse._open

    def counting_open(*args, **kwargs):
        t = time.perf_counter()
        try:
            return real_open(*args, **kwargs)
        finally:
            opened["count"] += 1
            opened["seconds"] += time.perf_counter() - t

    warehouse._open = counting_open
    fn = pages.PAGES[page]
    repeats = min(repeats, pages.REPEATS.get(page, repeats))
    t = time.perf_counter()
    calls = fn()
    cold = time.perf_counter() - t
    data.clear_cache()  # every cached read dropped, as after an upload or rebuild
    opened.update(count=0, seconds=0.0)
    fn()
    connections = dict(opened)
    warm, cached = [], []
    for _ in range(repeats):
        data.clear_cache()
        t = time.perf_counter()
        fn()
        warm.append(time.perf_counter() - t)
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        cached.append(time.perf_counter() - t)
    return {
        "page": page,
        "calls": calls,
        "import_seconds": round(import_seconds, 3),
        "cold_ms": round(cold * 1000, 1),
        "warm_ms": round(statistics.median(warm) * 1000, 1),
        "warm_ms_all": [round(x * 1000, 1) for x in warm],
        "cached_ms": round(statistics.median(cached) * 1000, 2),
        "warm_connections": connections["count"],
        "warm_connect_ms": round(connections["seconds"] * 1000, 1),
    }


def export_step(fmt: str, db: str, out: str) -> dict:
    """pipelines.reports.export: what `python -m pipelines export` calls, for when the CLI command
    is not registered yet."""
    from pipelines.reports import export

    t0 = time.perf_counter()
    path = export(fmt, out, db, actor="benchmark")
    return {"seconds": round(time.perf_counter() - t0, 3), "path": str(path)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.steps")
    sub = parser.add_subparsers(dest="step", required=True)
    p = sub.add_parser("floor")
    p.add_argument("file")
    p.add_argument("db")
    p = sub.add_parser("metrics")
    p.add_argument("db")
    p = sub.add_parser("build")
    p.add_argument("db")
    p.add_argument("--with-models", action="store_true")
    p.add_argument("--cold", action="store_true", help="forget the stored model results first (a full build)")
    p = sub.add_parser("page-data")
    p.add_argument("db")
    p.add_argument("page")
    p.add_argument("--repeats", type=int, default=5)
    p = sub.add_parser("export")
    p.add_argument("fmt")
    p.add_argument("db")
    p.add_argument("out")
    args = parser.parse_args(argv)
    if args.step == "export":
        emit(export_step(args.fmt, args.db, args.out))
    elif args.step == "floor":
        emit(floor(args.file, args.db))
    elif args.step == "metrics":
        emit(metrics(args.db))
    elif args.step == "build":
        if args.cold:
            forget_model_results(args.db)
        emit(build_step(args.db, args.with_models))
    elif args.step == "page-data":
        emit(page_data(args.db, args.page, args.repeats))
    return 0


if __name__ == "__main__":
    sys.exit(main())
