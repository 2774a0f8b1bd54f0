"""The part of the organisation a viewer sees: one definition for the dashboard, the exports and access.

A scope is the whole organisation, a site, or a department within its site (department names repeat
across sites, so a department always comes with its site). A signed-in user's scope comes from the
access file (`pipelines.release.access`); an export's from its options.

The rule (METHODS.md, "Confidentiality"), applied by `keep` and nowhere else:
- The whole organisation keeps every row.
- A site scope keeps the released rows whose `site` is that site: the site itself, its departments,
  its roles and department × role cells. Organisation rows and organisation-wide role rows carry
  NULL in `site` and are dropped: they include other sites' people.
- A department scope keeps the rows of that site and department (the department and its roles).
- A table that cannot be scoped (no `site` column, or no `department` column for a department
  scope) keeps nothing in a scoped view: never leak. Public reference tables (`ref_*`) are not
  about people and are not scoped at all; `pipelines.release.reader` decides that by name.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from pipelines.contract.levels import CHILD_LEVELS


@dataclass(frozen=True)
class Scope:
    site: str | None = None
    department: str | None = None

    def __post_init__(self) -> None:
        if self.department is not None and self.site is None:
            raise ValueError("A department scope needs its site too (department names repeat across sites).")

    # --- what it is -------------------------------------------------------------------------
    @property
    def everything(self) -> bool:
        return self.site is None

    @property
    def level(self) -> str:
        """The released level of the scope's own group: organisation, site or department."""
        if self.department is not None:
            return "department"
        return "site" if self.site is not None else "organisation"

    def child_levels(self) -> tuple[str, ...]:
        """Levels one step below the scope, as unit breakdowns."""
        return CHILD_LEVELS[self.level]

    # --- words ------------------------------------------------------------------------------
    def label(self) -> str:
        """'whole organisation', 'North Campus', 'North Campus / ICU' (sidebar, audit log)."""
        if self.site is None:
            return "whole organisation"
        return self.site if self.department is None else f"{self.site} / {self.department}"

    def describe(self) -> str:
        """'the whole organisation', 'Riverside', 'Riverside · Cardiology' (inside a sentence)."""
        parts = [p for p in (self.site, self.department) if p]
        return " · ".join(parts) or "the whole organisation"

    def title(self) -> str:
        text = self.describe()
        return text[:1].upper() + text[1:]

    # --- rows -------------------------------------------------------------------------------
    def contains(self, site: object, department: object = None) -> bool:
        """Is a group with this site/department (None = all) inside the scope?"""
        if self.site is None:
            return True
        if site != self.site:
            return False
        return self.department is None or department == self.department

    def can_scope(self, columns) -> bool:
        """Can a table with these columns be limited to the scope?"""
        needed = [d for d, v in (("site", self.site), ("department", self.department)) if v is not None]
        return all(c in columns for c in needed)

    def keep(self, frame: pd.DataFrame) -> pd.DataFrame:
        """The rows of a released table inside the scope (see the module docstring)."""
        if self.everything:
            return frame
        if not self.can_scope(frame.columns):
            return frame.iloc[0:0]
        mask = (frame["site"].astype(object) == self.site).fillna(False)
        if self.department is not None:
            mask &= (frame["department"].astype(object) == self.department).fillna(False)
        return frame[mask.to_numpy(dtype=bool)].reset_index(drop=True)

    def scope_rows(self, frame: pd.DataFrame, wave: str | None = None) -> pd.DataFrame:
        """The rows describing the scope group itself (its level, role not broken down), of a table
        already limited to the scope."""
        if frame.empty or "level" not in frame.columns:
            return frame.iloc[0:0]
        mask = frame["level"] == self.level
        if wave is not None and "wave" in frame.columns:
            mask &= frame["wave"].astype(object) == wave
        return frame[mask.fillna(False).to_numpy(dtype=bool)]

    def sql(self, alias: str = "") -> tuple[str, list[str]]:
        """The same rule as a SQL predicate with bound parameters (for a table with the columns)."""
        prefix = f"{alias}." if alias else ""
        if self.everything:
            return "true", []
        if self.department is None:
            return f"{prefix}site = ?", [self.site]
        return f"{prefix}site = ? and {prefix}department = ?", [self.site, self.department]


EVERYTHING = Scope()
