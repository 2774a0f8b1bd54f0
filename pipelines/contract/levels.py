"""The breakdowns every released table uses: one definition of levels and their dimensions.

A *cell* is the finest group, site × department × role. A *level* is a breakdown: which of the
dimensions it keeps (NULL in a released row means "all"). A department always sits within its site.
The CLI's and the dashboard's `--by` spellings map to levels through BY_LEVEL.
"""

from __future__ import annotations

from pipelines.contract import DIMENSIONS

CELL: tuple[str, ...] = DIMENSIONS
# Dimension columns of every released table (wave first).
DIM_COLUMNS: tuple[str, ...] = ("wave", *DIMENSIONS)

# level -> the dimensions it keeps, in display order
LEVELS: dict[str, tuple[str, ...]] = {
    "organisation": (),
    "site": ("site",),
    "department": ("site", "department"),
    "role": ("role",),
    "site_role": ("site", "role"),
    "department_role": ("site", "department", "role"),
}
LEVEL_NAMES: tuple[str, ...] = tuple(LEVELS)

# --by option of the CLI and the dashboard -> level
BY_LEVEL: dict[str, str] = {
    "": "organisation",
    "site": "site",
    "department": "department",
    "role": "role",
    "site,role": "site_role",
    "department,role": "department_role",
}

# The levels one step below a scope (organisation, a site, or a department), as unit breakdowns.
CHILD_LEVELS: dict[str, tuple[str, ...]] = {
    "organisation": ("site", "department", "role"),
    "site": ("department", "site_role"),
    "department": ("department_role",),
}


def grouping_set(level: str) -> str:
    """The SQL GROUPING SETS entry of a level, e.g. '(wave, site, role)'."""
    return "(" + ", ".join(("wave", *LEVELS[level])) + ")"


GROUPING_SETS: tuple[str, ...] = tuple(grouping_set(level) for level in LEVELS)


def level_of(site: object, department: object, role: object) -> str:
    """The level of a released row from which of its dimensions are set."""
    kept = tuple(d for d, v in zip(DIMENSIONS, (site, department, role)) if v is not None and v == v)
    for level, dims in LEVELS.items():
        if dims == kept:
            return level
    raise ValueError(f"no released level keeps {kept}")
