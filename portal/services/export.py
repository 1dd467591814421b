"""The copy of a person's data (right of access, Art. 15) and the portable export (Art. 20), streamed.

Both are a list of tables whose rows are produced lazily from the database: the data items, which may
run to hundreds of thousands, are read in batches (`yield_per`) and written out as they come, so the
memory an export needs does not grow with it. The same tables feed every format: one JSON document
(`json_export`), a zip of RFC 4180 CSV files with a manifest (`zip_export`), and the readable page the
web layer renders. Each format ends with a manifest of every table's row count and SHA-256, and a
digest of that manifest, so that the person can check what they received (see docs/export-format.md).

Which items the portable export holds is decided by `portal.policy.portability`; what the copy says
about each item (purposes, bases, retention) comes from the same overview the person sees.
"""

from __future__ import annotations

import csv
import datetime as dt
import functools
import hashlib
import io
import json
import operator
import zipfile
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from portal.models import DataItem, Download, MarketingObjection
from portal.policy.portability import PortabilityDecision, portability_of
from portal.policy.register import Register
from portal.services.overview import Overview, RelationView, build_overview
from portal.services.requests import requests_of

FORMAT = "portal-export/1"
COPY, PORTABLE = "copy", "portable"
KINDS = (COPY, PORTABLE)
FORMATS = ("json", "csv")
BATCH = 2000  # data items read per round trip; bounds the memory an export needs
# Cells a spreadsheet would read as a formula (OWASP "CSV injection"): such cells get a leading quote.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")

Row = dict[str, Any]


@dataclass(frozen=True)
class Table:
    """One table of an export: its name, its columns in order, and a function producing its rows."""

    name: str
    columns: tuple[str, ...]
    rows: Callable[[], Iterable[Row]]


@dataclass(frozen=True)
class Header:
    """What every export says about itself: what, for whom, when, under which statement."""

    kind: str
    subject_email: str
    generated_at: dt.datetime
    statement_version: str
    statement_date: dt.date
    controller: str
    language: str

    def as_dict(self) -> Row:
        return {
            "format": FORMAT, "kind": self.kind, "generated_at": _timestamp(self.generated_at),
            "subject_email": self.subject_email, "statement_version": self.statement_version,
            "statement_date": self.statement_date.isoformat(), "controller": self.controller,
            "language": self.language,
        }


@dataclass(frozen=True)
class ManifestEntry:
    name: str  # the table, or in a zip the file
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


@dataclass(frozen=True)
class Export:
    header: Header
    tables: list[Table]


def _in_use(relation: RelationView) -> frozenset[str]:
    """The purposes in use for the person under this relation (a consent purpose only while it stands)."""
    return frozenset(p.purpose.id for p in relation.purposes if p.in_use)


def _timestamp(moment: dt.datetime) -> str:
    return moment.replace(microsecond=0).isoformat() + ("Z" if moment.tzinfo is None else "")


def _iso(value: dt.date | dt.datetime | None) -> str | None:
    if value is None:
        return None
    if isinstance(value, dt.datetime):
        return _timestamp(value)
    return value.isoformat()


_CANONICAL = json.JSONEncoder(ensure_ascii=False, sort_keys=True, separators=(",", ":")).encode


def canonical(record: Row) -> bytes:
    """One record as the digests see it: compact JSON, keys sorted, UTF-8 (not \\u-escaped), a newline."""
    return (_CANONICAL(record) + "\n").encode()


def manifest_digest(entries: list[ManifestEntry]) -> str:
    """The digest of a JSON export's manifest: SHA-256 of its table list in canonical form."""
    listed = [{"name": e.name, "rows": e.rows, "sha256": e.sha256} for e in entries]
    return hashlib.sha256(
        json.dumps(listed, ensure_ascii=False, sort_keys=True, separators=(",", ":")).encode()
    ).hexdigest()


# --- the tables --------------------------------------------------------------------------------------

def build_export(
    session: Session, email: str, kind: str, *, register: Register, language: str, now: dt.datetime,
    download_id: int | None = None,
) -> Export:
    """The tables of a person's copy or portable export, ready to be streamed in any format.

    `download_id` is the record of this very download: the copy lists the earlier ones, not itself.
    """
    if kind not in KINDS:
        raise ValueError(f"unknown export kind {kind!r}")
    overview = build_overview(session, email, register=register)
    header = Header(
        kind=kind, subject_email=email, generated_at=now, statement_version=register.statement.version,
        statement_date=register.statement.date, controller=register.controller.name.in_language(language),
        language=language,
    )
    tables = _Tables(session, overview, register, language, download_id)
    return Export(header=header, tables=tables.copy() if kind == COPY else tables.portable())


