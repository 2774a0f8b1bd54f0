"""Build docs/sample-report.pdf (and optionally the other formats) from the bundled sample health system.

    python -m pipelines.reports.sample [--out docs/sample-report.pdf] [--db PATH] [--formats pdf,xlsx,pptx]

Loads the bundled sample into a temporary warehouse (or uses --db), makes sure the model tables are
built, saves three example retention scenarios, and exports. Used to refresh the README's sample.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

from pipelines.ingest import first_run as bootstrap
from pipelines.release import build
from pipelines.store import warehouse

EXAMPLE_SCENARIOS = (
    ("EHR support and no night call", ["ehr_support", "dropped_call"], {}),
    ("Flexible schedules and sabbaticals", ["schedule_flexibility", "temporary_break"], {}),
    ("Reduced FTE offer", ["reduced_fte"], {}),
    ("Riverside: EHR and inbox support", ["ehr_support"], {"site": "Riverside Medical Center"}),
)


def ensure_models(db: str | Path) -> None:
    """Build the released tables with the model producers, even before they are wired into build."""
    from pipelines.models import build as models_cli

    with warehouse.connect(db, read_only=True) as con:
        have = {r[0] for r in con.execute("select table_name from information_schema.tables").fetchall()}
    if "rel_unit_risk" in have:
        return
    added = models_cli.produce_models not in build.PRODUCERS
    if added:
        build.PRODUCERS.append(models_cli.produce_models)
    try:
        build.build(db)
    finally:
        if added:
            build.PRODUCERS.remove(models_cli.produce_models)


def save_examples(db: str | Path, resamples: int = 100, refits: int = 10) -> list[str]:
    """Run and save the example scenarios (skipping names that already exist)."""
    from pipelines import scenarios

    saved = []
    with warehouse.connect(db) as con:
        existing = set(scenarios.list_scenarios(con)["name"])
        for name, levers, scope in EXAMPLE_SCENARIOS:
            if name in existing:
                continue
            results = scenarios.run_scenario(con, levers, resamples=resamples, refits=refits, **scope)
            full_scope = {"wave": results["wave"].iloc[0], "site": None, "department": None, "role": None, **scope}
            scenarios.save_scenario(con, name, levers, full_scope, results, created_by="sample report")
            saved.append(name)
    return saved


def prepare(db: str | Path) -> Path:
    db = Path(db)
    if bootstrap.needs_sample(db):
        bootstrap.load_sample(db, actor="sample report")
    ensure_models(db)
    save_examples(db)
    return db


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m pipelines.reports.sample", description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="docs/sample-report.pdf", help="where to write the PDF")
    parser.add_argument("--db", help="use this warehouse (default: a temporary one with the bundled sample)")
    parser.add_argument("--formats", default="pdf", help="comma-separated: pdf,xlsx,pptx,csv (non-pdf next to --out)")
    parser.add_argument("--site", help="scope the sample report to one site")
    args = parser.parse_args(argv)
    from pipelines.reports import api

    with tempfile.TemporaryDirectory() as tmp:
        db = prepare(args.db or Path(tmp) / "sample.duckdb")
        out = Path(args.out)
        for fmt in [f.strip() for f in args.formats.split(",") if f.strip()]:
            target = out if fmt == "pdf" else out.with_suffix("" if fmt == "csv" else f".{fmt}")
            if fmt == "csv":
                target = out.parent / (out.stem + "-csv")
            path = api.export(fmt, target, db, site=args.site, actor="sample report")
            print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
