"""Importing people, their relations, data items and consents (format `portal-subjects/1`).

The import is all or nothing: every record is checked first, against the JSON Schema for its shape
and against the policy register for its meaning, and every problem is reported with its place in the
file. Only a file without any problem is written, in one transaction. Importing the same file again
changes nothing: records are matched on natural keys (address; relation kind and start; the item's
fingerprint; consent purpose and date). An import adds and updates, never deletes: a value left out of a
later file keeps what is stored, and a withdrawn consent is never switched back on.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator
from sqlalchemy import insert, select
from sqlalchemy.orm import Session

from portal.models import Consent, DataItem, Relation, Subject
from portal.policy.register import Register
from portal.services.email_address import InvalidEmail, normalise_email

FORMAT = "portal-subjects/1"
SCHEMA_PATH = Path(__file__).resolve().parent.parent / "schemas" / "portal-subjects-1.schema.json"
_CHUNK = 500  # rows per IN (...) lookup: well under SQLite's and PostgreSQL's parameter limits

Progress = Callable[[int], None]


@dataclass(frozen=True)
class ImportProblem:
    """One bad value: where it is in the file (e.g. `subjects[3].relations[0].data[2].category`) and why."""

    path: str
    message: str

    def __str__(self) -> str:
        return f"{self.path}: {self.message}"


class ImportRejected(Exception):
    """The file has problems; nothing was written."""

    def __init__(self, problems: Sequence[ImportProblem]) -> None:
        self.problems = list(problems)
        super().__init__(f"{len(self.problems)} problem(s) in the import file; nothing was imported")


@dataclass
class ImportReport:
    """What an import changed. All zeros means the database already held everything in the file."""

    subjects_created: int = 0
    subjects_updated: int = 0
    relations_created: int = 0
    relations_updated: int = 0
    items_created: int = 0
    consents_created: int = 0
    consents_updated: int = 0
    items_in_file: int = 0
    subjects_in_file: int = 0

    @property
    def changed_anything(self) -> bool:
        return any((self.subjects_created, self.subjects_updated, self.relations_created,
                    self.relations_updated, self.items_created, self.consents_created, self.consents_updated))


@dataclass
class _Item:
    category: str
    field: str
    value: str
    source: str
    recorded: dt.date

    @property
    def fingerprint(self) -> str:
        return item_fingerprint(self.category, self.field, self.value, self.source, self.recorded)


@dataclass
class _Relation:
    kind: str
    started: dt.date
    ended: dt.date | None
    last_contact: dt.date | None
    items: list[_Item] = field(default_factory=list)


@dataclass
class _Consent:
    purpose: str
    given: dt.date
    withdrawn: dt.date | None


@dataclass
class _Subject:
    email: str
    name: str | None  # None: not in the file, keep what is stored
    language: str | None
    relations: list[_Relation]
    consents: list[_Consent]


def item_fingerprint(category: str, field_name: str, value: str, source: str, recorded: dt.date) -> str:
    """The identity of a data item under its relation, used to recognise it on a re-import."""
    joined = "\x1f".join((category, field_name, value, source, recorded.isoformat()))
    return hashlib.sha256(joined.encode("utf-8")).hexdigest()


@cache
def _schema_validator() -> Draft202012Validator:
    return Draft202012Validator(json.loads(SCHEMA_PATH.read_text(encoding="utf-8")))


def read_document(raw: bytes | str) -> Any:
    """Parse an import file's JSON, or `ImportRejected` saying where the syntax breaks."""
    try:
        return json.loads(raw)
    except UnicodeDecodeError as exc:
        raise ImportRejected([ImportProblem("file", f"is not UTF-8 text ({exc.reason})")]) from exc
    except json.JSONDecodeError as exc:
        raise ImportRejected([ImportProblem("file", f"is not valid JSON: {exc.msg} at line {exc.lineno}, "
                                                    f"column {exc.colno}")]) from exc
    except RecursionError as exc:
        raise ImportRejected([ImportProblem("file", "is nested too deeply to be an import file")]) from exc
    except ValueError as exc:  # e.g. an integer of thousands of digits
        raise ImportRejected([ImportProblem("file", f"holds a value that cannot be read: {exc}")]) from exc


