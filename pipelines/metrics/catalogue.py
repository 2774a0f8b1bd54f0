"""The catalogue of released survey metrics: name, what `value` is, and the SQL that scores a
respondent. It depends only on the contract, so the release, the attacker, the charts and the
narrative can all read it without importing the metrics computation."""

from __future__ import annotations

from dataclasses import dataclass

from pipelines import contract

SATISFIED_AT = 4  # "agree" or "strongly agree": the favourable share, as the AMA reports it
VALUED_AT = 4
CALL_HEAVY_AT = 4  # call nights a month counted as a heavy call load
SHRUNK_METRICS: tuple[str, ...] = ("burnout", "itl")


@dataclass(frozen=True)
class Metric:
    """One released metric: its name, what `value` is, and the SQL that scores a respondent."""

    name: str
    label: str
    stat: str  # rate | mean | median | p75
    expr: str  # per respondent: a boolean flag for rates, a number otherwise; NULL = missing

    @property
    def column(self) -> str:
        return f"m_{self.name}"


def _mini_z_sql() -> str:
    parts = []
    for name in contract.MINI_Z_ITEMS:
        parts.append(f"(6 - {name})" if name in contract.MINI_Z_REVERSED else name)
    complete = " and ".join(f"{name} is not null" for name in contract.MINI_Z_ITEMS)
    return f"case when {complete} then {' + '.join(parts)} end"


def metric_catalogue() -> tuple[Metric, ...]:
    """Every released metric, built from the contract (items, rules, thresholds)."""
    items = contract.ITEMS_BY_NAME
    mini_z = _mini_z_sql()
    headline = (
        Metric(
            "burnout",
            "Burnout",
            "rate",
            items["burnout_level"].is_unfavourable_sql("burnout_level"),
        ),
        Metric("high_stress", "High stress", "rate", items["stress"].is_unfavourable_sql("stress")),
        Metric("satisfied", "Satisfied with job", "rate", f"(satisfaction >= {SATISFIED_AT})"),
        Metric("valued", "Feel valued", "rate", f"(feel_valued >= {VALUED_AT})"),
        Metric(
            "itl",
            "Intent to leave within 2 years",
            "rate",
            f"(intent_to_leave >= {contract.ITL_THRESHOLD})",
        ),
        Metric("reduce_fte", "Intend to reduce FTE", "rate", "intent_to_reduce_fte"),
        Metric("mini_z", "Mini-Z-style index (10-50)", "mean", mini_z),
        Metric("joyful", "Joyful workplace (index ≥ 40)", "rate", f"({mini_z} >= {contract.MINI_Z_JOYFUL_AT})"),
        Metric("ehr_after_hours_median", "After-hours EHR, h/week (median)", "median", "ehr_after_hours_per_week"),
        Metric("ehr_after_hours_p75", "After-hours EHR, h/week (75th centile)", "p75", "ehr_after_hours_per_week"),
        Metric("inbox_median", "Inbox messages a day (median)", "median", "inbox_messages_per_day"),
        Metric("call_nights", "Call nights a month (mean)", "mean", "call_nights_per_month"),
        Metric(
            "call_heavy",
            f"{CALL_HEAVY_AT}+ call nights a month",
            "rate",
            f"(call_nights_per_month >= {CALL_HEAVY_AT})",
        ),
        Metric("clinical_fte", "Clinical FTE (mean)", "mean", "clinical_fte"),
    )
    unfavourable = tuple(
        Metric(f"unfav_{i.name}", f"{i.short}: unfavourable", "rate", i.is_unfavourable_sql(i.name))
        for i in contract.ITEMS
    )
    return headline + unfavourable


METRICS: tuple[Metric, ...] = metric_catalogue()
METRICS_BY_NAME: dict[str, Metric] = {m.name: m for m in METRICS}
