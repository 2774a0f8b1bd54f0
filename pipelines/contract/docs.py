"""Generate docs/data-contract.md from pipelines/contract/__init__.py, so the docs cannot drift from the code.

`python -m pipelines docs` rewrites it; `python -m pipelines docs --check` fails when it is stale
(a test runs the check).
"""

from __future__ import annotations

from pathlib import Path

from pipelines import contract

DOC = Path(__file__).resolve().parents[2] / "docs" / "data-contract.md"


def _cell(text: str) -> str:
    """A regular expression shown inside a Markdown table cell."""
    return text.replace("|", "\\|")


def _range(f: contract.Field) -> str:
    if f.kind in ("item", "itl"):
        return "1–5"
    if f.minimum is not None:
        return f"{f.minimum:g}–{f.maximum:g}"
    if f.values:
        return ", ".join(f"`{v}`" for v in f.values)
    return "text"


def render() -> str:
    out = [
        "# Data contract (generated)",
        "",
        f"Contract version {contract.CONTRACT_VERSION}. This page is generated from `pipelines/contract/__init__.py` by",
        "`python -m pipelines docs`; edit the code, not this page. The product-level contract it implements is",
        "`../shared/product/DATA_CONTRACT.md`.",
        "",
        "One row per respondent per survey wave. Provenance columns are assigned at ingest and never taken",
        "from the file: `response_key` (random), `upload_id`, `wave`.",
        "",
        "## Fields",
        "",
        "| field | required | type | values | meaning | also recognised as |",
        "|---|---|---|---|---|---|",
    ]
    for f in contract.FIELDS:
        syn = ", ".join(f"`{s}`" for s in f.synonyms)
        out.append(
            f"| `{f.name}` | {'yes' if f.required else ''} | {f.sql_type} | {_range(f)} | {f.description} | {syn} |"
        )
    out += [
        "",
        "A row without site, department or role is rejected. Any other value that is out of range or not",
        "recognised is stored as missing and reported as a warning naming the row, column and value.",
        "",
        "## Roles",
        "",
        "| code | label | synonyms accepted (case- and punctuation-insensitive) |",
        "|---|---|---|",
    ]
    for role in contract.ROLES:
        syn = sorted(k for k, v in contract.ROLE_SYNONYMS.items() if v == role)
        out.append(f"| `{role}` | {contract.ROLE_LABELS[role]} | {', '.join(syn)} |")
    out += ["", "## Well-being items (1–5)", "", "| field | question | 1 … 5 | unfavourable |", "|---|---|---|---|"]
    for item in contract.ITEMS:
        out.append(
            f"| `{item.name}` | {item.question} | {' · '.join(item.labels)} | "
            f"{item.unfavourable[0]} {item.unfavourable[1]} ({item.unfavourable_text()}) |"
        )
    out += [
        "",
        f"Mini-Z-style index: the items {', '.join(f'`{n}`' for n in contract.MINI_Z_ITEMS)}, with",
        f"{' and '.join(f'`{n}`' for n in contract.MINI_Z_REVERSED)} reversed as 6 − x, summed to 10–50;",
        f"{contract.MINI_Z_JOYFUL_AT} or more is a “joyful workplace”.",
        "",
        "## Intentions",
        "",
        f"`intent_to_leave`: {', '.join(f'{i} {lab}' for i, lab in enumerate(contract.INTENT_TO_LEAVE_LABELS, 1))}."
        f" Intent to leave (ITL) = {contract.ITL_THRESHOLD} or more.",
        "",
        "| leave_path | label |",
        "|---|---|",
        *(f"| `{k}` | {v} |" for k, v in contract.LEAVE_PATH_LABELS.items()),
        "",
        "| leave_reasons (multi-select, `;`-separated in canonical CSV) | label |",
        "|---|---|",
        *(f"| `{k}` | {v} |" for k, v in contract.LEAVE_REASON_LABELS.items()),
        "",
        "## Bands",
        "",
        f"- `tenure_band`: {', '.join(f'`{b}`' for b in contract.TENURE_BANDS)} (years; exact years are banded at ingest)",
        f"- `age_band`: {', '.join(f'`{b}`' for b in contract.AGE_BANDS)} (exact ages are banded at ingest)",
        f"- `gender`: {', '.join(f'`{g}`' for g in contract.GENDERS)}",
        "",
        "## Missing answers",
        "",
        "Stored as NULL, never imputed into stored data, never counted as unfavourable:",
        ", ".join(f"`{t}`" for t in sorted(contract.MISSING_TOKENS) if t) + ", and an empty cell.",
        "",
        "## Columns that are dropped and never stored",
        "",
        "Every column that is not mapped to a field above is dropped and named in the ingest report. The",
        "report gives the reason; these patterns (on the lower-cased column name) mark direct identifiers:",
        "",
        "| pattern | what it catches |",
        "|---|---|",
        *(f"| `{_cell(p)}` | {what} |" for p, what in contract.IDENTIFIER_PATTERNS),
        "",
        "Free-text answers (dropped by default): "
        + ", ".join(f"`{_cell(p)}`" for p in contract.FREE_TEXT_PATTERNS)
        + ", and Qualtrics columns whose ImportId ends in `_TEXT`.",
        "",
        "## Headcount roster",
        "",
        "| column | type | required |",
        "|---|---|---|",
        *(f"| `{n}` | {t} | {'yes' if r else ''} |" for n, t, r in contract.HEADCOUNT_FIELDS),
        "",
    ]
    return "\n".join(out)