class _Tables:
    def __init__(
        self, session: Session, overview: Overview, register: Register, language: str, download_id: int | None,
    ) -> None:
        self.download_id = download_id
        self.session = session
        self.overview = overview
        self.register = register
        self.language = language
        self.relations = {relation.id: relation for relation in overview.relations}

    def text(self, text: Any) -> str:
        return str(text.in_language(self.language))

    def copy(self) -> list[Table]:
        return [
            Table("subject", ("email", "name", "language"), self.subject_rows),
            Table("relations", ("relation_id", "relation", "relation_name", "started", "ended", "last_contact",
                                "kept_until", "restricted_since"), self.relation_rows),
            Table("purposes", ("relation_id", "relation", "purpose", "description", "legal_basis",
                               "legal_basis_name", "legitimate_interest", "recipients", "outside_eea_possible",
                               "retention_rule", "retention_until", "in_use"), self.purpose_rows),
            Table("data_items", ("item_id", "relation_id", "relation", "category", "field", "value", "source",
                                 "recorded", "purposes", "legal_bases", "kept_until", "portable", "restricted"),
                  self.item_rows),
            Table("consents", ("purpose", "description", "given", "withdrawn"), self.consent_rows),
            Table("marketing_objections", ("objected_at", "lifted_at"), self.objection_rows),
            Table("requests", ("request_id", "right", "scope", "details", "status", "received_on", "due_on",
                               "extended_due_on", "closed_at", "statement_version"), self.request_rows),
            Table("request_events", ("request_id", "at", "actor", "status", "note"), self.event_rows),
            Table("requested_changes", ("request_id", "field", "old_value", "new_value"), self.change_rows),
            Table("downloads", ("started_at", "completed_at", "kind", "format", "statement_version",
                                "manifest_digest", "file_digest"), self.download_rows),
        ]

    def portable(self) -> list[Table]:
        return [
            Table("subject", ("email", "name"), lambda: ({"email": r["email"], "name": r["name"]}
                                                        for r in self.subject_rows())),
            Table("data_items", ("item_id", "relation", "category", "field", "value", "source", "recorded"),
                  self.portable_item_rows),
        ]

    def subject_rows(self) -> Iterator[Row]:
        yield {"email": self.overview.email, "name": self.overview.name, "language": self.overview.language}

    def relation_rows(self) -> Iterator[Row]:
        for relation in self.overview.relations:
            yield {
                "relation_id": relation.id, "relation": relation.definition.id,
                "relation_name": self.text(relation.definition.name), "started": _iso(relation.started),
                "ended": _iso(relation.ended), "last_contact": _iso(relation.last_contact),
                "kept_until": _iso(relation.kept_until), "restricted_since": _iso(relation.restricted_since),
            }

    def purpose_rows(self) -> Iterator[Row]:
        for relation in self.overview.relations:
            for view in relation.purposes:
                purpose = view.purpose
                yield {
                    "relation_id": relation.id, "relation": relation.definition.id, "purpose": purpose.id,
                    "description": self.text(purpose.description), "legal_basis": purpose.basis,
                    "legal_basis_name": self.text(view.basis.name),
                    "legitimate_interest": self.text(purpose.interest) if purpose.interest else None,
                    "recipients": [self.text(r.name) for r in view.recipients],
                    "outside_eea_possible": any(r.outside_eea_possible for r in view.recipients),
                    "retention_rule": purpose.retention, "retention_until": _iso(view.retention.until),
                    "in_use": view.in_use,
                }

    def _items(self) -> Iterator[tuple[RelationView, Any]]:
        """Every data item of the person, read in batches, with the relation it belongs to."""
        if not self.relations:
            return
        # Core rows through the session's own connection (one transaction with the rest of the export);
        # the option goes on the statement, not the connection, so it does not outlive this query.
        result = self.session.connection().execute(
            select(DataItem.id, DataItem.relation_id, DataItem.category, DataItem.field, DataItem.value,
                   DataItem.source, DataItem.recorded)
            .where(DataItem.relation_id.in_(list(self.relations)))
            .order_by(DataItem.relation_id, DataItem.category, DataItem.recorded, DataItem.id)
            .execution_options(yield_per=BATCH)
        )
        relations = self.relations
        try:
            for row in result:
                yield relations[row[1]], row
        finally:
            result.close()

    def item_rows(self) -> Iterator[Row]:
        known: dict[tuple[int, str, str], tuple[Any, ...]] = {}
        for relation, (item_id, relation_id, category, field_name, value, source, recorded) in self._items():
            same = known.get((relation_id, category, source))
            if same is None:
                users = [p for p in relation.purposes if category in p.purpose.categories]
                same = known[(relation_id, category, source)] = (
                    relation.definition.id, [p.purpose.id for p in users], sorted({p.purpose.basis for p in users}),
                    _iso(relation.kept_until_for(category)),
                    portability_of(self.register, relation.definition.id, category, source,
                                   in_use=_in_use(relation)).included,
                    relation.restricted_since is not None,
                )
            kind, purposes, bases, kept_until, portable, restricted = same
            yield {
                "item_id": item_id, "relation_id": relation_id, "relation": kind,
                "category": category, "field": field_name, "value": value, "source": source,
                "recorded": recorded.isoformat(), "purposes": purposes, "legal_bases": bases,
                "kept_until": kept_until, "portable": portable, "restricted": restricted,
            }

    def portable_item_rows(self) -> Iterator[Row]:
        admitted: dict[tuple[int, str, str], bool] = {}
        for relation, item in self._items():
            kind = (relation.id, item.category, item.source)
            if kind not in admitted:
                admitted[kind] = portability_of(self.register, relation.definition.id, item.category, item.source,
                                                in_use=_in_use(relation)).included
            if admitted[kind]:
                yield {
                    "item_id": item.id, "relation": relation.definition.id, "category": item.category,
                    "field": item.field, "value": item.value, "source": item.source, "recorded": _iso(item.recorded),
                }

    def consent_rows(self) -> Iterator[Row]:
        for consent in self.overview.consents:
            yield {"purpose": consent.purpose.id, "description": self.text(consent.purpose.description),
                   "given": _iso(consent.given), "withdrawn": _iso(consent.withdrawn)}

    def objection_rows(self) -> Iterator[Row]:
        for objection in self.session.scalars(
            select(MarketingObjection).where(MarketingObjection.email == self.overview.email)
            .order_by(MarketingObjection.objected_at, MarketingObjection.id)
        ):
            yield {"objected_at": _iso(objection.objected_at), "lifted_at": _iso(objection.lifted_at)}

    def _requests(self) -> list[Any]:
        if not hasattr(self, "_request_list"):
            self._request_list = list(reversed(requests_of(self.session, self.overview.email)))
        return self._request_list

    def request_rows(self) -> Iterator[Row]:
        for request in self._requests():
            yield {
                "request_id": request.id, "right": request.right, "scope": request.scope,
                "details": request.details, "status": request.status, "received_on": _iso(request.received_on),
                "due_on": _iso(request.due_on), "extended_due_on": _iso(request.extended_due_on),
                "closed_at": _iso(request.closed_at), "statement_version": request.statement_version,
            }

    def event_rows(self) -> Iterator[Row]:
        for request in self._requests():
            for event in request.events:
                yield {"request_id": request.id, "at": _iso(event.at), "actor": event.actor, "status": event.status,
                       "note": event.note}

    def change_rows(self) -> Iterator[Row]:
        for request in self._requests():
            for change in request.changes:
                yield {"request_id": request.id, "field": change.field, "old_value": change.old_value,
                       "new_value": change.new_value}

    def download_rows(self) -> Iterator[Row]:
        for download in reversed(downloads_of(self.session, self.overview.email)):
            if download.id == self.download_id:
                continue
            yield {
                "started_at": _iso(download.started_at), "completed_at": _iso(download.completed_at),
                "kind": download.kind, "format": download.format, "statement_version": download.statement_version,
                "manifest_digest": download.manifest_digest, "file_digest": download.file_digest,
            }


