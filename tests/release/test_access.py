"""Access rules: roles, scopes and their application to released tables in the pipeline."""

from __future__ import annotations

import pandas as pd
import pytest

from pipelines.release import access


def rules_from(tmp_path, text: str) -> list[access.Rule]:
    path = tmp_path / "access.toml"
    path.write_text(text)
    return access.load_rules(path)


def test_example_file_parses_and_resolves():
    rules = access.load_rules("config/access.example.toml")
    north = access.resolve({"email": "North.Lead@example.org"}, rules)
    assert north.role == "leader" and north.scope == access.Scope("North Campus")
    assert north.can("insights") and not north.can("upload")
    admin = access.resolve({"email": "someone@example.org", "groups": ["x", "retention-admins"]}, rules)
    assert admin.role == "admin" and admin.can("settings") and admin.scope.everything
    assert access.resolve({"email": "stranger@example.org", "groups": ["x"]}, rules) is None


def test_email_entry_wins_over_groups_and_top_group_role_keeps_its_own_scope(tmp_path):
    rules = rules_from(
        tmp_path,
        """
[[users]]
email = "a@x.org"
role = "leader"
site = "North"
[[groups]]
value = "lead-south"
role = "leader"
site = "South"
[[groups]]
value = "officers"
role = "wellness_officer"
site = "East"
""",
    )
    assert access.resolve({"email": "a@x.org", "groups": ["officers"]}, rules).scope == access.Scope("North")
    p = access.resolve({"email": "b@x.org", "groups": ["lead-south", "officers"]}, rules)
    assert (p.role, p.scope) == ("wellness_officer", access.Scope("East"))


@pytest.mark.parametrize(
    "text,message",
    [
        ('[[users]]\nemail = "a@x"\nrole = "boss"\n', "role must be one of"),
        ('[[users]]\nrole = "leader"\n', "email is required"),
        ('[[users]]\nemail = "a@x"\nrole = "leader"\ndepartment = "ICU"\n', "needs its site"),
        ("[[users]\n", "not valid TOML"),
    ],
)
def test_bad_access_file_is_a_clear_error(tmp_path, text, message):
    with pytest.raises(access.AccessFileError, match=message):
        rules_from(tmp_path, text)


def test_missing_file_grants_nobody(tmp_path):
    assert access.load_rules(tmp_path / "nope.toml") == []


def test_scope_keep_hides_everything_outside_the_scope():
    frame = pd.DataFrame(
        {
            "level": ["organisation", "site", "site", "role", "department", "department", "department_role"],
            "site": [None, "North", "South", None, "North", "South", "North"],
            "department": [None, None, None, None, "ICU", "ICU", "ER"],
            "role": [None, None, None, "nurse", None, None, "nurse"],
            "n": [100, 60, 40, 50, 30, 20, 12],
        }
    )
    north = access.Scope("North").keep(frame)
    assert north["level"].tolist() == ["site", "department", "department_role"]
    assert set(north["site"]) == {"North"}
    icu = access.Scope("North", "ICU").keep(frame)
    assert icu["n"].tolist() == [30]
    assert access.Scope().keep(frame).equals(frame)
    assert access.Scope("North").level == "site" and access.Scope("North").child_levels() == ("department", "site_role")


def test_a_table_that_cannot_be_scoped_is_left_out_of_a_scoped_view_but_public_tables_pass():
    from pipelines.release import reader

    no_site = pd.DataFrame({"wave": ["2025"], "n": [100], "suppressed": [False]})
    assert access.Scope("North").keep(no_site).empty
    assert reader.in_scope("rel_something", no_site, access.Scope("North")) is None
    assert reader.in_scope("rel_something", no_site, access.Scope()).equals(no_site)
    no_department = pd.DataFrame({"site": ["North"], "n": [40]})
    assert reader.in_scope("rel_something", no_department, access.Scope("North")).equals(no_department)
    assert reader.in_scope("rel_something", no_department, access.Scope("North", "ICU")) is None
    bench = pd.DataFrame({"metric": ["burnout"], "value": [0.45]})
    assert reader.in_scope("ref_benchmarks", bench, access.Scope("North")).equals(bench)


def test_a_department_scope_needs_its_site():
    with pytest.raises(ValueError, match="needs its site"):
        access.Scope(department="ICU")


def test_scope_sql_binds_values():
    assert access.Scope("North", "ICU").sql("r") == ("r.site = ? and r.department = ?", ["North", "ICU"])
    assert access.Scope().sql() == ("true", [])
