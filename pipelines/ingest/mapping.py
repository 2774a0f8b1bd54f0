"""Which source column becomes which contract field, and how its values translate.

A `ColumnPlan` is built automatically from column names (contract field names and synonyms,
Qualtrics question text, REDCap checkbox columns and data dictionary) and can be completed or
overridden by a mapping file. The mapping file is JSON:

    {
      "columns": {"Q1": "site", "Q7": "burnout_level", "Q9_1": "leave_reasons:burnout",
                  "Old column": null},
      "values": {"role": {"Doc": "physician"}, "burnout_level": {"Very burned out": 5}},
      "reverse": ["ehr_frustration"],
      "wave_column": "Survey round",
      "constants": {"site": "North Campus"}
    }

`columns` maps a source column to a contract field, to `field:code` for a checkbox-style column of
a multi-select field (any non-empty, non-zero value means selected), or to null to drop it.
`values` maps source answers (matched case- and punctuation-insensitively) to contract codes.
`reverse` lists 1-5 items the source codes the other way round (stored as 6 - x; applies to
numeric codes, since text labels already say which end they are). `constants` gives a field one
value for every row, for an export that holds a single site, department or role; it is validated
like any answer.
"""

from __future__ import annotations

import csv
import json
import re
from dataclasses import dataclass, field
from pathlib import Path

from pipelines import contract
from pipelines.ingest.readers import InputError

CHECKBOX_FIELDS = ("leave_reasons",)


@dataclass
class Dropped:
    column: str
    category: str  # identifier | free_text | metadata | unmapped | empty
    reason: str


@dataclass
class ColumnPlan:
    # field -> positions of source columns, first non-missing wins (e.g. age_band, age)
    fields: dict[str, list[int]] = field(default_factory=dict)
    # (position, field, code) for checkbox columns of multi-select fields
    checkboxes: list[tuple[int, str, str]] = field(default_factory=list)
    wave_column: int | None = None
    dropped: list[Dropped] = field(default_factory=list)
    # user-supplied value maps: field -> {normalised source answer: contract code}
    values: dict[str, dict[str, str]] = field(default_factory=dict)
    # per source column pre-translation (REDCap raw code -> choice label)
    column_labels: dict[int, dict[str, str]] = field(default_factory=dict)
    reverse: set[str] = field(default_factory=set)
    exact_numeric: dict[int, str] = field(default_factory=dict)  # position -> 'age'|'tenure'
    constants: list[tuple[int, str, str]] = field(default_factory=list)  # (position, field, value)

    def mapped_fields(self) -> set[str]:
        return set(self.fields) | {f for _, f, _ in self.checkboxes}

    def describe(self, columns: list[str]) -> list[dict]:
        rows = []
        for f, positions in self.fields.items():
            for p in positions:
                rows.append({"source_column": columns[p], "field": f})
        for p, f, code in self.checkboxes:
            rows.append({"source_column": columns[p], "field": f"{f}:{code}"})
        return rows


@dataclass
class MappingFile:
    columns: dict[str, str | None] = field(default_factory=dict)
    values: dict[str, dict[str, str]] = field(default_factory=dict)
    reverse: list[str] = field(default_factory=list)
    wave_column: str | None = None
    constants: dict[str, str] = field(default_factory=dict)

    def to_json(self) -> str:
        return json.dumps(
            {
                "columns": self.columns,
                "values": self.values,
                "reverse": self.reverse,
                "wave_column": self.wave_column,
                "constants": self.constants,
            },
            indent=2,
            ensure_ascii=False,
        )


def load_mapping(path: str | Path) -> MappingFile:
    path = Path(path)
    try:
        raw = json.loads(path.read_text(encoding="utf-8-sig"))
    except FileNotFoundError:
        raise InputError(f"Mapping file {path.name} not found.") from None
    except json.JSONDecodeError as exc:
        raise InputError(f"Mapping file {path.name} is not valid JSON: {exc}.") from None
    return parse_mapping(raw, path.name)


