"""Importing people, their relations, data items and consents (format `portal-subjects/1`).

The import is all or nothing: every record is checked first, against the JSON Schema for its shape
and against the policy register for its meaning, and every problem is reported with its place in the
file. Only a file without any problem is written, in one transaction. Importing the same file again
changes nothing: records are matched on natural keys (address; relation kind and start; the item's
fingerprint; consent purpose and date). An import adds and updates, never deletes: a value left out of a
later file keeps what is stored, and a withdrawn consent is never switched back on.

Each data item and consent comes from one of the company's systems (the register's `[system.*]`): the
file names it, or the register does when only one system holds that data. An import never brings back
what a person had erased or stopped: the `Suppression` records, found by a keyed hash of the address,
make it skip those items, relations, consents and people, and the report says how many and why.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import re
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import fastjsonschema
from jsonschema import Draft202012Validator
from sqlalchemy import insert, select
from sqlalchemy.orm import Session

from portal.models import Consent, DataItem, Relation, Subject, Suppression
from portal.policy.register import Register
from portal.services import audit
from portal.services.context import Context
from portal.services.email_address import InvalidEmail, normalise_email

FORMAT = "portal-subjects/1"
SCHEMA_PATH = Path(__file__).resolve().parent.parent / "schemas" / "portal-subjects-1.schema.json"
_CHUNK = 500  # rows per IN (...) lookup: well under SQLite's and PostgreSQL's parameter limits

Progress = Callable[[int], None]
UNKEYED = b"portal"  # a Context's own default key: what tests and benchmarks without an app use

# Why a suppressed record is not imported, after "erased on <date>" etc. (the Suppression's reason).
SKIP_WORDS = {
    "erasure": "erased on {on} at the person's request",
    "retention": "erased on {on} at the end of their retention period",
    "consent_withdrawn": "withdrawn on {on}",
    "marketing_objection": "objected to on {on}",
}
_RECORDS = {"people": ("person", "people"), "relations": ("relation", "relations"),
            "items": ("data item", "data items"), "consents": ("consent", "consents")}
_MONTHS = ("January", "February", "March", "April", "May", "June", "July", "August", "September", "October",
           "November", "December")


def date_in_words(day: dt.date) -> str:
    """"2 December 2026": the date as the report says it."""
    return f"{day.day} {_MONTHS[day.month - 1]} {day.year}"


def skip_reason(reason: str, on: dt.date) -> str:
    """Why a record was not imported, in words: "erased on 2 December 2026 at the person's request"."""
    return SKIP_WORDS.get(reason, reason + " on {on}").format(on=date_in_words(on))


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
    # (record kind: people, relations, items or consents; suppression reason; its day) -> how many not imported
    skipped: Counter[tuple[str, str, dt.date]] = field(default_factory=Counter)

    @property
    def changed_anything(self) -> bool:
        return any((self.subjects_created, self.subjects_updated, self.relations_created,
                    self.relations_updated, self.items_created, self.consents_created, self.consents_updated))

    def not_imported(self) -> list[str]:
        """One line per kind of record, reason and day: "12 data items not imported: erased on 2 December ..."."""
        lines = []
        for (records, reason, on), count in sorted(self.skipped.items(), key=_skip_order):
            one, many = _RECORDS[records]
            lines.append(f"{count} {one if count == 1 else many} not imported: {skip_reason(reason, on)}")
        return lines

    def as_json(self) -> dict[str, Any]:
        """The report as the API answers it."""
        return {
            "in_file": {"people": self.subjects_in_file, "data_items": self.items_in_file},
            "people": {"added": self.subjects_created, "updated": self.subjects_updated},
            "relations": {"added": self.relations_created, "updated": self.relations_updated},
            "data_items": {"added": self.items_created},
            "consents": {"added": self.consents_created, "withdrawals_recorded": self.consents_updated},
            "not_imported": [
                {"records": "data_items" if records == "items" else records, "count": count, "reason": reason,
                 "on": on.isoformat(), "message": line}
                for ((records, reason, on), count), line in zip(
                    sorted(self.skipped.items(), key=_skip_order), self.not_imported(), strict=True)
            ],
            "changed_anything": self.changed_anything,
        }


def _skip_order(entry: tuple[tuple[str, str, dt.date], int]) -> tuple[int, dt.date, str]:
    (records, reason, on), _count = entry
    return (list(_RECORDS).index(records), on, reason)


@dataclass
class _Item:
    category: str
    field: str
    value: str
    source: str
    recorded: dt.date
    system: str | None = None

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
    index: int = 0  # its place in the person's relations in the file


@dataclass(frozen=True)
class _Stop:
    """What a suppression says to the import: since which day, and why."""

    on: dt.date
    reason: str


@dataclass
class _Stops:
    """A person's suppressions: erased (relation, category) pairs and stopped consent purposes, the latest of each."""

    erased: dict[tuple[str, str], _Stop] = field(default_factory=dict)
    stopped: dict[str, _Stop] = field(default_factory=dict)

    def erased_since(self, kind: str, started: dt.date) -> _Stop | None:
        """The latest erasure of any data of a relation of `kind` that started on or before its day."""
        stops = [stop for (relation, _), stop in self.erased.items() if relation == kind and started <= stop.on]
        return max(stops, key=lambda stop: stop.on) if stops else None


