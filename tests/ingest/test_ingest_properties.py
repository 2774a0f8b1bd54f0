"""Property-based tests: malformed input never escapes as an exception and never half-loads."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pipelines import contract
from pipelines.ingest import ingest
from pipelines.store import warehouse

header_names = st.sampled_from(
    [*contract.FIELD_NAMES, "wave", "Email", "Name", "Q1", "", "comments", "site ", "ROLE", "Age", "tenure"]
)
cell = st.one_of(
    st.sampled_from(
        [
            "",
            "1",
            "5",
            "0",
            "-3",
            "99",
            "3.5",
            "0,8",
            "80%",
            "yes",
            "NO",
            "Prefer not to answer",
            "[not completed]",
            "physician",
            "RN",
            "Likely",
            "burnout;ehr_admin",
            "=HYPERLINK(1)",
            "N/A",
            "1e309",
            "nan",
            "\u00e9",
            '"',
            "a,b",
            "x;y",
            "line\nbreak",
            "\t",
        ]
    ),  # fmt: skip
    st.text(max_size=12),
)


@st.composite
def csv_files(draw):
    ncols = draw(st.integers(1, 8))
    header = draw(st.lists(header_names, min_size=ncols, max_size=ncols))
    nrows = draw(st.integers(0, 12))
    delim = draw(st.sampled_from([",", ";", "\t"]))
    rows = []
    for _ in range(nrows):
        width = draw(st.integers(max(0, ncols - 2), ncols + 2))
        rows.append([draw(cell) for _ in range(width)])

    def fmt(v: str) -> str:
        if any(ch in v for ch in (delim, '"', "\n", "\r")):
            return '"' + v.replace('"', '""') + '"'
        return v

    text = "\n".join(delim.join(fmt(v) for v in row) for row in [header, *rows])
    encoding = draw(st.sampled_from(["utf-8", "utf-8-sig", "utf-16", "cp1252"]))
    return text.encode(encoding, errors="replace")


@settings(
    max_examples=int(os.environ.get("CLINRET_HYPOTHESIS_EXAMPLES", "60")),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(data=csv_files(), wave=st.sampled_from(["2025", None, " 2026 "]))
def test_malformed_files_never_raise_and_never_half_load(data, wave):
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "upload.csv"
        path.write_bytes(data)
        db = Path(tmp) / "w.duckdb"
        result = ingest(path, wave=wave, db=db)
        assert result.status in ("loaded", "rejected")
        with warehouse.connect(db, read_only=True) as con:
            stored = con.execute("select count(*) from responses").fetchone()[0]
            uploads = con.execute("select count(*) from uploads").fetchone()[0]
        if result.status == "rejected":
            assert result.errors, "a rejection must say why"
            assert (stored, uploads) == (0, 0)
        else:
            assert stored == result.rows_loaded == result.rows_read - result.rows_rejected
            assert uploads == 1
            assert result.rows_rejected <= 0.05 * result.rows_read