# --- the formats -------------------------------------------------------------------------------------

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
    return {
        "tables": [{"name": e.name, "rows": e.rows, "sha256": e.sha256} for e in receipt.entries],
        "digest": receipt.manifest_digest,
    }


def json_export(export: Export, receipt: Receipt | None = None) -> Iterator[bytes]:
    """One JSON document: the header, every table as an array of records, then the manifest.

    Records are written in their canonical form (see `canonical`), one per line, so that a reader can
    recompute each table's SHA-256 from the parsed document.
    """
    receipt = receipt if receipt is not None else Receipt()
    hashing = _Hashing(receipt)
    head = json.dumps(export.header.as_dict(), ensure_ascii=False, indent=1)
    yield hashing.out((head[:-2] + ',\n "tables": {').encode())
    for index, table in enumerate(export.tables):
        batch = [f'{"," if index else ""}\n  {json.dumps(table.name)}: ['.encode()]
        rows = 0
        for _record, line in digested(table, receipt):
            batch.append((b",\n   " if rows else b"\n   ") + line[:-1])
            rows += 1
            if len(batch) >= 200:
                yield hashing.out(b"".join(batch))
                batch = []
        batch.append(b"\n  ]" if rows else b"]")
        yield hashing.out(b"".join(batch))
    manifest = seal(receipt)
    yield hashing.out(('\n },\n "manifest": ' + json.dumps(manifest, indent=1) + "\n}\n").encode())
    hashing.finish()


def hashed_text(chunks: Iterable[str], receipt: Receipt) -> Iterator[bytes]:
    """Text chunks (a rendered page) as UTF-8 bytes, counted and hashed into `receipt`."""
    hashing = _Hashing(receipt)
    for chunk in chunks:
        yield hashing.out(chunk.encode())
    hashing.finish()