@dataclass
class _Consent:
    purpose: str
    given: dt.date
    withdrawn: dt.date | None
    system: str | None = None
    index: int = 0
    relation: str | None = None  # the kind of relation its purpose belongs to


@dataclass
class _Subject:
    email: str
    name: str | None  # None: not in the file, keep what is stored
    language: str | None
    relations: list[_Relation]
    consents: list[_Consent]
    index: int = 0


def item_fingerprint(category: str, field_name: str, value: str, source: str, recorded: dt.date) -> str:
    """The identity of a data item under its relation, used to recognise it on a re-import."""
    joined = "\x1f".join((category, field_name, value, source, recorded.isoformat()))
    return hashlib.sha256(joined.encode("utf-8")).hexdigest()


@cache
def _schema_validator() -> Draft202012Validator:
    return Draft202012Validator(json.loads(SCHEMA_PATH.read_text(encoding="utf-8")))


@cache
def _schema_check() -> Callable[[Any], Any]:
    """The same schema file compiled to Python by fastjsonschema: it only tells whether a document fits.

    Checking 1,000,000 data items takes it 3 s of CPU where `jsonschema` takes over 60 s. It refuses
    some documents `jsonschema` accepts (its `$` matches only at the very end, not before a final
    newline), so a refusal is never reported as such: `jsonschema` then lists the problems, exactly as
    before. Every keyword the schema uses has the same meaning in both for JSON input (arrays in a
    Python document may also be tuples here; a parsed file holds only lists).
    """
    check: Callable[[Any], Any] = fastjsonschema.compile(
        json.loads(SCHEMA_PATH.read_text(encoding="utf-8")), use_default=False)
    return check


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


_SURROGATE = re.compile("[\ud800-\udfff]")


def _holds_unstorable_text(document: Any) -> bool:
    """Whether `_unstorable_text` would find anything, without building a path for every value.

    A loop over a stack instead of a recursion that names each place, and one look at all keys and
    values of an object that holds only text (a data item): 0.9 s of CPU instead of 3.3 s for a file of
    1,000,000 data items. The places are only worked out when there is something to report.
    """
    stack = [document]
    while stack:
        value = stack.pop()
        if isinstance(value, dict):
            try:
                value = "".join(value) + "".join(value.values())
            except TypeError:  # not only text: look at each value
                stack.extend(value)
                stack.extend(value.values())
                continue
        if isinstance(value, str):
            if "\x00" in value or (not value.isascii() and _SURROGATE.search(value)):
                return True
        elif isinstance(value, list):
            stack.extend(value)
    return False


