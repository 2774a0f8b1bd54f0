"""Forecast checked against turnover: known truths for O/E, prediction intervals, the conversion
posterior, the forecast matching, and the confidentiality of the released table."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from pipelines.models import turnover as tv
from pipelines.release import build as release_build
from pipelines.release import privacy
from pipelines.release.tables import BuildContext
from pipelines.store import warehouse

SITES = ("North", "South", "East")
DEPTS = ("Medicine", "Surgery", "Emergency", "Paediatrics")
ROLES = ("physician", "nurse", "app")


def simulate_cells(
    rng: np.random.Generator,
    a: float,
    b: float,
    *,
    period: str = "2024",
    size: tuple[int, int] = (20, 120),
    months: float = 24.0,
) -> pd.DataFrame:
    """Cells with a known predicted-ITL share each; leavers drawn person by person: each person
    states ITL with the cell's probability, then leaves with probability a (ITL) or b (no ITL)."""
    rows = []
    for s in SITES:
        for d in DEPTS:
            for r in ROLES:
                h = int(rng.integers(*size))
                p = float(rng.uniform(0.05, 0.75))
                itl = rng.random(h) < p
                q = np.where(itl, a, b)
                q = 1 - (1 - q) ** (months / 24)  # independent of tv.window: written out here
                leavers = int((rng.random(h) < q).sum())
                rows.append((period, s, d, r, h, leavers, months, p, period, "department_role"))
    return pd.DataFrame(
        rows,
        columns=["period", "site", "department", "role", "headcount_at_start", "leavers", "period_months", "p_itl",
                 "forecast_wave", "prediction_level"],
    )  # fmt: skip


def org_row(table: pd.DataFrame) -> pd.Series:
    return table[table["level"] == "organisation"].iloc[0]


# ------------------------------------------------------------------------------------------
def test_byar_interval_matches_the_exact_poisson_interval():
    for o in (5, 12, 40, 200):
        exact_lo = stats.chi2.ppf(0.025, 2 * o) / 2
        exact_hi = stats.chi2.ppf(0.975, 2 * o + 2) / 2
        lo, hi = tv.byar_interval(np.array([o]), np.array([10.0]))
        assert lo[0] * 10 == pytest.approx(exact_lo, rel=0.02)
        assert hi[0] * 10 == pytest.approx(exact_hi, rel=0.02)
    lo, hi = tv.byar_interval(np.array([0]), np.array([4.0]))
    assert lo[0] == 0 and hi[0] * 4 == pytest.approx(-np.log(0.025), rel=0.05)  # exact upper for O = 0: 3.69


def test_the_period_length_turns_a_two_year_rate_by_constant_hazard():
    assert tv.window(0.25, 24) == pytest.approx(0.25)
    assert tv.window(0.25, 12) == pytest.approx(1 - np.sqrt(0.75))
    assert tv.leave_probability(0.4, 0.25, 0.08) == pytest.approx(0.4 * 0.25 + 0.6 * 0.08)


def test_without_data_the_posterior_is_the_published_prior():
    up_a, up_b, _ = tv.update_conversion(np.array([0]), np.array([0]), np.array([0.3]), strength=50)
    for up, mean in ((up_a, 0.25), (up_b, 0.08)):
        al, be = mean * 50, (1 - mean) * 50
        assert up.prior_mean == mean
        assert up.posterior_mean == pytest.approx(mean, abs=0.003)
        assert up.posterior_lo == pytest.approx(stats.beta.ppf(0.025, al, be), abs=0.005)
        assert up.posterior_hi == pytest.approx(stats.beta.ppf(0.975, al, be), abs=0.005)
        assert up.interval_ratio == pytest.approx(1.0, abs=0.05)