def parse_mapping(raw: object, name: str = "mapping") -> MappingFile:
    if not isinstance(raw, dict):
        raise InputError(f"Mapping file {name}: expected an object with 'columns', 'values', 'reverse'.")
    unknown_keys = set(raw) - {"columns", "values", "reverse", "wave_column", "constants", "comment"}
    if unknown_keys:
        raise InputError(f"Mapping file {name}: unknown section(s) {sorted(unknown_keys)}.")
    columns = raw.get("columns") or {}
    if not isinstance(columns, dict):
        raise InputError(f"Mapping file {name}: 'columns' must map source column names to fields.")
    for src, target in columns.items():
        if target is None:
            continue
        base, _, code = str(target).partition(":")
        if base not in contract.FIELDS_BY_NAME:
            raise InputError(f"Mapping file {name}: column {src!r} maps to {target!r}, which is not a contract field.")
        if code and (base not in CHECKBOX_FIELDS or code not in contract.FIELDS_BY_NAME[base].values):
            raise InputError(f"Mapping file {name}: {target!r} is not a valid choice (use e.g. leave_reasons:burnout).")
    values = raw.get("values") or {}
    if not isinstance(values, dict) or not all(isinstance(v, dict) for v in values.values()):
        raise InputError(f"Mapping file {name}: 'values' must map each field to {{answer: code}}.")
    for f in values:
        if f not in contract.FIELDS_BY_NAME:
            raise InputError(f"Mapping file {name}: 'values' names {f!r}, which is not a contract field.")
    reverse = raw.get("reverse") or []
    for f in reverse:
        if f not in contract.ITEMS_BY_NAME:
            raise InputError(f"Mapping file {name}: only 1-5 items can be reversed, not {f!r}.")
    constants = raw.get("constants") or {}
    if not isinstance(constants, dict):
        raise InputError(f"Mapping file {name}: 'constants' must map fields to one value each.")
    for f in constants:
        if f not in contract.FIELDS_BY_NAME or f == "leave_reasons":
            raise InputError(f"Mapping file {name}: 'constants' names {f!r}, which cannot be a constant.")
    return MappingFile(
        constants={f: str(v) for f, v in constants.items()},
        columns={str(k): (None if v is None else str(v)) for k, v in columns.items()},
        values={f: {str(k): str(v) for k, v in m.items()} for f, m in values.items()},
        reverse=list(reverse),
        wave_column=raw.get("wave_column"),
    )


# ----------------------------------------------------------------------------------------------
# REDCap data dictionary
# ----------------------------------------------------------------------------------------------
@dataclass
class RedcapDictionary:
    choices: dict[str, dict[str, str]]  # field -> {code: label}
    identifiers: set[str]
    field_types: dict[str, str]
    labels: dict[str, str]


def load_redcap_dictionary(path: str | Path) -> RedcapDictionary:
    path = Path(path)
    with open(path, encoding="utf-8-sig", newline="") as fh:
        rows = list(csv.DictReader(fh))
    if not rows or "Variable / Field Name" not in rows[0]:
        raise InputError(f"{path.name} does not look like a REDCap data dictionary.")
    choices: dict[str, dict[str, str]] = {}
    identifiers: set[str] = set()
    types: dict[str, str] = {}
    labels: dict[str, str] = {}
    for r in rows:
        name = r["Variable / Field Name"].strip()
        types[name] = (r.get("Field Type") or "").strip()
        labels[name] = (r.get("Field Label") or "").strip()
        if (r.get("Identifier?") or "").strip().lower() == "y":
            identifiers.add(name)
        spec = r.get("Choices, Calculations, OR Slider Labels") or ""
        if types[name] in {"radio", "dropdown", "checkbox"} and spec:
            opts = {}
            for part in spec.split("|"):
                code, _, label = part.partition(",")
                if code.strip():
                    opts[code.strip()] = label.strip()
            choices[name] = opts
        elif types[name] == "yesno":
            choices[name] = {"1": "Yes", "0": "No"}
        elif types[name] == "truefalse":
            choices[name] = {"1": "True", "0": "False"}
    return RedcapDictionary(choices, identifiers, types, labels)


# ----------------------------------------------------------------------------------------------
# Automatic plan
# ----------------------------------------------------------------------------------------------
def _name_index() -> dict[str, str]:
    index: dict[str, str] = {}
    for f in contract.FIELDS:
        index[contract.normalise_name(f.name)] = f.name
        for syn in f.synonyms:
            index.setdefault(contract.normalise_name(syn), f.name)
    return index


def _question_index() -> dict[str, str]:
    return {contract.normalise_label(f.description): f.name for f in contract.FIELDS if f.description}


