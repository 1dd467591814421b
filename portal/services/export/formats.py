"""How an export's tables are written: one JSON document, a zip of CSV files, or a readable page.

Every format is produced as a stream of byte chunks, written while the tables are read, and fills in a
`Receipt` as it goes: each table's (or file's) row count and SHA-256, the digest of the manifest that
lists them, and the SHA-256 and size of the whole file. The layout and the digests are published in
docs/export-format.md, which says how a person recomputes them.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import operator
import zipfile
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import IO, Any

from portal.services.export.tables import Export, Header, Row, Table

# Cells a spreadsheet would read as a formula (OWASP "CSV injection"): such cells get a leading quote.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
CHUNK = 64_000  # about as many bytes are handed on at a time, rather than a few per record


@dataclass(frozen=True)
class ManifestEntry:
    """One table (or, in a zip, one file) as the manifest lists it."""

    name: str
    rows: int
    sha256: str


@dataclass
class Receipt:
    """Filled in as an export is written; complete once its last byte has been produced."""

    entries: list[ManifestEntry] = field(default_factory=list)
    manifest_digest: str | None = None
    file_digest: str | None = None
    size: int = 0
    complete: bool = False

    @property
    def rows(self) -> int:
        return sum(entry.rows for entry in self.entries)


def canonical(record: Row) -> bytes:
    """One record as the digests see it: compact JSON, keys sorted, UTF-8 (not \\u-escaped), a newline."""
    return (json.dumps(record, ensure_ascii=False, sort_keys=True, separators=(",", ":")) + "\n").encode()


def _listed(entries: list[ManifestEntry]) -> list[Row]:
    return [{"name": e.name, "rows": e.rows, "sha256": e.sha256} for e in entries]


def manifest_digest(entries: list[ManifestEntry]) -> str:
    """The digest of a JSON export's manifest: SHA-256 of its table list in canonical form."""
    return hashlib.sha256(
        json.dumps(_listed(entries), ensure_ascii=False, sort_keys=True, separators=(",", ":")).encode()
    ).hexdigest()


class _Hashing:
    """Counts and hashes the bytes of a whole file as they go out."""

    def __init__(self, receipt: Receipt) -> None:
        self.receipt = receipt
        self.digest = hashlib.sha256()

    def out(self, chunk: bytes) -> bytes:
        self.digest.update(chunk)
        self.receipt.size += len(chunk)
        return chunk

    def finish(self) -> None:
        self.receipt.file_digest = self.digest.hexdigest()
        self.receipt.complete = True


def digested(table: Table, receipt: Receipt) -> Iterator[tuple[Row, bytes]]:
    """A table's records with their canonical form; once all have passed, its manifest entry is added."""
    digest, rows = hashlib.sha256(), 0
    for record in table.rows():
        line = canonical(record)
        digest.update(line)
        rows += 1
        yield record, line
    receipt.entries.append(ManifestEntry(table.name, rows, digest.hexdigest()))


def seal(receipt: Receipt) -> dict[str, Any]:
    """The manifest of a JSON document or readable copy, once every table has been written."""
    receipt.manifest_digest = manifest_digest(receipt.entries)
    return {"tables": _listed(receipt.entries), "digest": receipt.manifest_digest}


def json_export(export: Export, receipt: Receipt | None = None) -> Iterator[bytes]:
    """One JSON document: the header's fields, every table as an array of records, then the manifest.

    Records are written in their canonical form (see `canonical`), one per line, so that a reader can
    recompute each table's SHA-256 from the parsed document.
    """
    receipt = receipt if receipt is not None else Receipt()
    hashing = _Hashing(receipt)
    pieces = _json_pieces(export, receipt)
    yield hashing.out(next(pieces))  # the header at once: the download starts before a table is read
    # The rest in chunks of about CHUNK bytes: gunicorn's worker writes every chunk to the socket on its
    # own, and sending the 100,000 records of a copy one by one cost it 0.26 CPU seconds instead of 0.01.
    pending: list[bytes] = []
    size = 0
    for piece in pieces:
        pending.append(piece)
        size += len(piece)
        if size >= CHUNK:
            yield hashing.out(b"".join(pending))
            pending, size = [], 0
    yield hashing.out(b"".join(pending))
    hashing.finish()


def _json_pieces(export: Export, receipt: Receipt) -> Iterator[bytes]:
    """The document piece by piece: each record on a line of its own, its canonical form without the newline."""
    fields = "".join(f" {json.dumps(key)}: {json.dumps(value, ensure_ascii=False)},\n"
                     for key, value in export.header.as_dict().items())
    yield ("{\n" + fields + ' "tables": {').encode()
    for index, table in enumerate(export.tables):
        yield f'{"," if index else ""}\n  {json.dumps(table.name)}: ['.encode()
        rows = 0
        for _record, line in digested(table, receipt):
            yield (b",\n   " if rows else b"\n   ") + line.removesuffix(b"\n")
            rows += 1
        yield b"\n  ]" if rows else b"]"
    manifest = json.dumps(seal(receipt), indent=1)
    yield f'\n }},\n "manifest": {manifest}\n}}\n'.encode()