def test_the_posterior_covers_the_true_conversion_rates():
    """Truth away from the published priors: the 95% intervals cover it in most replications and the
    posterior moves from the prior towards it."""
    true_a, true_b = 0.38, 0.05
    rng = np.random.default_rng(20261202)
    cover_a = cover_b = 0
    reps = 24
    for _ in range(reps):
        cells = pd.concat([simulate_cells(rng, true_a, true_b, period=p) for p in ("2023", "2024")])
        up_a, up_b, corr = tv.update_conversion(
            cells["headcount_at_start"].to_numpy(), cells["leavers"].to_numpy(), cells["p_itl"].to_numpy()
        )
        cover_a += up_a.posterior_lo <= true_a <= up_a.posterior_hi
        cover_b += up_b.posterior_lo <= true_b <= up_b.posterior_hi
        assert abs(up_a.posterior_mean - true_a) < abs(up_a.prior_mean - true_a)
        assert abs(up_b.posterior_mean - true_b) < abs(up_b.prior_mean - true_b)
        assert up_a.interval_ratio < 1 and up_b.interval_ratio < 1
        assert corr < 0  # aggregate leavers trade one rate against the other
    assert cover_a / reps >= 0.8, cover_a
    assert cover_b / reps >= 0.8, cover_b


def test_a_shorter_period_is_learnt_on_the_two_year_scale():
    rng = np.random.default_rng(5)
    cells = pd.concat([simulate_cells(rng, 0.4, 0.06, months=12, size=(200, 400)) for _ in range(3)])
    up_a, up_b, _ = tv.update_conversion(
        cells["headcount_at_start"], cells["leavers"], cells["p_itl"], cells["period_months"]
    )
    assert up_a.posterior_lo <= 0.4 <= up_a.posterior_hi
    assert up_b.posterior_lo <= 0.06 <= up_b.posterior_hi


def test_observed_over_expected_is_about_one_when_the_forecast_is_right():
    """Leavers drawn with the forecast's own rates: O/E near 1, its interval covers 1 at the
    organisation level in most replications, and realised leavers fall inside the prediction
    interval at least 95% of the time (it adds the conversion uncertainty, so it is conservative)."""
    rng = np.random.default_rng(11)
    covers = inside = units = 0
    oes = []
    reps = 30
    for rep in range(reps):
        cells = simulate_cells(rng, 0.25, 0.08)
        table = tv.check_table(cells, a=0.25, b=0.08, seed=rep, draws=1000)
        org = org_row(table)
        oes.append(org["leave_rate_oe"])
        covers += org["leave_rate_oe_lo"] <= 1 <= org["leave_rate_oe_hi"]
        # independent recomputation of the organisation's expected leavers
        expected = (cells["headcount_at_start"] * (cells["p_itl"] * 0.25 + (1 - cells["p_itl"]) * 0.08)).sum()
        assert org["expected_departures"] == pytest.approx(expected)
        assert org["leave_rate_leavers"] == cells["leavers"].sum()
        cell_rows = table[table["level"] == "department_role"]
        units += len(cell_rows)
        inside += int(
            ((cell_rows["leave_rate_leavers"] >= cell_rows["predicted_leavers_lo"])
             & (cell_rows["leave_rate_leavers"] <= cell_rows["predicted_leavers_hi"])).sum()
        )  # fmt: skip
    assert np.mean(oes) == pytest.approx(1.0, abs=0.03)
    assert covers / reps >= 0.85
    assert inside / units >= 0.95


def test_a_unit_with_inflated_leavers_is_flagged():
    rng = np.random.default_rng(3)
    cells = simulate_cells(rng, 0.25, 0.08, size=(60, 120))
    target = 0
    h, p = cells.loc[target, "headcount_at_start"], cells.loc[target, "p_itl"]
    cells.loc[target, "leavers"] = int(round(3 * h * (p * 0.25 + (1 - p) * 0.08)))
    table = tv.check_table(cells, a=0.25, b=0.08)
    cell_rows = table[table["level"] == "department_role"]
    key = cells.loc[target, ["site", "department", "role"]].tolist()
    flagged = cell_rows[
        (cell_rows["site"] == key[0]) & (cell_rows["department"] == key[1]) & (cell_rows["role"] == key[2])
    ].iloc[0]
    assert flagged["leave_rate_check"] == tv.ABOVE
    assert flagged["leave_rate_oe_lo"] > 1.5
    assert (cell_rows["leave_rate_check"] == tv.ABOVE).sum() <= 4  # the others are mostly within forecast


