"""Exports read back: PDF (pypdf text, pdftoppm pages), Excel (openpyxl), PowerPoint (python-pptx), CSV.

One bundled sample warehouse per session (plus a copy with the model tables and saved scenarios, and a
copy with a formula-injection unit name); each export is built once per session and read by several
tests. Checks: numbers equal the released tables of the same scope; no suppressed cell carries a
value; a site-scoped export holds no other site's name and no organisation-wide row; injection text
is inert while numbers stay numeric; sections with no table yet say so; every export is audited.
"""

from __future__ import annotations

import csv
import io
import json
import math
import shutil
import subprocess
import zipfile
from pathlib import Path

import numpy as np
import openpyxl
import pandas as pd
import pytest

from pipelines.ingest import first_run as bootstrap
from pipelines.metrics import released as metrics
from pipelines.release import build
from pipelines.reports import api
from pipelines.reports import data as report_data
from pipelines.reports.tabular import inert
from pipelines.store import warehouse

pypdf = pytest.importorskip("pypdf")

SITE = "Riverside Medical Center"
INJECTION = '=HYPERLINK("http://x","y")'


# ------------------------------------------------------------------------------------------
# Session fixtures
# ------------------------------------------------------------------------------------------
def _metrics_only_build(db: Path) -> None:
    """Rebuild with the metrics producers only (fast; model tables are dropped as stale)."""
    keep = [p for p in build.PRODUCERS if p in (build.produce_metrics, build.produce_benchmarks)]
    saved = list(build.PRODUCERS)
    build.PRODUCERS[:] = keep
    try:
        build.build(db)
    finally:
        build.PRODUCERS[:] = saved


@pytest.fixture(scope="session")
def model_db(tmp_path_factory) -> Path:
    """The bundled sample with the released model tables and saved example scenarios."""
    from pipelines.reports import sample

    db = tmp_path_factory.mktemp("reports") / "sample.duckdb"
    bootstrap.load_sample(db, actor="test")
    sample.ensure_models(db)  # a no-op once the build includes the models
    sample.save_examples(db, resamples=30, refits=4)
    return db


@pytest.fixture(scope="session")
def sample_db(model_db, tmp_path_factory) -> Path:
    """The sample with the metrics tables only (as before the model tables existed)."""
    db = tmp_path_factory.mktemp("reports_metrics") / "metrics.duckdb"
    shutil.copy(model_db, db)
    with warehouse.connect(db) as con:
        con.execute("delete from scenarios")
    _metrics_only_build(db)
    return db


@pytest.fixture(scope="session")
def injection_db(sample_db, tmp_path_factory) -> Path:
    """The sample with one department renamed to a spreadsheet formula, rebuilt."""
    db = tmp_path_factory.mktemp("reports_injection") / "inject.duckdb"
    shutil.copy(sample_db, db)
    with warehouse.connect(db) as con:
        dept = con.execute(
            "select department from responses where site = ? group by 1 order by count(*) desc limit 1", [SITE]
        ).fetchone()[0]
        con.execute("update responses set department = ? where site = ? and department = ?", [INJECTION, SITE, dept])
        con.execute("update headcount set department = ? where site = ? and department = ?", [INJECTION, SITE, dept])
    _metrics_only_build(db)
    return db


class Exports(dict):
    """Exports built on first use and kept for the session: exports[(fmt, site)] -> bytes."""

    def __init__(self, db: Path):
        super().__init__()
        self.db = db

    def __missing__(self, key: tuple[str, str | None]) -> bytes:
        fmt, site = key
        content, filename, mime = api.build_export(fmt, db=self.db, site=site, actor="tester")
        assert filename.endswith(api.FORMATS[fmt][0]) and mime == api.FORMATS[fmt][1]
        self[key] = content
        return content


@pytest.fixture(scope="session")
def exports(model_db) -> Exports:
    return Exports(model_db)