def neutralise(cell: str) -> str:
    """A cell a spreadsheet would run as a formula, made inert with a leading apostrophe."""
    return "'" + cell if cell.startswith(FORMULA_STARTS) else cell


@functools.lru_cache(maxsize=256)
def _joined_cell(values: tuple[Any, ...]) -> str:
    return neutralise("; ".join(str(v) for v in values))


def csv_cell(value: Any) -> str:
    if type(value) is str:  # most cells: test the common case first
        return "'" + value if value.startswith(FORMULA_STARTS) else value
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return _joined_cell(tuple(value))  # the same few lists repeat on every item of a category
    return neutralise(str(value))


class _Sink(io.RawIOBase):
    """Where the zip writer puts its bytes until the stream takes them: never more than one batch."""

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
            buffer = io.StringIO()
            writer = csv.writer(buffer, lineterminator="\r\n")
            info = zipfile.ZipInfo(name, date_time=stamp)
            info.compress_type = zipfile.ZIP_DEFLATED
            with archive.open(info, "w") as entry:
                writer.writerow(table.columns)
                cells = operator.itemgetter(*table.columns) if len(table.columns) > 1 else None
                for record in table.rows():
                    writer.writerow(map(csv_cell, cells(record)) if cells else [csv_cell(record[table.columns[0]])])
                    rows += 1
                    if buffer.tell() > 64_000:
                        chunk = buffer.getvalue().encode()
                        buffer.seek(0)
                        buffer.truncate()
                        digest.update(chunk)
                        entry.write(chunk)
                        yield hashing.out(sink.take())
                chunk = buffer.getvalue().encode()
                digest.update(chunk)
                entry.write(chunk)
            yield hashing.out(sink.take())
            receipt.entries.append(ManifestEntry(name, rows, digest.hexdigest()))
        manifest = json.dumps({
            **export.header.as_dict(),
            "files": [{"name": e.name, "rows": e.rows, "sha256": e.sha256} for e in receipt.entries],
        }, ensure_ascii=False, indent=1).encode()
        receipt.manifest_digest = hashlib.sha256(manifest).hexdigest()
        archive.writestr(zipfile.ZipInfo("manifest.json", date_time=stamp), manifest, zipfile.ZIP_DEFLATED)
        archive.writestr(zipfile.ZipInfo("README.txt", date_time=stamp),
                         readme(export.header, receipt.manifest_digest, receipt.entries).encode(),
                         zipfile.ZIP_DEFLATED)
    yield hashing.out(sink.take())
    hashing.finish()


# --- the record of downloads -------------------------------------------------------------------------

def start_download(session: Session, email: str, kind: str, fmt: str, *, register: Register,
                   now: dt.datetime) -> Download:
    download = Download(email=email, kind=kind, format=fmt, statement_version=register.statement.version,
                        started_at=now)
    session.add(download)
    session.commit()
    return download


def finish_download(session: Session, download_id: int, receipt: Receipt, *, now: dt.datetime) -> Download:
    download = session.get(Download, download_id)
    assert download is not None  # written when the download started
    download.completed_at = now
    download.manifest_digest = receipt.manifest_digest
    download.file_digest = receipt.file_digest
    download.rows = receipt.rows
    return download


def downloads_of(session: Session, email: str) -> list[Download]:
    """The person's downloads, newest first."""
    return list(session.scalars(
        select(Download).where(Download.email == email).order_by(Download.started_at.desc(), Download.id.desc())
    ))


# --- what the portable export holds, explained -------------------------------------------------------

@dataclass(frozen=True)
class PortableGroup:
    """Items of one kind under one relation, and whether the portable export holds them."""

    relation: RelationView
    category: str
    source: str
    count: int
    decision: PortabilityDecision


def portable_groups(session: Session, overview: Overview, register: Register) -> list[PortableGroup]:
    """What the person holds per relation, category and source, each with its portability decision."""
    relations = {relation.id: relation for relation in overview.relations}
    if not relations:
        return []
    counts = session.execute(
        select(DataItem.relation_id, DataItem.category, DataItem.source, func.count())
        .where(DataItem.relation_id.in_(list(relations)))
        .group_by(DataItem.relation_id, DataItem.category, DataItem.source)
    )
    groups = [
        PortableGroup(relations[rid], category, source, count,
                      portability_of(register, relations[rid].definition.id, category, source,
                                     in_use=_in_use(relations[rid])))
        for rid, category, source, count in counts
    ]
    order = {cid: i for i, cid in enumerate(register.categories)}
    sources = {sid: i for i, sid in enumerate(register.sources)}
    return sorted(groups, key=lambda g: (g.relation.started, g.relation.id, order[g.category], sources[g.source]))
