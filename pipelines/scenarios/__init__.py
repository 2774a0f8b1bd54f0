"""Retention options: the public door to the scenario planner.

- `levers`: the lever library (eligibility, parameters, published effects, how a lever changes a person).
- `causal`: the stated causal structure (`causal_structure()` for the Methodology page).
- `engine`: estimation (g-computation over the model, bootstrap intervals, confidentiality of results).
- `store`: saved scenarios (save, list, show, compare, delete).

Callers import from here (`from pipelines import scenarios`), not from the modules.
"""

from pipelines.models import assumptions
from pipelines.scenarios.causal import causal_structure, graph_edges
from pipelines.scenarios.engine import (
    BREAK_EVEN,
    E_VALUE_NOTE,
    REFITS,
    RESAMPLES,
    SENSITIVITY,
    group_released,
    latest_wave,
    run_scenario,
)
from pipelines.scenarios.levers import (
    ASSUMED_CAVEAT,
    CAVEAT,
    LEVERS,
    RESULT_METRICS,
    Lever,
    Param,
    lever_library,
    normalise_levers,
)
from pipelines.scenarios.store import (
    compare_scenarios,
    delete_scenario,
    list_scenarios,
    load_scenario,
    save_scenario,
    within,
)

__all__ = [
    "ASSUMED_CAVEAT",
    "BREAK_EVEN",
    "E_VALUE_NOTE",
    "SENSITIVITY",
    "causal_structure",
    "graph_edges",
    "CAVEAT",
    "LEVERS",
    "REFITS",
    "RESAMPLES",
    "RESULT_METRICS",
    "Lever",
    "Param",
    "assumptions",
    "compare_scenarios",
    "delete_scenario",
    "group_released",
    "latest_wave",
    "lever_library",
    "list_scenarios",
    "load_scenario",
    "normalise_levers",
    "run_scenario",
    "save_scenario",
    "within",
]