def plan_columns(
    columns: list[str],
    *,
    question_texts: list[str] | None = None,
    import_ids: list[str] | None = None,
    mapping: MappingFile | None = None,
    dictionary: RedcapDictionary | None = None,
) -> ColumnPlan:
    plan = ColumnPlan()
    names = _name_index()
    questions = _question_index()
    explicit = mapping.columns if mapping else {}
    explicit_norm = {k.strip(): v for k, v in explicit.items()}
    wave_names = {contract.normalise_name(w) for w in contract.WAVE_COLUMN_SYNONYMS}
    if mapping and mapping.wave_column:
        wave_names = {contract.normalise_name(mapping.wave_column)}
    unknown_mapped = set(explicit_norm) - {c.strip() for c in columns}
    if unknown_mapped:
        raise InputError(
            "The mapping file names column(s) not in this file: "
            + ", ".join(repr(c) for c in sorted(unknown_mapped))
            + "."
        )

    def add(field_name: str, pos: int) -> None:
        plan.fields.setdefault(field_name, []).append(pos)

    for pos, col in enumerate(columns):
        key = contract.normalise_name(col)
        if col.strip() in explicit_norm:
            target = explicit_norm[col.strip()]
            if target is None:
                plan.dropped.append(Dropped(col, "mapping", "dropped by the mapping file"))
                continue
            base, _, code = target.partition(":")
            if code:
                plan.checkboxes.append((pos, base, code))
            else:
                add(base, pos)
                _note_exact(plan, pos, base, key)
            continue
        if not col.strip():
            plan.dropped.append(Dropped(f"(column {pos + 1}, no header)", "empty", "column with no header"))
            continue
        if dictionary and col in dictionary.identifiers:
            plan.dropped.append(Dropped(col, "identifier", "marked as an identifier in the REDCap dictionary"))
            continue
        category, reason = contract.classify_dropped(col)
        if import_ids and pos < len(import_ids) and "_TEXT" in import_ids[pos] and category != "identifier":
            category, reason = "free_text", "free-text answer (dropped by default)"
            if contract.normalise_name(col) not in names:
                plan.dropped.append(Dropped(col, category, reason))
                continue
        if category == "identifier":
            plan.dropped.append(Dropped(col, category, reason))
            continue
        if key in wave_names and plan.wave_column is None:
            plan.wave_column = pos
            continue
        m = re.fullmatch(r"(.+?)___(.+)", col.strip())
        if m:  # REDCap checkbox column field___code
            base_src, code = m.group(1), m.group(2)
            base = names.get(contract.normalise_name(base_src))
            if base in CHECKBOX_FIELDS:
                label = dictionary.choices.get(base_src, {}).get(code, code) if dictionary else code
                reason_code = _choice_code(base, label) or _choice_code(base, code)
                if reason_code:
                    plan.checkboxes.append((pos, base, reason_code))
                    continue
            plan.dropped.append(Dropped(col, "unmapped", "checkbox of a question not in the data contract"))
            continue
        target = names.get(key)
        if target is None and question_texts and pos < len(question_texts):
            target = questions.get(contract.normalise_label(question_texts[pos]))
        if target is None:
            plan.dropped.append(Dropped(col, category, reason))
            continue
        if target in plan.fields and target not in ("age_band", "tenure_band"):
            plan.dropped.append(Dropped(col, "unmapped", f"a second column for {target}; the first one is used"))
            continue
        add(target, pos)
        _note_exact(plan, pos, target, key)
        if dictionary and col in dictionary.choices:
            plan.column_labels[pos] = dictionary.choices[col]
    if mapping:
        for i, f in enumerate(sorted(mapping.constants)):
            # Constants become extra staged columns after the file's own (see ingest._stage).
            plan.constants.append((len(columns) + i, f, mapping.constants[f]))
            plan.fields[f] = [len(columns) + i]
        for f, m in mapping.values.items():
            plan.values[f] = {contract.normalise_label(k): v for k, v in m.items()}
        plan.reverse = set(mapping.reverse)
        if mapping.wave_column and plan.wave_column is None:
            raise InputError(f"The mapping file's wave column {mapping.wave_column!r} is not in this file.")
    return plan


def _note_exact(plan: ColumnPlan, pos: int, field_name: str, key: str) -> None:
    if field_name == "age_band" and key in contract.EXACT_AGE_NAMES:
        plan.exact_numeric[pos] = "age"
    if field_name == "tenure_band" and key in {contract.normalise_name(n) for n in contract.EXACT_TENURE_NAMES}:
        plan.exact_numeric[pos] = "tenure"


def _choice_code(field_name: str, text: str) -> str | None:
    f = contract.FIELDS_BY_NAME[field_name]
    norm = contract.normalise_label(text)
    for code in f.values:
        if norm == contract.normalise_label(code):
            return code
    if field_name == "leave_reasons":
        for code, label in contract.LEAVE_REASON_LABELS.items():
            if norm == contract.normalise_label(label):
                return code
    return None


def missing_required(plan: ColumnPlan) -> list[str]:
    return [f for f in contract.REQUIRED_FIELDS if f not in plan.fields]


# ----------------------------------------------------------------------------------------------
# Saved mappings (the Upload page's editor saves them for next time), kept in the warehouse.
# ----------------------------------------------------------------------------------------------
_SAVED_PREFIX = "mapping:"


def columns_fingerprint(columns: list[str]) -> str:
    """Identifies a file layout: the same export from the same survey gets the same fingerprint."""
    import hashlib

    return hashlib.sha256("\x1f".join(c.strip() for c in columns).encode()).hexdigest()[:16]


def save_mapping(con, columns: list[str], mapping: MappingFile, saved_by: str | None = None) -> str:
    """Store a mapping for this column layout; returns its fingerprint."""
    key = _SAVED_PREFIX + columns_fingerprint(columns)
    con.execute(
        "insert or replace into settings values (?, ?, ?, current_timestamp)",
        [key, mapping.to_json(), saved_by],
    )
    return key


def saved_mapping_for(con, columns: list[str]) -> MappingFile | None:
    row = con.execute(
        "select value from settings where key = ?", [_SAVED_PREFIX + columns_fingerprint(columns)]
    ).fetchone()
    return parse_mapping(json.loads(row[0])) if row else None