def released(
    db: Path, site: str | None = None, department: str | None = None, wave: str | None = None
) -> report_data.ReportData:
    with warehouse.connect(db, read_only=True) as con:
        return report_data.load(con, wave=wave, site=site, department=department)


_TEXT: dict[int, str] = {}


def pdf_text(content: bytes) -> str:
    key = hash(content)
    if key not in _TEXT:
        reader = pypdf.PdfReader(io.BytesIO(content))
        _TEXT[key] = "\n".join(page.extract_text() or "" for page in reader.pages)
    return _TEXT[key]


def flat(text: str) -> str:
    return " ".join(text.split())


def xlsx_rows(content: bytes, sheet: str) -> tuple[list[str], list[tuple]]:
    wb = openpyxl.load_workbook(io.BytesIO(content))
    ws = wb[sheet]
    rows = list(ws.iter_rows(values_only=True))
    return [str(c) for c in rows[0]], rows[1:]


def csv_files(content: bytes) -> dict[str, bytes]:
    with zipfile.ZipFile(io.BytesIO(content)) as zf:
        return {name: zf.read(name) for name in zf.namelist()}


def numbers_equal(a, b) -> bool:
    if a is None or (isinstance(a, float) and math.isnan(a)):
        return b is None or (isinstance(b, float) and math.isnan(b)) or b is pd.NA
    if b is None or b is pd.NA or (isinstance(b, float) and math.isnan(b)):
        return False
    return math.isclose(float(a), float(b), rel_tol=1e-9, abs_tol=1e-12)


# ------------------------------------------------------------------------------------------
# Scope
# ------------------------------------------------------------------------------------------
def test_site_scope_keeps_only_rows_of_that_site(model_db):
    data = released(model_db, site=SITE)
    for name, frame in data.tables.items():
        if name.startswith("ref_"):
            continue
        assert not frame.empty, name
        assert (frame["site"].astype(object) == SITE).all(), f"{name} has rows outside {SITE}"
        assert "organisation" not in set(frame.get("level", [])), name
        assert "role" not in set(frame.get("level", [])), name  # organisation-wide role rows


def test_department_scope_and_wave(model_db):
    groups = released(model_db).tables["rel_groups"]
    dept = groups[(groups["level"] == "department") & (groups["site"] == SITE)]["department"].iloc[0]
    data = released(model_db, site=SITE, department=dept, wave="2025")
    assert data.waves == ("2024", "2025")
    m = data.tables["rel_metrics"]
    assert set(m["level"]) <= {"department", "department_role"}
    assert (m["department"] == dept).all() and set(m["wave"]) <= {"2024", "2025"}
    # a department name alone resolves only when it is unique to one site
    with pytest.raises(report_data.ScopeError):
        released(model_db, site="No Such Site")
    with pytest.raises(report_data.ScopeError):
        released(model_db, wave="1999")


# ------------------------------------------------------------------------------------------
# Excel
# ------------------------------------------------------------------------------------------
def sheet_frame(content: bytes, sheet: str) -> pd.DataFrame:
    wb = openpyxl.load_workbook(io.BytesIO(content), read_only=True)
    rows = list(wb[sheet].iter_rows(values_only=True))
    wb.close()
    return pd.DataFrame(rows[1:], columns=[str(c) for c in rows[0]], dtype=object)


