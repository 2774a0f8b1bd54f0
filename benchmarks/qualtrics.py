"""Write a Qualtrics-style export of a canonical survey CSV (same respondents, same answers).

What a real "CSV, choice text" export from Qualtrics looks like (see ../shared/data/formats/
qualtrics_sample.csv): three header rows (field names Q1..Qn, the question text, and an ImportId JSON
per column), the survey-tool metadata and identifier columns first (StartDate, IPAddress, ResponseId,
RecipientEmail, LocationLatitude...), answers as choice text ("Strongly agree", "Likely",
"Move to another organisation"), multi-select answers comma-joined, and a free-text comment column.
The question texts are the contract's field descriptions, so the ingest maps the columns by itself
(no mapping file), as it does for a survey built from the project's question bank. Every metadata,
identifier and free-text column must be dropped by the ingest.

    python -m benchmarks.qualtrics CANONICAL.csv OUT.csv
"""

from __future__ import annotations

import csv
import json
import sys
from pathlib import Path

import numpy as np
import pandas as pd

from pipelines import contract

METADATA = (
    ("StartDate", "Start Date", "startDate"),
    ("EndDate", "End Date", "endDate"),
    ("Status", "Response Type", "status"),
    ("IPAddress", "IP Address", "ipAddress"),
    ("Progress", "Progress", "progress"),
    ("Duration (in seconds)", "Duration (in seconds)", "duration"),
    ("Finished", "Finished", "finished"),
    ("RecordedDate", "Recorded Date", "recordedDate"),
    ("ResponseId", "Response ID", "_recordId"),
    ("RecipientLastName", "Recipient Last Name", "recipientLastName"),
    ("RecipientFirstName", "Recipient First Name", "recipientFirstName"),
    ("RecipientEmail", "Recipient Email", "recipientEmail"),
    ("ExternalReference", "External Data Reference", "externalDataReference"),
    ("LocationLatitude", "Location Latitude", "locationLatitude"),
    ("LocationLongitude", "Location Longitude", "locationLongitude"),
    ("DistributionChannel", "Distribution Channel", "distributionChannel"),
    ("UserLanguage", "User Language", "userLanguage"),
)
# Metadata / identifier / free-text columns a Qualtrics export adds that the ingest must drop.
DROPPED = tuple(m[0] for m in METADATA) + ("Q30",)


def _labels(field: str) -> dict[str, str] | None:
    """Canonical cell text -> Qualtrics choice text, for the fields exported as choice text."""
    if field in contract.ITEMS_BY_NAME:
        return {str(i): lab for i, lab in enumerate(contract.ITEMS_BY_NAME[field].labels, start=1)}
    if field == "intent_to_leave":
        return {str(i): lab for i, lab in enumerate(contract.INTENT_TO_LEAVE_LABELS, start=1)}
    if field == "role":
        return dict(contract.ROLE_LABELS)
    if field == "leave_path":
        return dict(contract.LEAVE_PATH_LABELS)
    if field == "intent_to_reduce_fte":
        return {"yes": "Yes", "no": "No"}
    return None


def _metadata(n: int, rng: np.random.Generator) -> dict[str, object]:
    start = pd.Timestamp("2026-03-02 07:00:00") + pd.to_timedelta(rng.integers(0, 28 * 86400, n), unit="s")
    duration = rng.integers(180, 1800, n)
    end = start + pd.to_timedelta(duration, unit="s")
    fmt = "%Y-%m-%d %H:%M:%S"
    octets = rng.integers(1, 255, (n, 4)).astype(str)
    ip = pd.Series(octets[:, 0]).str.cat([pd.Series(octets[:, i]) for i in (1, 2, 3)], sep=".")
    people = pd.Series(np.arange(n)).astype(str)
    ids = "R_" + people.str.zfill(15)
    return {
        "StartDate": start.strftime(fmt),
        "EndDate": end.strftime(fmt),
        "Status": "IP Address",
        "IPAddress": ip.to_numpy(),
        "Progress": "100",
        "Duration (in seconds)": duration.astype(str),
        "Finished": "True",
        "RecordedDate": end.strftime(fmt),
        "ResponseId": ids.to_numpy(),
        "RecipientLastName": ("Surname" + people).to_numpy(),
        "RecipientFirstName": ("Given" + people).to_numpy(),
        "RecipientEmail": ("clinician" + people + "@example.org").to_numpy(),
        "ExternalReference": ("EMP" + people.str.zfill(7)).to_numpy(),
        "LocationLatitude": np.round(rng.uniform(39.0, 42.0, n), 6).astype(str),
        "LocationLongitude": np.round(rng.uniform(-88.0, -84.0, n), 6).astype(str),
        "DistributionChannel": "email",
        "UserLanguage": "EN",
    }


def write_qualtrics(canonical: str | Path, out: str | Path, seed: int = 11) -> int:
    """Write the Qualtrics-style export of `canonical` to `out`; returns the number of responses."""
    frame = pd.read_csv(canonical, dtype=str, keep_default_na=False, na_values=[], encoding="utf-8")
    n = len(frame)
    rng = np.random.default_rng(seed)
    columns: dict[str, object] = dict(_metadata(n, rng))
    names, questions, import_ids = [m[0] for m in METADATA], [m[1] for m in METADATA], [m[2] for m in METADATA]
    for i, field in enumerate(contract.FIELD_NAMES, start=1):
        values = frame[field]
        labels = _labels(field)
        if labels is None and field == "leave_reasons":
            reason = contract.LEAVE_REASON_LABELS
            labels = {v: ",".join(reason.get(t, t) for t in v.split(";")) for v in values.unique() if v}
        elif labels is None and field == "clinical_fte":  # percent, as many surveys ask
            labels = {v: f"{float(v) * 100:g}" for v in values.unique() if v}
        if labels is not None:  # per distinct value, not per row
            values = values.map(labels).fillna(values)
        columns[f"Q{i}"] = values.to_numpy()
        names.append(f"Q{i}")
        questions.append(contract.FIELDS_BY_NAME[field].description)
        import_ids.append(f"QID{i}")
    # A free-text comment box: dropped by the ingest (its ImportId ends in _TEXT).
    comments = np.array(
        ["", "", "", "More help with the inbox please.", "Night call is the hardest part."], dtype=object
    )
    columns["Q30"] = comments[rng.integers(0, len(comments), n)]
    names.append("Q30")
    questions.append("Anything else you would like to tell us?")
    import_ids.append("QID30_TEXT")
    out = Path(out)
    with open(out, "w", encoding="utf-8", newline="") as fh:
        writer = csv.writer(fh, lineterminator="\n")
        writer.writerow(names)
        writer.writerow(questions)
        writer.writerow([json.dumps({"ImportId": q}) for q in import_ids])
        pd.DataFrame(columns, columns=names).to_csv(fh, header=False, index=False, lineterminator="\n")
    return n


if __name__ == "__main__":
    print(write_qualtrics(sys.argv[1], sys.argv[2]))