def test_the_forecast_is_matched_by_wave_then_falls_back_to_coarser_units():
    risk_units = pd.DataFrame(
        [
            ("2024-autumn", "department_role", "North", "Medicine", "nurse", 0.50),
            ("2024-autumn", "site_role", "North", None, "physician", 0.30),
            ("2024-autumn", "role", None, None, "app", 0.20),
            ("2024-autumn", "organisation", None, None, None, 0.35),
            ("2023", "organisation", None, None, None, 0.10),
        ],
        columns=["wave", "level", "site", "department", "role", "predicted_itl_rate"],
    )
    turnover = pd.DataFrame(
        [
            ("2024", "north", "MEDICINE", "nurse", 40, 4, None),
            ("2024", "North", "Surgery", "physician", 20, 2, None),
            ("2024", "East", "Surgery", "app", 10, 1, None),
            ("2024", "East", "Surgery", "resident", 10, 1, None),
            ("2022", "North", "Medicine", "nurse", 40, 4, None),
        ],
        columns=["period", "site", "department", "role", "headcount_at_start", "leavers", "period_months"],
    )
    out = tv.attach_forecast(turnover, risk_units)
    assert out["forecast_wave"].tolist()[:4] == ["2024-autumn"] * 4
    assert pd.isna(out["forecast_wave"].iloc[4])
    assert out["p_itl"].tolist()[:4] == [0.50, 0.30, 0.20, 0.35]
    assert np.isnan(out["p_itl"].iloc[4])
    assert out["prediction_level"].tolist()[:4] == ["department_role", "site_role", "role", "organisation"]
    assert tv.forecast_wave("2023", ["2023", "2023-spring"]) == "2023"


def test_the_released_table_hides_a_unit_with_fewer_than_k_people():
    rng = np.random.default_rng(8)
    cells = simulate_cells(rng, 0.25, 0.08, size=(20, 60))
    cells.loc[0, ["headcount_at_start", "leavers"]] = [3, 1]
    small = cells.loc[0, ["site", "department", "role"]].tolist()
    released = tv.release_check(tv.check_table(cells, a=0.25, b=0.08), k=5)
    assert not privacy.check_released(released, 5, table=tv.TABLE, structure=False)
    cell_rows = released[released["level"] == "department_role"]
    row = cell_rows[
        (cell_rows["site"] == small[0]) & (cell_rows["department"] == small[1]) & (cell_rows["role"] == small[2])
    ].iloc[0]
    assert bool(row["suppressed"]) and pd.isna(row["n"])
    value_cols = [c for c in tv.CHECK_COLUMNS if c not in privacy.KEY_COLUMNS and c != "n"]
    assert row[value_cols].isna().all()
    # and it cannot be rebuilt by subtraction: its department hides at least one more cell (or itself)
    dept = released[(released["level"] == "department") & (released["site"] == small[0])
                    & (released["department"] == small[1])].iloc[0]  # fmt: skip
    siblings = cell_rows[(cell_rows["site"] == small[0]) & (cell_rows["department"] == small[1])]
    assert bool(dept["suppressed"]) or siblings["suppressed"].sum() >= 2


def test_a_small_unit_where_no_one_left_never_shows_its_zero():
    rng = np.random.default_rng(9)
    cells = simulate_cells(rng, 0.25, 0.08, size=(20, 60))
    cells.loc[0, ["headcount_at_start", "leavers"]] = [8, 0]
    released = tv.release_check(tv.check_table(cells, a=0.25, b=0.08), k=5)
    site, dept, role = cells.loc[0, ["site", "department", "role"]]
    row = released[(released["level"] == "department_role") & (released["site"] == site)
                   & (released["department"] == dept) & (released["role"] == role)].iloc[0]  # fmt: skip
    assert not bool(row["suppressed"]) and row["n"] == 8
    assert pd.isna(row["leave_rate"]) and pd.isna(row["leave_rate_leavers"]) and pd.isna(row["leave_rate_oe"])
    # a band, or hidden outright when the band would leave a small homogeneous remainder in its department
    assert row["leave_rate_display"].startswith("≤") or row["leave_rate_display"] == privacy.SUPPRESSED_TEXT