def hashed_text(chunks: Iterable[str], receipt: Receipt) -> Iterator[bytes]:
    """Text chunks (a rendered page) as UTF-8 bytes, counted and hashed into `receipt`."""
    hashing = _Hashing(receipt)
    for chunk in chunks:
        yield hashing.out(chunk.encode())
    hashing.finish()


def neutralise(cell: str) -> str:
    """A cell a spreadsheet would run as a formula, made inert with a leading apostrophe."""
    return "'" + cell if cell.startswith(FORMULA_STARTS) else cell


def csv_cell(value: Any) -> str:
    """A value as a CSV cell: lists joined with "; ", true/false, nothing for null, never a formula."""
    kind = type(value)
    # Most cells: strings, then ids. Asked first by exact type and neutralised in line: the CSV zip of 100,000
    # items has 1.3 million cells, and a function call saved on each keeps it near a bare csv.writer.
    if kind is str:
        return "'" + value if value.startswith(FORMULA_STARTS) else value
    if kind is int and value >= 0:  # digits only: never a formula
        return str(value)
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return neutralise("; ".join(map(str, value)))
    return neutralise(str(value))


def _cells_of(columns: tuple[str, ...]) -> Callable[[Row], tuple[Any, ...]]:
    """A record's values in the columns' order, as a tuple (itemgetter of one name would return the value)."""
    if len(columns) == 1:
        return lambda record: (record[columns[0]],)
    return operator.itemgetter(*columns)


class _Sink(io.RawIOBase):
    """Where the zip writer puts its bytes until the stream takes them."""

    def __init__(self) -> None:
        self.chunks: list[bytes] = []

    def writable(self) -> bool:
        return True

    def write(self, data: Any) -> int:
        self.chunks.append(bytes(data))
        return len(data)

    def take(self) -> bytes:
        data = b"".join(self.chunks)
        self.chunks.clear()
        return data


def _move(text: io.StringIO, entry: IO[bytes], digest: Any) -> None:
    """The CSV text written so far, as UTF-8 into the zip entry and its file's SHA-256; `text` is emptied."""
    data = text.getvalue().encode()
    text.seek(0)
    text.truncate()
    digest.update(data)
    entry.write(data)


def zip_export(export: Export, readme: Callable[[Header, str, list[ManifestEntry]], str],
               receipt: Receipt | None = None) -> Iterator[bytes]:
    """A zip of one CSV file per table, then `manifest.json` and a `README.txt` from `readme`.

    The zip is written to a stream (no seeking: sizes and checksums follow each file), so that it can
    be sent while it is made. `readme(header, manifest_digest, entries)` writes the explanation.
    """
    receipt = receipt if receipt is not None else Receipt()
    hashing = _Hashing(receipt)
    sink = _Sink()
    stamp = export.header.generated_at.timetuple()[:6]
    with zipfile.ZipFile(sink, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for table in export.tables:
            name = f"{table.name}.csv"
            digest, rows = hashlib.sha256(), 0
            info = zipfile.ZipInfo(name, date_time=stamp)
            info.compress_type = zipfile.ZIP_DEFLATED
            with archive.open(info, "w") as entry:
                text = io.StringIO()
                writer = csv.writer(text, lineterminator="\r\n")
                writer.writerow(table.columns)
                cells = _cells_of(table.columns)
                for record in table.rows():
                    writer.writerow(map(csv_cell, cells(record)))
                    rows += 1
                    # Compressed CHUNK characters at a time: row by row, the compressor's calls took 0.24 CPU
                    # seconds more at 100,000 items (of 1.4), and the server would be handed a chunk per row.
                    if text.tell() >= CHUNK:
                        _move(text, entry, digest)
                        yield hashing.out(sink.take())
                _move(text, entry, digest)
            yield hashing.out(sink.take())
            receipt.entries.append(ManifestEntry(name, rows, digest.hexdigest()))
        manifest = json.dumps({**export.header.as_dict(), "files": _listed(receipt.entries)},
                              ensure_ascii=False, indent=1).encode()
        receipt.manifest_digest = hashlib.sha256(manifest).hexdigest()
        archive.writestr(zipfile.ZipInfo("manifest.json", date_time=stamp), manifest, zipfile.ZIP_DEFLATED)
        archive.writestr(zipfile.ZipInfo("README.txt", date_time=stamp),
                         readme(export.header, receipt.manifest_digest, receipt.entries).encode(),
                         zipfile.ZIP_DEFLATED)
    yield hashing.out(sink.take())
    hashing.finish()
