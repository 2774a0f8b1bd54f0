"""Who may do what, and see which part of the organisation.

The access file (default `config/access.toml`, or `$CLINRET_ACCESS`) maps a signed-in user's email,
or a value of an OpenID Connect claim such as `groups`, to a role and an optional scope:

    [[users]]
    email = "cmo@example.org"
    role = "leader"

    [[users]]
    email = "north.lead@example.org"
    role = "leader"
    site = "North Campus"

    [[groups]]
    claim = "groups"
    value = "wellbeing-office"
    role = "wellness_officer"

Roles are cumulative: a wellness officer can do everything a leader can, an admin everything a
wellness officer can. A scope (a site, or a site and a department: `pipelines.release.scope.Scope`)
is applied in the pipeline, by `pipelines.release.reader`, to every released table a page reads or an
export writes, not only to what a page draws.
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from pipelines.release.scope import Scope  # the one viewer scope (access.Scope is the same class)

ROLES: tuple[str, ...] = ("leader", "wellness_officer", "admin")
# What each role may use; each role includes the ones before it.
PERMISSIONS: dict[str, frozenset[str]] = {
    "leader": frozenset({"insights", "reports"}),
    "wellness_officer": frozenset({"insights", "reports", "upload", "uploads"}),
    "admin": frozenset({"insights", "reports", "upload", "uploads", "settings", "audit"}),
}
DEFAULT_ACCESS_FILE = Path("config") / "access.toml"
ACCESS_ENV = "CLINRET_ACCESS"


class AccessFileError(ValueError):
    """The access file is malformed; the message names the entry and the problem."""


@dataclass(frozen=True)
class Principal:
    email: str
    name: str
    role: str
    scope: Scope = field(default_factory=Scope)
    local: bool = False

    @property
    def permissions(self) -> frozenset[str]:
        return PERMISSIONS[self.role]

    def can(self, permission: str) -> bool:
        return permission in self.permissions


LOCAL_PRINCIPAL = Principal(email="local", name="Local user", role="admin", scope=Scope(), local=True)


@dataclass(frozen=True)
class Rule:
    role: str
    scope: Scope
    email: str | None = None
    claim: str | None = None
    value: str | None = None


def access_path(path: str | os.PathLike | None = None) -> Path:
    return Path(path or os.environ.get(ACCESS_ENV) or DEFAULT_ACCESS_FILE)


def load_rules(path: str | os.PathLike | None = None) -> list[Rule]:
    """Read the access file; a missing file means nobody signed in has access."""
    p = access_path(path)
    if not p.exists():
        return []
    try:
        data = tomllib.loads(p.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise AccessFileError(f"{p}: not valid TOML ({exc}).") from None
    rules: list[Rule] = []
    for kind in ("users", "groups"):
        for i, entry in enumerate(data.get(kind, []), start=1):
            where = f"{p} [[{kind}]] entry {i}"
            role = entry.get("role")
            if role not in ROLES:
                raise AccessFileError(f"{where}: role must be one of {', '.join(ROLES)}, not {role!r}.")
            if entry.get("department") and not entry.get("site"):
                raise AccessFileError(f"{where}: a department scope needs its site too.")
            scope = Scope(entry.get("site"), entry.get("department"))
            if kind == "users":
                if not entry.get("email"):
                    raise AccessFileError(f"{where}: email is required.")
                rules.append(Rule(role, scope, email=str(entry["email"]).strip().lower()))
            else:
                if not entry.get("value"):
                    raise AccessFileError(f"{where}: value is required.")
                rules.append(Rule(role, scope, claim=str(entry.get("claim", "groups")), value=str(entry["value"])))
    return rules


def resolve(user: dict, rules: list[Rule]) -> Principal | None:
    """The principal for a signed-in user's claims, or None when no entry matches (no access).

    An email entry wins over group entries; among matching group entries the most powerful role
    wins (the first such entry in the file, with its own scope), so a user gets exactly what one
    entry of the file says, never a mix of two.
    """
    email = str(user.get("email") or "").strip().lower()
    name = str(user.get("name") or email or "signed-in user")
    for rule in rules:
        if rule.email and rule.email == email:
            return Principal(email=email, name=name, role=rule.role, scope=rule.scope)
    matches = []
    for rule in rules:
        if rule.claim is None:
            continue
        claimed = user.get(rule.claim)
        values = claimed if isinstance(claimed, (list, tuple)) else [claimed]
        if rule.value in [str(v) for v in values if v is not None]:
            matches.append(rule)
    if not matches:
        return None
    top = max(ROLES.index(r.role) for r in matches)
    best = next(r for r in matches if ROLES.index(r.role) == top)
    return Principal(email=email, name=name, role=best.role, scope=best.scope)
