"""Shared sidebar filters (wave, site, department, role), kept in the URL so a link reproduces a view.

Values read from the URL are checked against the released values (dashboard.data); anything
unknown is dropped with a note and never reaches a query. A department is only meaningful within
a site (names repeat across sites), so the department filter appears once a site is chosen.

`Filters.selection()` and `Filters.breakdown(by)` translate the choice into the `level` and
dimension filters of the released tables (levels: pipelines.contract.levels), which the named page
queries in dashboard.queries pass on, e.g. `queries.overview_selection(f)`.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import streamlit as st

from dashboard import data
from pipelines import contract
from pipelines.contract.levels import DIMENSIONS, LEVELS

PARAMS = ("wave", *DIMENSIONS)
_STATE = "filter_"  # widget keys: filter_wave, filter_site, ...
_KEEP = "_filters_last"  # last choice, so filters survive a visit to a page without them
ALL = ""  # the "All sites/departments/roles" option (a selectbox shows None as a placeholder)


@dataclass(frozen=True)
class Filters:
    wave: str | None = None
    site: str | None = None
    department: str | None = None
    role: str | None = None

    def selection(self) -> dict[str, str | None]:
        """level + dimensions of the selected group itself (the tiles' row)."""
        level = _level(self.site is not None, self.department is not None, self.role is not None)
        return {"level": level, "site": self.site, "department": self.department, "role": self.role}

    def breakdown_options(self) -> list[str]:
        """Dimensions the selection can still be broken down by."""
        return [dim for dim in DIMENSIONS if getattr(self, dim) is None]

    def breakdown(self, by: str) -> dict[str, str | None]:
        """level + dimension filters of the units one step below the selection, by `by`."""
        if by not in self.breakdown_options():
            raise ValueError(f"Cannot break {self.describe()} down by {by}.")
        has_site = self.site is not None or by in ("site", "department")
        has_dept = self.department is not None or by == "department"
        has_role = self.role is not None or by == "role"
        level = _level(has_site, has_dept, has_role)
        return {"level": level, "site": self.site, "department": self.department, "role": self.role}

    def describe(self) -> str:
        parts = [p for p in (self.site, self.department) if p]
        if self.role:
            parts.append(contract.ROLE_LABELS.get(self.role, self.role))
        return " · ".join(parts) or "the whole organisation"

    def title(self) -> str:
        """describe() with a capital first letter (unit names keep their own case)."""
        text = self.describe()
        return text[:1].upper() + text[1:]

    def as_dict(self) -> dict[str, str | None]:
        return asdict(self)


def _level(site: bool, department: bool, role: bool) -> str:
    """The released level that keeps these dimensions (a department always sits within its site)."""
    kept = tuple(d for d, on in zip(DIMENSIONS, (site or department, department, role), strict=True) if on)
    return next(level for level, dims in LEVELS.items() if dims == kept)


def _label(dim: str):
    everything = {"site": "All sites", "department": "All departments", "role": "All roles"}[dim]

    def fmt(value: str) -> str:
        if value == ALL:
            return everything
        return contract.ROLE_LABELS.get(value, value) if dim == "role" else value

    return fmt


_URL = "_filters_url"  # what this app last wrote to the URL, to tell a pasted link from navigation


def _initial(name: str, allowed: list, notes: list[str], default=None):
    """A link's value when the URL carries a new one, else the last choice (kept across pages,
    whose widgets Streamlit resets on navigation), else the default."""
    raw = st.query_params.get(name)
    if raw is not None and raw != st.session_state.get(_URL, {}).get(name):
        if raw in allowed:
            return raw
        notes.append(f"The link's {name} is not in the released data, so it was ignored.")
    last = st.session_state.get(_KEEP, {}).get(name)
    if last is None and name != "wave" and _KEEP in st.session_state:
        last = ALL  # the user chose "All" earlier
    return last if last in allowed else default


def _remember(name: str) -> None:
    """on_change: the user's choice becomes the one every page starts from."""
    keep = dict(st.session_state.get(_KEEP, {}))
    keep[name] = st.session_state.get(_STATE + name) or None
    st.session_state[_KEEP] = keep


def _select(name: str, label: str, options: list, notes: list[str], default=None, fmt=None):
    key = _STATE + name
    st.session_state[key] = _initial(name, options, notes, default)
    return st.sidebar.selectbox(label, options, key=key, format_func=fmt or str, on_change=_remember, args=(name,))


def sidebar(*, wave: bool = True) -> Filters:
    """Draw the filters in the sidebar, sync them with the URL and return the choice."""
    waves = list(reversed(data.waves()))  # latest first
    known = data.dimension_values()
    by_site = data.departments_by_site()
    notes: list[str] = []
    st.sidebar.subheader("Filters")
    chosen_wave = None
    if wave and waves:
        chosen_wave = _select("wave", "Survey wave", waves, notes, default=waves[0])
    elif waves:
        chosen_wave = waves[0]
    allowed = data.scope()  # a scoped leader chooses within the scope only, never "All sites"
    sites = [ALL, *known["site"]] if allowed.site is None else [allowed.site]
    site = _select("site", "Site", sites, notes, default=sites[0], fmt=_label("site")) or None
    department = None
    if site is not None:
        departments = [ALL, *by_site.get(site, [])] if allowed.department is None else [allowed.department]
        department = _select(
            "department", "Department", departments, notes, default=departments[0], fmt=_label("department")
        )
        department = department or None
    elif st.query_params.get("department") is not None:
        notes.append("A department needs a site (names repeat across sites), so it was ignored.")
        st.session_state.pop(_STATE + "department", None)
    role = _select("role", "Role", [ALL, *known["role"]], notes, default=ALL, fmt=_label("role")) or None
    chosen = Filters(chosen_wave, site, department, role)
    for note in notes:
        st.sidebar.caption(note)
    _write_url(chosen, include_wave=wave)
    st.session_state[_KEEP] = chosen.as_dict()
    return chosen


def _write_url(chosen: Filters, include_wave: bool) -> None:
    st.session_state[_URL] = {k: v for k, v in chosen.as_dict().items() if v is not None}
    for name, value in chosen.as_dict().items():
        if name == "wave" and not include_wave:
            continue
        if value is None:
            if name in st.query_params:
                del st.query_params[name]
        elif st.query_params.get(name) != value:
            st.query_params[name] = value