@pytest.mark.parametrize("site", [None, SITE])
def test_xlsx_numbers_equal_released_tables(exports, model_db, site):
    content = exports[("xlsx", site)]
    data = released(model_db, site=site)
    assert openpyxl.load_workbook(io.BytesIO(content), read_only=True).sheetnames[0] == "README"
    for name, ref in data.tables.items():
        got = sheet_frame(content, name[:31])
        assert len(got) == len(ref), name
        hidden = (
            ref["suppressed"].fillna(True).astype(bool).to_numpy() if "suppressed" in ref else np.zeros(len(ref), bool)
        )
        for col in ref.columns:
            if col not in got.columns:
                assert col.endswith("_display"), (name, col)  # merged into its rate column
                continue
            r = ref[col]
            if pd.api.types.is_bool_dtype(r):
                known = r.notna().to_numpy()
                vals = got[col].to_numpy()[known]
                assert all(isinstance(v, bool) for v in vals), (name, col)
                assert (vals.astype(bool) == r[known].astype(bool).to_numpy()).all(), (name, col)
            elif pd.api.types.is_numeric_dtype(r):
                want = r.to_numpy(dtype=float, na_value=np.nan)
                shown = ~np.isnan(want)
                vals = got[col].to_numpy()
                assert all(isinstance(v, (int, float)) for v in vals[shown]), (name, col)
                np.testing.assert_allclose(vals[shown].astype(float), want[shown], rtol=1e-12, err_msg=f"{name}.{col}")
                # hidden (or banded) cells show the released display text, never a number
                assert not any(isinstance(v, (int, float)) and not isinstance(v, bool) for v in vals[~shown])
                if hidden.any() and col not in ("n",):
                    assert all(isinstance(v, str) for v in vals[hidden & ~shown]), (name, col)


def test_xlsx_formatting_and_readme(exports):
    content = exports[("xlsx", SITE)]
    wb = openpyxl.load_workbook(io.BytesIO(content))
    ws = wb["rel_metrics"]
    assert ws.freeze_panes == "A2"
    assert ws.auto_filter.ref and ws.auto_filter.ref.startswith("A1")
    header = [c.value for c in ws[1]]
    vcol, scol = header.index("value") + 1, header.index("stat") + 1
    seen = set()
    for r in range(2, 400):
        stat, cell = ws.cell(r, scol).value, ws.cell(r, vcol)
        if isinstance(cell.value, float):
            seen.add(stat)
            assert (cell.number_format == "0.0%") == (stat == "rate")
    assert "rate" in seen
    risk = wb["rel_unit_risk"]
    header = [c.value for c in risk[1]]
    assert risk.cell(2, header.index("cost_exposure") + 1).number_format.startswith("$#,##0")
    assert risk.cell(2, header.index("predicted_itl_rate") + 1).number_format == "0.0%"
    readme = "\n".join(str(c) for row in wb["README"].iter_rows(values_only=True) for c in row if c is not None)
    for text in ("Scope", "Wave", "Minimum group size (k)", "Generated at", "burnout", "itl", "Definition".lower()):
        assert text.lower() in readme.lower()


def test_xlsx_and_csv_never_show_a_suppressed_value(exports, model_db):
    """Hidden rows carry no number; the exact pre-suppression figures appear nowhere in those rows."""
    data = released(model_db, site=SITE)
    m = data.tables["rel_metrics"]
    hidden = m[m["suppressed"].astype(bool)]
    assert not hidden.empty, "the sample should have hidden cells in this scope"
    with warehouse.connect(model_db, read_only=True) as con:
        raw = metrics.compute_metrics(con)
    keys = ["wave", "site", "department", "role", "metric"]
    raw = raw.merge(hidden[keys], on=keys)
    assert len(raw) == len(hidden)
    header, rows = xlsx_rows(exports[("xlsx", SITE)], "rel_metrics")
    by_key = {tuple(str(r[header.index(k)]) for k in keys): r for r in rows}
    for _, ref in raw.iterrows():
        row = by_key[tuple(str(ref[k]) if pd.notna(ref[k]) else "None" for k in keys)]
        numbers = [v for v in row if isinstance(v, (int, float)) and not isinstance(v, bool)]
        assert numbers == [], f"hidden row shows numbers {numbers}"
        assert row[header.index("value")] == "hidden to protect confidentiality"
    files = csv_files(exports[("csv", SITE)])
    frame = pd.read_csv(io.BytesIO(files["rel_metrics.csv"]), dtype={"wave": str})
    sup = frame[frame["suppressed"].astype(bool)]
    assert len(sup) == len(hidden)
    value_cols = ["n", "answered", "value", "lo", "hi", "shrunk", "change", "change_lo", "change_hi"]
    assert sup[value_cols].isna().all().all()
    for name, content in files.items():
        if name.endswith(".csv"):
            f = pd.read_csv(io.BytesIO(content))
            assert {"n", "suppressed"} <= set(f.columns), name


