"""Methodology text, generated from the contract and the metric catalogue so it cannot drift.

Definitions of every released measure and survey item, the settings with their sources, and the
standing note on what intent to leave is (and is not). No Streamlit, no SQL.
"""

from __future__ import annotations

from collections.abc import Iterable

import pandas as pd

from pipelines import contract
from pipelines.metrics.released import METRICS_BY_NAME

__all__ = ["ITL_NOTE", "item_definitions", "metric_definitions", "settings_definitions"]


ITL_NOTE = (
    "Intent to leave (ITL) is what people say about the next two years, not a count of people who will "
    "leave: in published follow-ups only about a third of those who said so actually left. Expected "
    "departures below convert stated intent into departures with published rates."
)


_STAT_WORDS = {
    "rate": "share of those who answered (95% Wilson interval)",
    "mean": "average",
    "median": "median (half answer less)",
    "p75": "75th centile (a quarter answer more)",
}


def _metric_rule(name: str) -> str:
    from pipelines.metrics import released as metrics

    items = contract.ITEMS_BY_NAME
    if name.startswith("unfav_"):
        item = items[name.removeprefix("unfav_")]
        return f"“{item.question}” answered {item.unfavourable_text()}"
    if name == "burnout":
        return f"“{items['burnout_level'].question}” answered {items['burnout_level'].unfavourable_text()}"
    if name == "high_stress":
        return f"“{items['stress'].question}” answered {items['stress'].unfavourable_text()}"
    if name in ("satisfied", "valued"):
        item = items["satisfaction" if name == "satisfied" else "feel_valued"]
        at = metrics.SATISFIED_AT if name == "satisfied" else metrics.VALUED_AT
        return f"“{item.question}” answered {' or '.join(f'“{x}”' for x in item.labels[at - 1 :])}"
    if name == "itl":
        return (
            f"Intent to leave answered “{contract.INTENT_TO_LEAVE_LABELS[contract.ITL_THRESHOLD - 1]}” or higher "
            "(a stated intention, not a departure)"
        )
    if name in ("mini_z", "joyful"):
        reversed_ = ", ".join(contract.MINI_Z_REVERSED)
        base = f"Sum of the {len(contract.MINI_Z_ITEMS)} Mini-Z-style items (1-5 each; {reversed_} reversed)"
        return base + (f"; joyful when {contract.MINI_Z_JOYFUL_AT} or more" if name == "joyful" else "")
    if name == "call_heavy":
        return f"{metrics.CALL_HEAVY_AT} or more call nights a month"
    if name == "reduce_fte":
        return contract.FIELDS_BY_NAME["intent_to_reduce_fte"].description
    field_names = {
        "ehr_after_hours_median": "ehr_after_hours_per_week",
        "ehr_after_hours_p75": "ehr_after_hours_per_week",
        "inbox_median": "inbox_messages_per_day",
        "call_nights": "call_nights_per_month",
        "clinical_fte": "clinical_fte",
    }
    return contract.FIELDS_BY_NAME[field_names[name]].description if name in field_names else ""


def metric_definitions() -> pd.DataFrame:
    """Every released metric: name, label, what the number is, and who counts."""
    return pd.DataFrame(
        [
            {
                "measure": m.label,
                "code": m.name,
                "number shown": _STAT_WORDS.get(m.stat, m.stat),
                "definition": _metric_rule(m.name),
            }
            for m in METRICS_BY_NAME.values()
        ]
    )


def item_definitions() -> pd.DataFrame:
    """Every 1-5 survey item: question, the five answer labels, and the unfavourable rule."""
    return pd.DataFrame(
        [
            {
                "item": i.short,
                "question": i.question,
                "answers (1 to 5)": " | ".join(i.labels),
                "counted as unfavourable": i.unfavourable_text(),
            }
            for i in contract.ITEMS
        ]
    )


def settings_definitions(settings: Iterable, values: dict) -> pd.DataFrame:
    """Registered settings with their current value, default, description and source."""
    return pd.DataFrame(
        [
            {
                "setting": s.key,
                "current": values.get(s.key, s.default),
                "default": s.default,
                "meaning": s.description,
                "source": s.source,
            }
            for s in settings
        ]
    )
