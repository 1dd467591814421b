"""The copy of a person's data (right of access, Art. 15) and the portable export (Art. 20), streamed.

Three modules, each imported by name:

- `tables`: what an export holds. `build_export` makes the copy or the portable export as a header and a
  list of tables whose rows are read lazily from the database; `portable_groups` explains, per kind of
  item, whether the portable export holds it.
- `formats`: how the tables are written. One JSON document (`json_export`), a zip of CSV files
  (`zip_export`), or the readable page the web layer renders (`digested`, `seal`, `hashed_text`); each
  ends with a manifest of every table's row count and SHA-256 and a digest of that manifest, so that the
  person can check what they received (see docs/export-format.md).
- `downloads`: the record of every download, started before the first byte and completed with its
  digests after the last.
"""
