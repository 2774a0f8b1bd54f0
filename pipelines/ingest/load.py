"""Load one survey file into the warehouse: all of it, validated and anonymised, or nothing.

The work happens in DuckDB. The file is staged in an in-memory database (staging.py), converted
(convert.py) and validated (validate.py) with set-based SQL generated from the contract, and only
then is the warehouse ATTACHed for one short transaction that inserts the upload record and its
rows. A process killed at any point before COMMIT leaves the warehouse as it was; other processes
are locked out only for the final insert, not for the parsing.
"""

from __future__ import annotations

import datetime as dt
import os
import time
import uuid
from dataclasses import asdict
from pathlib import Path

from pipelines import contract
from pipelines.ingest.convert import _convert, _install_macros, _merge_case_variants
from pipelines.ingest.mapping import MappingFile, load_mapping, load_redcap_dictionary, missing_required, plan_columns
from pipelines.ingest.readers import InputError, SourceFile, open_source
from pipelines.ingest.roster import looks_like_roster
from pipelines.ingest.staging import _attached_warehouse, _stage, _staging_connection
from pipelines.ingest.validate import IngestResult, _report_problems, _resolve_wave, write_rejected_rows
from pipelines.store import settings, warehouse
from pipelines.store.audit import record as audit

# Test hook: seconds to sleep inside the load transaction, so a test can kill the process there.
_PAUSE_ENV = "CLINRET_TEST_PAUSE_BEFORE_COMMIT"


def ingest(
    path: str | Path,
    *,
    wave: str | None = None,
    db: str | Path | None = None,
    fmt: str = "auto",
    mapping: str | Path | MappingFile | None = None,
    dictionary: str | Path | None = None,
    replace: bool = False,
    uploaded_by: str | None = None,
    original_name: str | None = None,
    rejected_out: str | Path | None = None,
    max_rejected_share: float | None = None,
    progress=None,
    dry_run: bool = False,
) -> IngestResult:
    """Validate, anonymise and load one survey file as (part of) one wave.

    Returns an IngestResult; status "rejected" means nothing was stored. With dry_run, nothing
    is stored either way: status is "valid" or "rejected" and `preview` holds the first rows as
    they would be stored (what the Upload page shows before the officer confirms). The warehouse file `db`
    is opened for writing only for the final insert.
    """
    name = original_name or Path(path).name
    report = IngestResult("rejected", None, wave, name, fmt)
    step = progress or (lambda fraction, text: None)
    try:
        source = open_source(path, name, fmt)
    except InputError as exc:
        report.errors.append(str(exc))
        return report
    report.detected_format = source.detected_format
    report.columns = list(source.columns)
    mem = _staging_connection()
    try:
        step(0.05, "Checking for an earlier upload of the same file")
        duplicate = _find_duplicate(source.sha256, db)
        if duplicate and not (replace and duplicate["wave"] == wave):
            report.errors.append(
                f"{name}: this exact file was already loaded as upload {duplicate['upload_id']} "
                f"({duplicate['file_name']}, wave {duplicate['wave']}, {duplicate['uploaded_at']:%Y-%m-%d %H:%M}). "
                "Delete that upload first if you mean to load it again."
            )
            return report
        mapping_file = load_mapping(mapping) if isinstance(mapping, (str, Path)) else mapping
        redcap = load_redcap_dictionary(dictionary) if dictionary else None
        plan = plan_columns(
            source.columns,
            question_texts=source.question_texts,
            import_ids=source.import_ids,
            mapping=mapping_file,
            dictionary=redcap,
        )
        for _, f, _ in plan.constants:
            source.columns.append(f"(constant {f} from the mapping file)")
        report.mapped_columns = plan.describe(source.columns)
        report.dropped_detail = [asdict(d) for d in plan.dropped]
        report.dropped_columns = [d.column for d in plan.dropped if d.category != "empty"]
        if looks_like_roster(report.columns, plan):
            raise InputError(
                f"{name}: this file looks like a headcount roster (site, department, role, headcount), not survey "
                "responses, so nothing was stored. Load it as a roster: `python -m pipelines ingest-headcount FILE`, "
                "or the Headcount roster box on the Uploads page."
            )
        absent = missing_required(plan)
        if absent:
            report.errors.append(
                f"{name}: no column could be matched to {', '.join(absent)}. Rename the column(s) to the "
                "contract name or map them with a mapping file (--mapping)."
            )
            return report
        step(0.15, "Reading the file")
        _install_macros(mem)
        report.rows_read = _stage(mem, source, plan.constants)
        if report.rows_read == 0:
            report.errors.append(f"{name}: the file has a header but no responses.")
            return report
        step(0.45, "Validating every value")
        wave = _resolve_wave(mem, plan, wave, report)
        report.wave = wave
        if wave is None:
            return report
        _convert(mem, plan)
        _report_problems(mem, source, plan, report)
        _merge_case_variants(mem)
        limit = max_rejected_share
        if limit is None:
            limit = _setting(db, "max_rejected_share")
        report.rows_rejected = mem.execute("select count(*) from clean where _reject is not null").fetchone()[0]
        report.rows_loaded = report.rows_read - report.rows_rejected
        if rejected_out and report.rows_rejected:
            write_rejected_rows(mem, rejected_out)
        share = report.rows_rejected / report.rows_read
        if share > limit or report.rows_loaded == 0:
            report.errors.insert(
                0,
                f"{name}: {report.rows_rejected} of {report.rows_read} rows ({share:.1%}) were rejected, "
                f"more than the {limit:.0%} allowed; nothing was loaded. Fix the rows listed below and upload again.",
            )
            report.rows_loaded = 0
            return report
        if dry_run:
            cur = mem.execute(
                f"select {', '.join(contract.FIELD_NAMES)} from clean where _reject is null order by _row limit 20"
            )
            names = [d[0] for d in cur.description]
            report.preview = [dict(zip(names, r)) for r in cur.fetchall()]
            report.status = "valid"
            return report
        step(0.75, "Saving to the warehouse")
        _load(mem, source, report, db=db, replace=replace, uploaded_by=uploaded_by)
        step(1.0, "Done")
        return report
    except InputError as exc:
        report.errors.append(str(exc))
        report.rows_loaded = 0
        return report
    finally:
        mem.close()
        source.cleanup()


