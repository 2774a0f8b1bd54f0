"""Per-unit driver rankings on ground-truth data do not crown a no-effect driver group."""

from __future__ import annotations

from pipelines.models import assumptions, drivers
from tests.models import ground_truth as gt


def test_unit_rankings_do_not_crown_the_zero_effect_or_inbox_driver():
    df = gt.model_frame(gt.simulate(6000, seed=1))
    frame = drivers._wave_drivers(
        df, ("organisation", "department", "department_role"), assumptions.values(None), 25, 30, 20, 0
    )
    units = frame[frame["level"] != "organisation"]
    ranks = units[[f"{g}_rank" for g in drivers.GROUP_KEYS]]
    top = ranks.idxmin(axis=1).str.removesuffix("_rank")
    noise = {gt.ZERO_EFFECT_DRIVER, "ehr_burden", *gt.NO_EFFECT_GROUPS}
    assert top.isin(noise).mean() <= 0.05
    assert set(units["weights_source"]) <= {"own", "shrunk", "organisation"}
    small = units[units["n"] < drivers.STABLE_UNIT_N]
    assert (small["weights_source"] != "own").all()
    org = frame[frame["level"] == "organisation"].iloc[0]
    assert org[f"{gt.ZERO_EFFECT_DRIVER}_importance"] < 0.002  # cross-validated: about zero
