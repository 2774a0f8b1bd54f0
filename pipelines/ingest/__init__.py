"""Ingest: survey files and headcount rosters into the warehouse, all or nothing.

The package's public door; callers import from here. Inside the package, one module per job:

  readers.py    encoding, dialect, header rows and format detection (InputError, SourceFile)
  mapping.py    source column -> contract field (auto, mapping files, REDCap dictionaries, saved mappings)
  staging.py    the in-memory DuckDB a file is parsed in, and the warehouse ATTACHed to it for the insert
  convert.py    SQL macros, value synonyms and the set-based conversion to contract values
  validate.py   IngestResult and the set-based checks that write its errors and warnings
  load.py       `ingest`: one survey file, staged, converted, validated, inserted in one transaction
  roster.py     `ingest_headcount`: the headcount roster (and recognising one given to `ingest`)
  uploads.py    the upload history: list and delete
  first_run.py  an empty warehouse loads the bundled sample

Names with a leading underscore are shared between these modules only.
"""

from pipelines.ingest.load import ingest
from pipelines.ingest.mapping import MappingFile, parse_mapping, save_mapping, saved_mapping_for
from pipelines.ingest.readers import InputError
from pipelines.ingest.roster import ingest_headcount
from pipelines.ingest.uploads import delete_upload, list_uploads
from pipelines.ingest.validate import IngestResult

__all__ = [
    "IngestResult",
    "InputError",
    "MappingFile",
    "delete_upload",
    "ingest",
    "ingest_headcount",
    "list_uploads",
    "parse_mapping",
    "save_mapping",
    "saved_mapping_for",
]