def test_formula_injection_is_inert_and_numbers_stay_numeric(injection_db, tmp_path):
    content, _, _ = api.build_export("xlsx", db=injection_db, site=SITE, actor="tester")
    wb = openpyxl.load_workbook(io.BytesIO(content))
    ws = wb["rel_metrics"]
    header = [c.value for c in ws[1]]
    dcol = header.index("department") + 1
    ncol = header.index("n") + 1
    found = 0
    for r in range(2, ws.max_row + 1):
        cell = ws.cell(r, dcol)
        if cell.value and "HYPERLINK" in str(cell.value):
            found += 1
            assert cell.value == "'" + INJECTION and cell.data_type == "s"
            n = ws.cell(r, ncol).value
            assert n is None or isinstance(n, int)
    assert found
    for sheet in wb.worksheets:
        for row in sheet.iter_rows():
            for cell in row:
                assert cell.data_type != "f", f"formula in {sheet.title}!{cell.coordinate}"
    out = api.export("csv", tmp_path / "csv", db=injection_db, site=SITE, actor="tester")
    with open(out / "rel_metrics.csv", newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    hits = [r for r in rows if "HYPERLINK" in r["department"]]
    assert hits and all(r["department"] == "'" + INJECTION for r in hits)
    visible = [r for r in hits if r["suppressed"] == "False"]
    assert visible and all(r["n"].isdigit() for r in visible)
    assert any(r["value"] and float(r["value"]) >= 0 for r in visible)
    assert inert("-3") == "'-3" and inert("3") == "3"


# ------------------------------------------------------------------------------------------
# CSV
# ------------------------------------------------------------------------------------------
def test_csv_extracts_and_manifest_match_released(exports, model_db):
    files = csv_files(exports[("csv", SITE)])
    man = json.loads(files["manifest.json"])
    data = released(model_db, site=SITE)
    assert man["wave"] == data.wave and man["threshold"]["min_group_size"] == data.k
    assert man["scope"]["level"] == "site" and "generated_at" in man
    assert {t["name"] for t in man["tables"]} == set(data.tables)
    for t in man["tables"]:
        frame = pd.read_csv(
            io.BytesIO(files[t["file"]]), dtype={"wave": str, "site": str, "department": str, "role": str}
        )
        ref = data.tables[t["name"]]
        assert len(frame) == len(ref) == t["rows"]
        for col in ref.columns:
            if pd.api.types.is_float_dtype(ref[col]):
                np.testing.assert_allclose(
                    frame[col].to_numpy(dtype=float),
                    ref[col].to_numpy(dtype=float, na_value=np.nan),
                    rtol=1e-12,
                    equal_nan=True,
                )


# ------------------------------------------------------------------------------------------
# PDF
# ------------------------------------------------------------------------------------------
def test_pdf_carries_the_released_numbers(exports, model_db):
    text = flat(pdf_text(exports[("pdf", None)]))
    data = released(model_db)
    m = data.tables["rel_metrics"]
    org = m[(m["level"] == "organisation") & (m["wave"] == data.wave)].set_index("metric")
    for metric in ("burnout", "itl", "high_stress"):
        assert org.loc[metric, "display"] in text, metric
    groups = data.tables["rel_groups"]
    n = groups[(groups["level"] == "organisation") & (groups["wave"] == data.wave)]["n"].iloc[0]
    assert f"{int(n):,}" in text
    risk = data.tables["rel_unit_risk"]
    r = risk[(risk["level"] == "organisation") & (risk["wave"] == data.wave)].iloc[0]
    assert f"{float(r['expected_departures']):,.0f}" in text
    for heading in ("Executive summary", "Risk by unit", "Drivers", "Intentions and reasons", "Retention options",
                    "Trends", "Methodology, sources and caveats"):  # fmt: skip
        assert heading in text
    assert f"k = {data.k}" in text and "not a count of people who will leave" in text
    assert "not proof of cause" in text
    assert "Page 2 of" in text
    assert "EHR support and no night call" in text  # saved scenarios compared


def test_pdf_pages_render_and_are_not_blank(exports, tmp_path):
    content = exports[("pdf", SITE)]
    path = tmp_path / "report.pdf"
    path.write_bytes(content)
    from PIL import Image

    if shutil.which("pdftoppm"):
        subprocess.run(["pdftoppm", "-r", "30", "-png", str(path), str(tmp_path / "page")], check=True)
        images = [Image.open(p).convert("L") for p in sorted(tmp_path.glob("page-*.png"))]
    else:
        pdfium = pytest.importorskip("pypdfium2", reason="needs pdftoppm (poppler-utils) or pypdfium2")
        doc = pdfium.PdfDocument(str(path))
        images = [doc[i].render(scale=30 / 72).to_pil().convert("L") for i in range(len(doc))]
    assert len(images) == len(pypdf.PdfReader(io.BytesIO(content)).pages) >= 6
    for i, im in enumerate(images, start=1):
        ink = (np.asarray(im) < 200).mean()
        assert ink > 0.003, f"page {i} is blank"


def test_pdf_templates_escape_every_unit_name(injection_db):
    """The PDF's HTML comes from autoescaped templates: a unit name is text, never markup."""
    from pipelines.reports import pdf

    assert pdf.environment().autoescape is True
    html = pdf.build_html(released(injection_db, site=SITE))
    assert "=HYPERLINK(&#34;http://x&#34;,&#34;y&#34;)" in html  # the department name, escaped
    assert INJECTION not in html
    assert "<b>k = " in html and "<i>say</i>" in html  # the templates' own markup is kept
    with pytest.raises(Exception):  # noqa: B017 - a section missing a value fails loudly (StrictUndefined)
        pdf.render("trends")


@pytest.mark.parametrize("fmt", ["pdf", "xlsx", "csv", "pptx"])
def test_site_scoped_export_names_no_other_site(exports, model_db, fmt):
    all_sites = set(released(model_db).tables["rel_groups"].query("level == 'site'")["site"])
    others = all_sites - {SITE}
    assert len(others) >= 3
    content = exports[(fmt, SITE)]
    if fmt == "pdf":
        text = pdf_text(content)
    elif fmt == "xlsx":
        wb = openpyxl.load_workbook(io.BytesIO(content))
        text = "\n".join(
            str(c) for ws in wb.worksheets for row in ws.iter_rows(values_only=True) for c in row if c is not None
        )
    elif fmt == "csv":
        text = "\n".join(v.decode("utf-8") for v in csv_files(content).values())
    else:
        from pptx import Presentation

        prs = Presentation(io.BytesIO(content))
        parts = []
        for slide in prs.slides:
            for shape in slide.shapes:
                if shape.has_text_frame:
                    parts.append(shape.text_frame.text)
                if shape.has_table:
                    parts += [c.text for row in shape.table.rows for c in row.cells]
        text = "\n".join(parts)
    words = flat(text)
    assert SITE.split()[0] in words
    for other in others:
        first = other.split()[0].strip("'.") if not other.startswith("St.") else "Brendan"
        assert other not in words and first not in words, f"{other} leaked into the {fmt} export"
    if fmt == "csv":
        man = json.loads(csv_files(content)["manifest.json"])
        assert man["scope"] == {"level": "site", "site": SITE, "department": None}


# ------------------------------------------------------------------------------------------
# PowerPoint
# ------------------------------------------------------------------------------------------
def test_pptx_slides_tables_and_pictures(exports, model_db):
    from pptx import Presentation

    prs = Presentation(io.BytesIO(exports[("pptx", SITE)]))
    assert 6 <= len(prs.slides) <= 10
    tables = [s for slide in prs.slides for s in slide.shapes if s.has_table]
    pictures = [s for slide in prs.slides for s in slide.shapes if s.shape_type == 13]
    assert len(tables) >= 2 and len(pictures) >= 4
    text = flat(" ".join(s.text_frame.text for slide in prs.slides for s in slide.shapes if s.has_text_frame))
    data = released(model_db, site=SITE)
    m = data.tables["rel_metrics"]
    org = m[(m["level"] == "site") & (m["wave"] == data.wave)].set_index("metric")
    assert org.loc["burnout", "display"] in text and org.loc["itl", "display"] in text
    cells = " ".join(c.text for t in tables for row in t.table.rows for c in row.cells)
    assert org.loc["high_stress", "display"] in cells


# ------------------------------------------------------------------------------------------
# Missing tables, audit, CLI
# ------------------------------------------------------------------------------------------
def test_sections_without_tables_say_so(sample_db):
    content, _, _ = api.build_export("pdf", db=sample_db, actor="tester")
    text = flat(pdf_text(content))
    assert "rel_unit_risk" in text and "cannot be shown yet" in text
    assert "No retention scenario has been saved" in text
    xlsx, _, _ = api.build_export("xlsx", db=sample_db, actor="tester")
    assert openpyxl.load_workbook(io.BytesIO(xlsx)).sheetnames == [
        "README",
        "rel_groups",
        "rel_metrics",
        "ref_benchmarks",
    ]
    pptx, _, _ = api.build_export("pptx", db=sample_db, actor="tester")
    from pptx import Presentation

    assert 6 <= len(Presentation(io.BytesIO(pptx)).slides) <= 10


def test_every_export_is_audited(exports, model_db):
    with warehouse.connect(model_db, read_only=True) as con:
        rows = con.execute("select actor, object, outcome, detail from audit_log where action = 'export'").fetchall()
    details = [json.loads(r[3]) for r in rows if r[0] == "tester" and r[2] == "ok"]
    formats = {(d["format"], d["scope"]["site"]) for d in details}
    exports[("pdf", None)], exports[("pptx", SITE)]  # noqa: B018 - make sure both were built
    with warehouse.connect(model_db, read_only=True) as con:
        rows = con.execute("select actor, object, outcome, detail from audit_log where action = 'export'").fetchall()
    details = [json.loads(r[3]) for r in rows if r[0] == "tester" and r[2] == "ok"]
    formats = {(d["format"], d["scope"]["site"]) for d in details}
    assert {("pdf", None), ("pptx", SITE)} <= formats
    assert all("wave" in d["scope"] and d["tables"] for d in details)


def test_cli_export(model_db, tmp_path, capsys):
    from pipelines.cli.main import COMMAND_MODULES, build_parser

    parser = build_parser()
    if "pipelines.cli.reports" not in COMMAND_MODULES:
        import argparse

        from pipelines.cli import reports as reports_cli

        parser = argparse.ArgumentParser()
        reports_cli.register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(
        ["export", "--format", "csv", "--out", str(tmp_path / "out"), "--db", str(model_db), "--site", SITE, "--quiet"]
    )
    assert args.func(args) == 0
    assert (tmp_path / "out" / "manifest.json").exists() and (tmp_path / "out" / "rel_metrics.csv").exists()
    args = parser.parse_args(
        [
            "export",
            "--format",
            "pdf",
            "--out",
            str(tmp_path / "x.pdf"),
            "--db",
            str(model_db),
            "--site",
            "Nowhere",
            "--quiet",
        ]
    )
    assert args.func(args) == 2
    assert "Nowhere" in capsys.readouterr().err