def _setting(db, key):
    """A setting of the warehouse, or its default while there is no warehouse yet (a rejected file
    must not create an empty one)."""
    try:
        with warehouse.connect(db, read_only=True, create=False) as wcon:
            return settings.get(wcon, key)
    except warehouse.WarehouseMissing:
        return settings.SETTINGS_BY_KEY[key].default


def _find_duplicate(sha: str, db) -> dict | None:
    try:
        with warehouse.connect(db, read_only=True, create=False) as wcon:
            row = wcon.execute(
                "select upload_id, file_name, wave, uploaded_at from uploads where sha256 = ? and kind = 'responses'",
                [sha],
            ).fetchone()
    except warehouse.WarehouseMissing:
        return None  # nothing loaded yet
    return dict(zip(("upload_id", "file_name", "wave", "uploaded_at"), row)) if row else None


def _load(mem, source: SourceFile, report: IngestResult, *, db, replace: bool, uploaded_by) -> None:
    """Attach the warehouse and insert the upload and its clean rows in one transaction."""
    upload_id = "u-" + uuid.uuid4().hex[:12]
    field_list = ", ".join(contract.FIELD_NAMES)
    with _attached_warehouse(mem, db):
        # Spellings already in the warehouse win over the file's (`north campus` joins `North Campus`).
        for f in ("site", "department"):
            mem.execute(
                f"""update clean set {f} = e.display from
                (select lower({f}) k, min({f}) display from wh.responses group by lower({f})) e
                where lower(clean.{f}) = e.k and clean.{f} <> e.display"""
            )
        with warehouse.transaction(mem):
            dup = mem.execute(
                "select upload_id, wave from wh.uploads where sha256 = ? and kind = 'responses'", [source.sha256]
            ).fetchone()
            if dup and not (replace and dup[1] == report.wave):
                raise InputError(f"{report.file_name}: this exact file was loaded as upload {dup[0]} meanwhile.")
            if replace:
                report.replaced_uploads = [
                    r[0]
                    for r in mem.execute(
                        "select upload_id from wh.uploads where wave = ? and kind = 'responses' order by 1",
                        [report.wave],
                    ).fetchall()
                ]
                mem.execute("delete from wh.responses where wave = ?", [report.wave])
                mem.execute("delete from wh.uploads where wave = ? and kind = 'responses'", [report.wave])
            mem.execute(
                "insert into wh.uploads values (?, 'responses', ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [
                    upload_id,
                    report.file_name,
                    source.sha256,
                    report.detected_format,
                    report.wave,
                    uploaded_by,
                    dt.datetime.now(),
                    report.rows_read,
                    report.rows_loaded,
                    report.rows_rejected,
                    report.dropped_columns,
                    len(report.warnings),
                ],
            )
            mem.execute(
                f"insert into wh.responses (response_key, upload_id, wave, {field_list}) "
                f"select gen_random_uuid()::varchar, ?, ?, {field_list} from clean "
                "where _reject is null order by _row",
                [upload_id, report.wave],
            )
            audit(
                mem,
                uploaded_by,
                "replace wave" if replace else "upload",
                upload_id,
                {"file": report.file_name, "wave": report.wave, "rows": report.rows_loaded},
                prefix="wh.",
            )
            pause = float(os.environ.get(_PAUSE_ENV, "0") or 0)
            if pause:
                print("PAUSED-IN-TRANSACTION", flush=True)
                time.sleep(pause)
        report.upload_id = upload_id
        report.status = "loaded"