def _unstorable_text(value: Any, path: str) -> Iterator[ImportProblem]:
    """Strings a database cannot store: NUL (PostgreSQL refuses it) and unpaired surrogates (not UTF-8)."""
    if isinstance(value, str):
        if "\x00" in value:
            yield ImportProblem(path or "file", "contains a NUL character, which cannot be stored")
        elif any("\ud800" <= char <= "\udfff" for char in value):
            yield ImportProblem(path or "file", "contains an unpaired surrogate, which is not valid text")
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from _unstorable_text(key, path)
            yield from _unstorable_text(item, f"{path}.{key}" if path else str(key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _unstorable_text(item, f"{path}[{index}]")


def validate_document(document: Any, *, register: Register, today: dt.date) -> list[_Subject]:
    """Check a parsed file completely; return its people, or `ImportRejected` with every problem."""
    unstorable = list(_unstorable_text(document, ""))
    if unstorable:
        raise ImportRejected(unstorable)
    problems = [
        ImportProblem(_path(error.absolute_path), error.message)
        for error in sorted(_schema_validator().iter_errors(document), key=lambda e: list(map(str, e.path)))
    ]
    if problems:
        raise ImportRejected(problems)
    subjects = list(_checked_subjects(document["subjects"], register, today, problems))
    if problems:
        raise ImportRejected(problems)
    return subjects


def _path(parts: Iterable[str | int]) -> str:
    path = ""
    for part in parts:
        path += f"[{part}]" if isinstance(part, int) else (f".{part}" if path else str(part))
    return path or "file"


def _date(value: str | None, where: str, problems: list[ImportProblem], today: dt.date) -> dt.date | None:
    if value is None:
        return None
    try:
        parsed = dt.date.fromisoformat(value)
    except ValueError:
        problems.append(ImportProblem(where, f"{value!r} is not a real calendar date (YYYY-MM-DD)"))
        return None
    if parsed > today:
        problems.append(ImportProblem(where, f"{value} lies in the future"))
    return parsed


def _checked_subjects(  # noqa: C901 - one pass over the file keeps every check next to its path
    raw_subjects: list[Mapping[str, Any]], register: Register, today: dt.date, problems: list[ImportProblem]
) -> Iterator[_Subject]:
    seen_emails: dict[str, int] = {}
    consent_purposes = {p.id: p for p in register.consent_purposes()}
    for s_index, raw in enumerate(raw_subjects):
        where = f"subjects[{s_index}]"
        try:
            email = normalise_email(raw["email"])
        except InvalidEmail:
            problems.append(ImportProblem(f"{where}.email", f"{raw['email']!r} is not exactly one e-mail address"))
            email = ""
        if email and email in seen_emails:
            problems.append(ImportProblem(
                f"{where}.email", f"{email} appears twice in the file (also subjects[{seen_emails[email]}])"))
        elif email:
            seen_emails[email] = s_index

        relations: list[_Relation] = []
        relation_keys: set[tuple[str, dt.date | None]] = set()
        for r_index, raw_relation in enumerate(raw.get("relations", [])):
            r_where = f"{where}.relations[{r_index}]"
            kind = raw_relation["kind"]
            relation_definition = register.relations.get(kind)
            if relation_definition is None:
                problems.append(ImportProblem(
                    f"{r_where}.kind", f"{kind!r} is not a relation of the register "
                                       f"({', '.join(register.relations)})"))
            started = _date(raw_relation["started"], f"{r_where}.started", problems, today)
            ended = _date(raw_relation.get("ended"), f"{r_where}.ended", problems, today)
            last_contact = _date(raw_relation.get("last_contact"), f"{r_where}.last_contact", problems, today)
            if started and ended and ended < started:
                problems.append(ImportProblem(f"{r_where}.ended", "lies before the relation started"))
            if started and last_contact and last_contact < started:
                problems.append(ImportProblem(f"{r_where}.last_contact", "lies before the relation started"))
            if (kind, started) in relation_keys:
                problems.append(ImportProblem(r_where, f"a {kind} relation starting {started} appears twice"))
            relation_keys.add((kind, started))

            items: list[_Item] = []
            for d_index, raw_item in enumerate(raw_relation.get("data", [])):
                d_where = f"{r_where}.data[{d_index}]"
                category = raw_item["category"]
                if relation_definition is not None and category not in relation_definition.category_ids:
                    problems.append(ImportProblem(
                        f"{d_where}.category", f"{category!r} is not a data category of relation {kind!r} "
                                               f"({', '.join(relation_definition.category_ids)})"))
                if raw_item["source"] not in register.sources:
                    problems.append(ImportProblem(
                        f"{d_where}.source", f"{raw_item['source']!r} is not a source of the register "
                                             f"({', '.join(register.sources)})"))
                if not raw_item["field"].strip() or not raw_item["value"].strip():
                    problems.append(ImportProblem(d_where, "field and value must not be blank"))
                recorded = _date(raw_item["recorded"], f"{d_where}.recorded", problems, today)
                if recorded is not None:
                    items.append(_Item(category, raw_item["field"].strip(), raw_item["value"],
                                       raw_item["source"], recorded))
            if started is not None:
                relations.append(_Relation(kind, started, ended, last_contact, items))

        consents: list[_Consent] = []
        kinds = {relation["kind"] for relation in raw.get("relations", [])}
        for c_index, raw_consent in enumerate(raw.get("consents", [])):
            c_where = f"{where}.consents[{c_index}]"
            purpose = consent_purposes.get(raw_consent["purpose"])
            if purpose is None:
                problems.append(ImportProblem(
                    f"{c_where}.purpose", f"{raw_consent['purpose']!r} is not a purpose that rests on consent "
                                          f"({', '.join(consent_purposes)})"))
            elif purpose.relation not in kinds:
                problems.append(ImportProblem(
                    f"{c_where}.purpose", f"consent to {purpose.id} needs a {purpose.relation} relation "
                                          "for this person in the same file"))
            given = _date(raw_consent["given"], f"{c_where}.given", problems, today)
            withdrawn = _date(raw_consent.get("withdrawn"), f"{c_where}.withdrawn", problems, today)
            if given and withdrawn and withdrawn < given:
                problems.append(ImportProblem(f"{c_where}.withdrawn", "lies before the consent was given"))
            if given is not None:
                consents.append(_Consent(raw_consent["purpose"], given, withdrawn))

        name = raw.get("name")
        yield _Subject(email=email, name=name.strip() if name else None, language=raw.get("language"),
                       relations=relations, consents=consents)


def import_subjects(
    document: Any, *, session: Session, register: Register, today: dt.date, progress: Progress | None = None
) -> ImportReport:
    """Validate and write a `portal-subjects/1` document in one transaction; return what changed.

    Raises `ImportRejected` (and writes nothing) when any record is bad. The caller owns the session;
    this function commits on success and rolls back on any failure.
    """
    subjects = validate_document(document, register=register, today=today)
    report = ImportReport(subjects_in_file=len(subjects),
                          items_in_file=sum(len(r.items) for s in subjects for r in s.relations))
    try:
        for start in range(0, len(subjects), _CHUNK):
            chunk = subjects[start:start + _CHUNK]
            _write_chunk(chunk, session, report)
            if progress:
                progress(len(chunk))
        session.commit()
    except BaseException:
        session.rollback()
        raise
    return report


def _update(record: Subject | Relation, **values: object) -> bool:
    """Set the values the file gives; a value missing from the file (None) never erases a stored one.

    An export from another system often leaves fields out; clearing `ended` on that account would
    reopen a relation and silently push back its retention date.
    """
    changed = False
    for name, value in values.items():
        if value is not None and getattr(record, name) != value:
            setattr(record, name, value)
            changed = True
    return changed


def _write_chunk(chunk: list[_Subject], session: Session, report: ImportReport) -> None:
    existing = {
        subject.email: subject
        for subject in session.scalars(select(Subject).where(Subject.email.in_([s.email for s in chunk])))
    }
    stored: dict[str, Subject] = {}
    for incoming in chunk:
        subject = existing.get(incoming.email)
        if subject is None:
            subject = Subject(email=incoming.email, name=incoming.name, language=incoming.language or "nl")
            session.add(subject)
            report.subjects_created += 1
        elif _update(subject, name=incoming.name, language=incoming.language):
            report.subjects_updated += 1
        stored[incoming.email] = subject
    session.flush()

    subject_ids = [subject.id for subject in stored.values()]
    relations = {
        (relation.subject_id, relation.kind, relation.started): relation
        for relation in session.scalars(select(Relation).where(Relation.subject_id.in_(subject_ids)))
    }
    consents = {
        (consent.subject_id, consent.purpose, consent.given): consent
        for consent in session.scalars(select(Consent).where(Consent.subject_id.in_(subject_ids)))
    }
    pending_items: list[tuple[Relation, _Relation]] = []
    for incoming in chunk:
        subject = stored[incoming.email]
        for incoming_relation in incoming.relations:
            key = (subject.id, incoming_relation.kind, incoming_relation.started)
            relation = relations.get(key)
            if relation is None:
                relation = Relation(subject_id=subject.id, kind=incoming_relation.kind,
                                    started=incoming_relation.started, ended=incoming_relation.ended,
                                    last_contact=incoming_relation.last_contact)
                session.add(relation)
                relations[key] = relation
                report.relations_created += 1
            elif _update(relation, ended=incoming_relation.ended, last_contact=incoming_relation.last_contact):
                report.relations_updated += 1
            pending_items.append((relation, incoming_relation))
        for incoming_consent in incoming.consents:
            key_c = (subject.id, incoming_consent.purpose, incoming_consent.given)
            consent = consents.get(key_c)
            if consent is None:
                consent = Consent(subject_id=subject.id, purpose=incoming_consent.purpose,
                                  given=incoming_consent.given, withdrawn=incoming_consent.withdrawn)
                session.add(consent)
                consents[key_c] = consent
                report.consents_created += 1
            elif consent.withdrawn is None and incoming_consent.withdrawn is not None:
                # Only ever record a withdrawal; a file cannot switch a withdrawn consent back on.
                consent.withdrawn = incoming_consent.withdrawn
                report.consents_updated += 1
    session.flush()

    relation_ids = [relation.id for relation, _ in pending_items]
    known: set[tuple[int, str]] = set()
    for start in range(0, len(relation_ids), _CHUNK):
        ids = relation_ids[start:start + _CHUNK]
        known.update(
            (relation_id, fingerprint) for relation_id, fingerprint in session.execute(
                select(DataItem.relation_id, DataItem.fingerprint).where(DataItem.relation_id.in_(ids)))
        )
    rows = []
    for relation, incoming_relation in pending_items:
        for item in incoming_relation.items:
            fingerprint = item.fingerprint
            if (relation.id, fingerprint) in known:
                continue
            known.add((relation.id, fingerprint))
            rows.append({"relation_id": relation.id, "category": item.category, "field": item.field,
                         "value": item.value, "source": item.source, "recorded": item.recorded,
                         "fingerprint": fingerprint})
    if rows:
        session.execute(insert(DataItem), rows)
        report.items_created += len(rows)