def test_the_producer_releases_both_tables_through_the_confidentiality_layer(tmp_path):
    from pipelines.ingest.turnover import ingest_turnover
    from tests.conftest import write_csv
    from tests.model_fixtures import insert_responses, simulate

    db = tmp_path / "w.duckdb"
    rng = np.random.default_rng(4)
    cells = simulate_cells(rng, 0.3, 0.07)
    header = ["site", "department", "role", "period", "headcount_at_start", "leavers"]
    rows = cells[["site", "department", "role", "period", "headcount_at_start", "leavers"]].values.tolist()
    with warehouse.connect(db) as con:  # a fresh warehouse: the survey first
        insert_responses(con, simulate(n=50, wave="2024").frame)
    assert ingest_turnover(write_csv(tmp_path / "t.csv", header, rows), db=db).status == "loaded"
    risk_units = cells.assign(wave="2024", level="department_role", predicted_itl_rate=cells["p_itl"])
    with warehouse.connect(db, read_only=True) as con:  # the build's producers read only
        ctx = BuildContext(k=5, intentions_k=10)
        out = tv.produce_turnover(con, ctx, risk_units=risk_units)
    assert [t.name for t in out] == [tv.TABLE, tv.CONVERSION_TABLE]
    for table in out:
        release_build._validate(table, ctx)  # what the build checks before storing
    conv = out[1].frame.iloc[0]
    assert conv["p_leave_itl_prior"] == 0.25 and conv["p_leave_no_itl_prior"] == 0.08
    assert conv["p_leave_itl_posterior_lo"] <= 0.3 <= conv["p_leave_itl_posterior_hi"]
    assert conv["n"] == cells["headcount_at_start"].sum()
    org = org_row(out[0].frame)
    assert org["leave_rate_leavers"] == cells["leavers"].sum()


def test_no_turnover_no_tables(memory_warehouse):
    from tests.model_fixtures import insert_responses, simulate

    insert_responses(memory_warehouse, simulate(n=50, wave="2024").frame)
    assert tv.produce_turnover(memory_warehouse, BuildContext(k=5, intentions_k=10)) == []


def test_an_uploaded_turnover_file_is_checked_by_the_build(sample_copy, tmp_path):
    """End to end: the bundled sample plus a turnover file for its units; the build releases the
    forecast check and the learnt conversion rates, and publishes them in its snapshot."""
    import csv

    from pipelines.ingest.turnover import ingest_turnover
    from pipelines.release import build, publish, tables
    from tests.conftest import ROOT

    with open(ROOT / "sample_data" / "headcount.csv", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    path = tmp_path / "separations.csv"
    with open(path, "w", newline="", encoding="utf-8") as fh:
        out = csv.writer(fh)
        out.writerow(["site", "department", "role", "period", "headcount_at_start", "leavers"])
        for r in rows:
            out.writerow([r["site"], r["department"], r["role"], "2025", r["headcount"], int(r["headcount"]) // 6])
    result = ingest_turnover(path, db=sample_copy)
    assert result.status == "loaded", result.errors
    summary = build.build(sample_copy)
    assert tables.TURNOVER_CHECK in summary.tables and summary.tables[tables.TURNOVER_CHECK] > 0
    assert tables.TURNOVER_CONVERSION in summary.tables
    snap = publish.current(publish.default_root(sample_copy))
    check = publish.read_table(snap, tables.TURNOVER_CHECK)
    assert len(check) == summary.tables[tables.TURNOVER_CHECK]
