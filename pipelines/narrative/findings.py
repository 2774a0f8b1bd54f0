"""Finding sentences for the screen and the PDF: what the released numbers say, in plain words.

Rows of released tables in, sentences out. Intent to leave is never called a departure count.
No Streamlit, no SQL, no statistics beyond reading what the confidentiality layer released.
"""

from __future__ import annotations

import pandas as pd

from pipelines.charts.formats import flag, short_population, unit_label

__all__ = ["findings"]


_NOUNS = {
    "burnout": "burnout",
    "itl": "stated intent to leave",
    "high_stress": "high stress",
    "satisfied": "job satisfaction",
    "valued": "feeling valued",
}


def findings(
    selection: pd.DataFrame, units: pd.DataFrame, bench: pd.DataFrame, who: str = "the organisation"
) -> list[str]:
    """Three sentences on what the released numbers say: level and change, where it is worst,
    and how it compares with published figures. Never calls intent to leave a departure count."""
    out: list[str] = []

    def row(metric: str) -> pd.Series | None:
        r = (
            selection[(selection["metric"] == metric) & selection["value"].notna()]
            if not selection.empty
            else selection
        )
        return None if r.empty else r.iloc[0]

    b, itl = row("burnout"), row("itl")
    if b is not None and itl is not None:
        text = (
            f"In {who}, {100 * b['value']:.0f}% report burnout and {100 * itl['value']:.0f}% say they "
            "may leave within two years (a stated intention, not a forecast of departures)"
        )
        moves = []
        for r in (b, itl):
            if flag(r.get("exceeds_noise")):
                moves.append(
                    f"{_NOUNS[r['metric']]} {'rose' if r['change'] > 0 else 'fell'} {abs(100 * r['change']):.1f} points"
                )
        text += (
            f"; since the last wave {' and '.join(moves)}."
            if moves
            else "; neither moved beyond sampling noise since the last wave."
        )
        out.append(text)
    worst = units[(units["metric"] == "burnout") & units["value"].notna()] if not units.empty else units
    if not worst.empty:
        key = "shrunk" if worst["shrunk"].notna().any() else "value"
        top = worst.sort_values(key, ascending=False).iloc[0]
        out.append(
            f"Burnout is highest in {unit_label(top)} at {100 * top['value']:.0f}% "
            f"(95% interval {100 * top['lo']:.0f}–{100 * top['hi']:.0f}%, n = {int(top['answered'])}), "
            "ranked after allowing for small-unit noise."
        )
    if not bench.empty:
        r = bench[bench["metric"] == "itl"]
        r = r if not r.empty else bench
        r = r.sort_values("year").iloc[-1]
        if r["lo"] <= r["benchmark"] <= r["hi"]:
            verdict = "in line with"
        else:
            verdict = "lower than" if r["organisation"] < r["benchmark"] else "higher than"
        out.append(
            f"{_NOUNS.get(r['metric'], r['measure']).capitalize()} here ({100 * r['organisation']:.0f}%) is {verdict} the "
            f"{short_population(r['population'])} figure of {100 * r['benchmark']:.0f}% ({r['year']})."
        )
    return out[:3]