def _unstorable_text(value: Any, path: str) -> Iterator[ImportProblem]:
    """Strings a database cannot store: NUL (PostgreSQL refuses it) and unpaired surrogates (not UTF-8)."""
    if isinstance(value, str):
        if "\x00" in value:
            yield ImportProblem(path or "file", "contains a NUL character, which cannot be stored")
        elif _SURROGATE.search(value):  # the same test as _holds_unstorable_text, one scan in C
            yield ImportProblem(path or "file", "contains an unpaired surrogate, which is not valid text")
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from _unstorable_text(key, path)
            yield from _unstorable_text(item, f"{path}.{key}" if path else str(key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _unstorable_text(item, f"{path}[{index}]")


def validate_document(document: Any, *, register: Register, today: dt.date,
                      system: str | None = None) -> list[_Subject]:
    """Check a parsed file completely; return its people, or `ImportRejected` with every problem.

    `system`: the system that pushes the file (the API); everything in it must be data the register
    attributes to that system, and a `system` field may only name it.
    """
    if _holds_unstorable_text(document):
        raise ImportRejected(list(_unstorable_text(document, "")))
    problems: list[ImportProblem] = []
    try:
        _schema_check()(document)
    except fastjsonschema.JsonSchemaException:
        problems = [
            ImportProblem(_path(error.absolute_path), error.message)
            for error in sorted(_schema_validator().iter_errors(document), key=lambda e: list(map(str, e.path)))
        ]
        if problems:
            raise ImportRejected(problems) from None
    attribution = _Attribution(register, system)
    subjects = list(_checked_subjects(document["subjects"], register, today, problems, attribution))
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


class _Attribution:
    """Which system a data item or consent comes from: the one the file names, or the only one that holds it.

    Looked up in dictionaries made once per import: per item it is one `get`, not a walk over the systems.
    """

    def __init__(self, register: Register, pushed_by: str | None) -> None:
        self.pushed_by = pushed_by
        self.systems = tuple(register.systems)
        self.holding: dict[str, dict[str, tuple[str, ...]]] = {
            relation.id: {category: tuple(s.id for s in register.systems_holding(relation.id, category))
                          for category in relation.category_ids}
            for relation in register.relations.values()
        }
        self.keeping = {purpose.id: tuple(s.id for s in register.systems_keeping_consent(purpose.id))
                        for purpose in register.consent_purposes()}

    def relation_refused(self, kind: str) -> str | None:
        """Why a pushing system may not send a relation of this kind at all (it holds none of its data)."""
        if self.pushed_by is None or kind not in self.holding:
            return None
        if any(self.pushed_by in holders for holders in self.holding[kind].values()):
            return None
        holders = [s for s in self.systems if any(s in held for held in self.holding[kind].values())]
        return (f"{self.pushed_by} holds no data of {kind} relations (the register attributes them to "
                f"{', '.join(holders) or 'no system'})")

    def choose(self, named: object, holders: tuple[str, ...], what: str, where: str, what_where: str,
               problems: list[ImportProblem]) -> str | None:
        """The system of one record; a problem when there is none: at `where`, its `system` field, when the
        file names one, or else at `what_where`, the category or purpose that no system (or the pusher) holds."""
        if not self.systems:
            if named is not None:  # an archived register from before the systems were described
                problems.append(ImportProblem(where, f"{named!r} is not a system of the register (it names none)"))
            return None
        if self.pushed_by is not None:
            if named is not None and named != self.pushed_by:
                problems.append(ImportProblem(where, f"names {named!r}, but this file is pushed by "
                                                     f"{self.pushed_by!r}: a system sends only its own data"))
                return None
            if named is None:
                where, named = what_where, self.pushed_by
        if named is None:  # the file leaves it to the register, which must name exactly one
            if len(holders) == 1:
                return holders[0]
            problems.append(ImportProblem(where, f"is needed: {what} are held by several systems "
                                                 f"({', '.join(holders)}); say which one it comes from"
                                          if holders else f"no system of the register holds {what}"))
            return None
        if named not in self.systems:
            problems.append(ImportProblem(where, f"{named!r} is not a system of the register "
                                                 f"({', '.join(self.systems)})"))
            return None
        if named not in holders:
            problems.append(ImportProblem(where, f"{named} does not hold {what}: the register attributes them to "
                                                 f"{', '.join(holders) or 'no system'}"))
            return None
        return str(named)


def _checked_subjects(  # noqa: C901 - one pass over the file keeps every check next to its path
    raw_subjects: list[Mapping[str, Any]], register: Register, today: dt.date, problems: list[ImportProblem],
    attribution: _Attribution,
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
            # Once per relation, not per item: the register builds this tuple on every call.
            category_ids = relation_definition.category_ids if relation_definition else ()
            holding = attribution.holding.get(kind, {})
            if relation_definition is None:
                problems.append(ImportProblem(
                    f"{r_where}.kind", f"{kind!r} is not a relation of the register "
                                       f"({', '.join(register.relations)})"))
            elif (refused := attribution.relation_refused(kind)) is not None:
                problems.append(ImportProblem(f"{r_where}.kind", refused))
                holding = {}  # one problem for the relation, not one for each of its items
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
                if relation_definition is not None and category not in category_ids:
                    problems.append(ImportProblem(
                        f"{d_where}.category", f"{category!r} is not a data category of relation {kind!r} "
                                               f"({', '.join(category_ids)})"))
                if raw_item["source"] not in register.sources:
                    problems.append(ImportProblem(
                        f"{d_where}.source", f"{raw_item['source']!r} is not a source of the register "
                                             f"({', '.join(register.sources)})"))
                if not raw_item["field"].strip() or not raw_item["value"].strip():
                    problems.append(ImportProblem(d_where, "field and value must not be blank"))
                recorded = _date(raw_item["recorded"], f"{d_where}.recorded", problems, today)
                holders = holding.get(category)
                system = None
                if holders is not None:
                    named = raw_item.get("system")
                    # The common case in one test: the file names nobody and one system holds it.
                    if named is None and attribution.pushed_by is None and len(holders) == 1:
                        system = holders[0]
                    else:
                        system = attribution.choose(named, holders, f"{category} data of {kind} relations",
                                                    f"{d_where}.system", f"{d_where}.category", problems)
                if recorded is not None:
                    items.append(_Item(category, raw_item["field"].strip(), raw_item["value"],
                                       raw_item["source"], recorded, system))
            if started is not None:
                relations.append(_Relation(kind, started, ended, last_contact, items, r_index))

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
            system = None
            if purpose is not None:
                system = attribution.choose(raw_consent.get("system"), attribution.keeping.get(purpose.id, ()),
                                            f"consents to {purpose.id}", f"{c_where}.system", f"{c_where}.purpose",
                                            problems)
            given = _date(raw_consent["given"], f"{c_where}.given", problems, today)
            withdrawn = _date(raw_consent.get("withdrawn"), f"{c_where}.withdrawn", problems, today)
            if given and withdrawn and withdrawn < given:
                problems.append(ImportProblem(f"{c_where}.withdrawn", "lies before the consent was given"))
            if given is not None:
                consents.append(_Consent(raw_consent["purpose"], given, withdrawn, system, c_index,
                                         purpose.relation if purpose is not None else None))

        name = raw.get("name")
        yield _Subject(email=email, name=name.strip() if name else None, language=raw.get("language"),
                       relations=relations, consents=consents, index=s_index)


def import_subjects(
    document: Any, *, session: Session, register: Register, today: dt.date, progress: Progress | None = None,
    secret: bytes = UNKEYED, system: str | None = None, strict: bool = False,
) -> ImportReport:
    """Validate and write a `portal-subjects/1` document in one transaction; return what changed.

    Raises `ImportRejected` (and writes nothing) when any record is bad. The caller owns the session;
    this function commits on success and rolls back on any failure.

    `secret` keys the hashes of the addresses by which suppressions are found: the app's secret key, as
    `state.context()` gives it. What a person had erased or stopped is skipped and counted in the report;
    with `strict`, such a file is refused instead. `system`: the system pushing the file (see
    `validate_document`).
    """
    subjects = validate_document(document, register=register, today=today, system=system)
    report = ImportReport(subjects_in_file=len(subjects),
                          items_in_file=sum(len(r.items) for s in subjects for r in s.relations))
    # The one rule for the keyed hash of an address is the Context's.
    key = Context(actor=audit.SYSTEM, register=register, now=dt.datetime.combine(today, dt.time()), today=today,
                  secret=secret).subject_key
    refusals: list[ImportProblem] | None = [] if strict else None
    try:
        for start in range(0, len(subjects), _CHUNK):
            chunk = subjects[start:start + _CHUNK]
            _write_chunk(chunk, session, report, _stops_of(session, chunk, key), refusals)
            if progress:
                progress(len(chunk))
        if refusals:
            raise ImportRejected(refusals)
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


def _stops_of(session: Session, chunk: list[_Subject], key: Callable[[str], str]) -> dict[str, _Stops]:
    """The suppressions of a chunk's people, by address: one query per chunk, not one per item or person."""
    emails = {key(incoming.email): incoming.email for incoming in chunk}
    stops: dict[str, _Stops] = {}
    rows = session.execute(
        select(Suppression.subject_key, Suppression.relation, Suppression.category, Suppression.purpose,
               Suppression.reason, Suppression.on)
        .where(Suppression.subject_key.in_(list(emails)), Suppression.lifted_at.is_(None)))
    for subject_key, relation, category, purpose, reason, on in rows:
        person = stops.setdefault(emails[subject_key], _Stops())
        stop = _Stop(on, reason)
        if category is not None and relation is not None:
            earlier = person.erased.get((relation, category))
            if earlier is None or earlier.on <= on:
                person.erased[(relation, category)] = stop
        elif purpose is not None and reason in ("consent_withdrawn", "marketing_objection"):
            earlier = person.stopped.get(purpose)
            if earlier is None or earlier.on <= on:
                person.stopped[purpose] = stop
    return stops


def _without_suppressed(  # noqa: C901 - each kind of record with its own rule, side by side
    incoming: _Subject, stops: _Stops, held: Callable[[_Relation], bool], is_stored: bool, report: ImportReport,
    refusals: list[ImportProblem] | None,
) -> _Subject | None:
    """The person as the file has them, less what they had erased or stopped; None when nothing is left of
    a person the portal no longer holds. Every record left out is counted in the report (or refused)."""
    where = f"subjects[{incoming.index}]"
    latest: _Stop | None = None

    def skip(records: str, stop: _Stop, count: int, path: str) -> None:
        nonlocal latest
        report.skipped[(records, stop.reason, stop.on)] += count
        if latest is None or latest.on < stop.on:
            latest = stop
        if refusals is not None and records != "people":
            one, many = _RECORDS[records]
            refusals.append(ImportProblem(path, f"{count} {one if count == 1 else many} "
                                                f"{skip_reason(stop.reason, stop.on)}: not imported again"))

    relations: list[_Relation] = []
    gone: dict[str, _Stop] = {}  # kinds of relation not brought back, and why
    for relation in incoming.relations:
        r_where = f"{where}.relations[{relation.index}]"
        items: list[_Item] = []
        skipped: Counter[_Stop] = Counter()
        for item in relation.items:
            stop = stops.erased.get((relation.kind, item.category))
            if stop is not None and relation.started <= stop.on:
                skipped[stop] += 1
            else:
                items.append(item)
        for stop, count in skipped.items():
            skip("items", stop, count, r_where)
        if not held(relation) and not items:
            # Nothing of it may come back (or it held nothing): the relation itself is not brought back.
            ended = max(skipped, key=lambda s: s.on) if skipped else stops.erased_since(relation.kind, relation.started)
            if ended is not None:
                skip("relations", ended, 1, r_where)
                if relation.kind not in gone or gone[relation.kind].on < ended.on:
                    gone[relation.kind] = ended
                continue
        relations.append(relation if not skipped else
                         _Relation(relation.kind, relation.started, relation.ended, relation.last_contact, items,
                                   relation.index))
    consents: list[_Consent] = []
    kept_kinds = {relation.kind for relation in relations}
    for consent in incoming.consents:
        stop = stops.stopped.get(consent.purpose)
        if (stop is None or consent.given > stop.on) and consent.relation not in kept_kinds:
            # Its relation was erased with the consents kept under it: they do not come back with the file.
            stop = gone.get(consent.relation or "")
        if stop is not None and consent.given <= stop.on:
            skip("consents", stop, 1, f"{where}.consents[{consent.index}]")
        else:
            consents.append(consent)
    if latest is not None and not relations:
        if not is_stored and not consents:
            skip("people", latest, 1, where)
            return None
        # Nothing of theirs comes back under a relation: nor does the name an erasure took away.
        return _Subject(incoming.email, None, None, relations, consents, incoming.index)
    return _Subject(incoming.email, incoming.name, incoming.language, relations, consents, incoming.index)


def _write_chunk(chunk: list[_Subject], session: Session, report: ImportReport, stops: dict[str, _Stops],
                 refusals: list[ImportProblem] | None) -> None:
    """Write one chunk of people. Rows already stored are updated through the ORM; new rows go in as
    multi-row INSERTs, past the ORM's unit of work, which cost more than all the rest of the writing:
    for 1,000,000 items (20,000 people) about 8 s of CPU instead of 20."""
    stored = {
        subject.email: subject
        for subject in session.scalars(select(Subject).where(Subject.email.in_([s.email for s in chunk])))
    }
    # Only people stored before this import can have stored relations and consents.
    stored_ids = [subject.id for subject in stored.values()]
    relations = {
        (relation.subject_id, relation.kind, relation.started): relation
        for relation in session.scalars(select(Relation).where(Relation.subject_id.in_(stored_ids)))
    } if stored_ids else {}
    consents = {
        (consent.subject_id, consent.purpose, consent.given): consent
        for consent in session.scalars(select(Consent).where(Consent.subject_id.in_(stored_ids)))
    } if stored_ids else {}
    if stops:
        kept: list[_Subject] = []
        for incoming in chunk:
            person_stops = stops.get(incoming.email)
            if person_stops is None:
                kept.append(incoming)
                continue
            subject = stored.get(incoming.email)
            sid = subject.id if subject is not None else None
            remaining = _without_suppressed(
                incoming, person_stops, lambda r, sid=sid: (sid, r.kind, r.started) in relations,  # type: ignore[misc]
                subject is not None, report, refusals)
            if remaining is not None:
                kept.append(remaining)
        chunk = kept

    subject_ids: dict[str, int] = {}
    new_subjects: list[dict[str, Any]] = []
    for incoming in chunk:
        subject = stored.get(incoming.email)
        if subject is None:
            new_subjects.append({"email": incoming.email, "name": incoming.name,
                                 "language": incoming.language or "nl"})
        else:
            subject_ids[incoming.email] = subject.id
            if _update(subject, name=incoming.name, language=incoming.language):
                report.subjects_updated += 1
    for row, subject_id in zip(new_subjects, _inserted_ids(session, Subject, new_subjects), strict=True):
        subject_ids[row["email"]] = subject_id
    report.subjects_created += len(new_subjects)
    stored_relations: list[tuple[int, _Relation]] = []
    new_relations: list[dict[str, Any]] = []
    new_relation_items: list[_Relation] = []
    new_consents: dict[tuple[int, str, dt.date], dict[str, Any]] = {}
    for incoming in chunk:
        subject_id = subject_ids[incoming.email]
        for incoming_relation in incoming.relations:
            relation = relations.get((subject_id, incoming_relation.kind, incoming_relation.started))
            if relation is None:  # (kind, started) is unique per person in a valid file
                new_relations.append({"subject_id": subject_id, "kind": incoming_relation.kind,
                                      "started": incoming_relation.started, "ended": incoming_relation.ended,
                                      "last_contact": incoming_relation.last_contact})
                new_relation_items.append(incoming_relation)
            else:
                if _update(relation, ended=incoming_relation.ended, last_contact=incoming_relation.last_contact):
                    report.relations_updated += 1
                stored_relations.append((relation.id, incoming_relation))
        for incoming_consent in incoming.consents:
            key = (subject_id, incoming_consent.purpose, incoming_consent.given)
            consent = consents.get(key)
            new_consent = new_consents.get(key)
            if consent is None and new_consent is None:
                new_consents[key] = {"subject_id": subject_id, "purpose": incoming_consent.purpose,
                                     "given": incoming_consent.given, "withdrawn": incoming_consent.withdrawn,
                                     "system": incoming_consent.system}
            elif incoming_consent.withdrawn is not None:
                # Only ever record a withdrawal; a file cannot switch a withdrawn consent back on.
                if consent is not None and consent.withdrawn is None:
                    consent.withdrawn = incoming_consent.withdrawn
                    report.consents_updated += 1
                elif new_consent is not None and new_consent["withdrawn"] is None:
                    new_consent["withdrawn"] = incoming_consent.withdrawn
                    report.consents_updated += 1
    relation_ids = _inserted_ids(session, Relation, new_relations)
    report.relations_created += len(new_relations)
    if new_consents:
        session.execute(insert(Consent).execution_options(render_nulls=True), list(new_consents.values()))
        report.consents_created += len(new_consents)
    session.flush()

    # Only relations stored before this import can hold items already.
    known: set[tuple[int, str]] = set()
    for start in range(0, len(stored_relations), _CHUNK):
        ids = [relation_id for relation_id, _ in stored_relations[start:start + _CHUNK]]
        known.update(
            (relation_id, fingerprint) for relation_id, fingerprint in session.execute(
                select(DataItem.relation_id, DataItem.fingerprint).where(DataItem.relation_id.in_(ids)))
        )
    with_items = [*stored_relations, *zip(relation_ids, new_relation_items, strict=True)]
    report.items_created += _insert_items(session, _new_item_rows(with_items, known))


def _new_item_rows(relations: list[tuple[int, _Relation]], known: set[tuple[int, str]]) -> Iterator[tuple[Any, ...]]:
    """Rows of the items not stored yet (nor earlier in the file), made while COPY sends the ones before:
    PostgreSQL stores rows while the next are fingerprinted (an import 8% faster than building them first)."""
    for relation_id, incoming_relation in relations:
        for item in incoming_relation.items:
            fingerprint = item.fingerprint
            if (relation_id, fingerprint) not in known:
                known.add((relation_id, fingerprint))
                yield (relation_id, item.category, item.field, item.value, item.source, item.recorded, fingerprint,
                       item.system)


def _inserted_ids(session: Session, model: type[Subject] | type[Relation], rows: list[dict[str, Any]]) -> list[int]:
    """INSERT `rows` and return their new ids, in the order of `rows`."""
    if not rows:
        return []
    # render_nulls: a None is sent as NULL instead of leaving its column out, so that rows with and without
    # an end date share one multi-row statement (without it: 547 statements for 1,361 relations).
    statement = insert(model).returning(model.id, sort_by_parameter_order=True).execution_options(render_nulls=True)
    return list(session.scalars(statement, rows))


_ITEM_COLUMNS = ("relation_id", "category", "field", "value", "source", "recorded", "fingerprint", "system")


def _insert_items(session: Session, rows: Iterator[tuple[Any, ...]]) -> int:
    """Write new data items in the session's transaction; how many.

    On PostgreSQL with COPY on the session's own connection: 200,000 items take 5 s instead of 13 s
    with an INSERT executemany, and a fifteenth of its CPU. SQLite has no COPY.
    """
    connection = session.connection()
    if connection.dialect.name != "postgresql":
        values = [dict(zip(_ITEM_COLUMNS, row, strict=True)) for row in rows]
        if values:
            session.execute(insert(DataItem), values)
        return len(values)
    driver = connection.connection.driver_connection  # psycopg's own, in the session's transaction
    assert driver is not None
    statement = f"COPY data_item ({', '.join(_ITEM_COLUMNS)}) FROM STDIN"
    written = 0
    with driver.cursor() as cursor, cursor.copy(statement) as copy:
        for row in rows:
            copy.write_row(row)
            written += 1
    return written
