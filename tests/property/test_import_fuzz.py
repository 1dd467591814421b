"""The import (`portal-subjects/1`) under fuzzing: random bytes, random JSON, good files with bad parts.

What must hold for any input: `read_document` and `import_subjects` either import or raise `ImportRejected`
whose every problem names a place in the file that exists (`file` for the file as a whole), never any
other exception; a rejected file leaves every table as it was; and a file imported twice changes nothing
the second time.

NUL and lone surrogates stay out of the generated strings (see strategies.py): what the import does with
them, and with the other inputs that once escaped as something else than `ImportRejected` (deep nesting,
a 5,000-digit number, control characters in addresses), is pinned down by the tests at the end.
"""

from __future__ import annotations

import copy
import datetime as dt
import json
import re
from collections.abc import Callable
from typing import Any

import pytest
from flask import Flask
from hypothesis import assume, currently_in_test_context, event, given
from hypothesis import strategies as st

from portal.services.subjects import FORMAT, ImportRejected, ImportReport, import_subjects, read_document
from tests.support.database import changed_tables, snapshot
from tests.support.strategies import ANY_CHARACTER, CONTROLS, mixed_script, oversized, with_controls

TODAY = dt.date(2026, 11, 25)
DATES = st.dates(min_value=dt.date(1900, 1, 1), max_value=TODAY)
PATH = re.compile(r"(?:^|\.)([A-Za-z_]\w*)|\[(\d+)\]")


# --- running the import ------------------------------------------------------------------------------------


def run_import(app: Flask, document: Any) -> ImportReport:
    with app.extensions["portal.db"].session() as session:
        return import_subjects(document, session=session, register=app.extensions["portal.register"], today=TODAY)


def place_exists(document: Any, path: str) -> bool:
    """Whether a problem's path (`subjects[3].relations[0].kind`, or `file`) points into the document."""
    if path == "file":
        return True
    node, end = document, 0
    for match in PATH.finditer(path):
        if match.start() != end:
            return False
        end = match.end()
        key, index = match.group(1), match.group(2)
        if key is not None:
            if not isinstance(node, dict) or key not in node:
                return False
            node = node[key]
        else:
            if not isinstance(node, list) or int(index) >= len(node):
                return False
            node = node[int(index)]
    return end == len(path) and end > 0


def strings_of(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [s for k, v in value.items() for s in (*strings_of(k), *strings_of(v))]
    if isinstance(value, list):
        return [s for v in value for s in strings_of(v)]
    return []


def unstorable(document: Any) -> bool:
    """NUL or a lone surrogate somewhere in the document: left to the dedicated tests at the end."""
    return any("\x00" in s or re.search("[\ud800-\udfff]", s) for s in strings_of(document))


def note(outcome: str) -> None:
    """Count outcomes for `--hypothesis-show-statistics` (outside an example, there is nothing to count)."""
    if currently_in_test_context():
        event(outcome)


def imports_or_is_rejected(app: Flask, document: Any) -> ImportReport | None:
    """Import `document`; a refusal must name real places in it and leave every table untouched."""
    before = snapshot(app)
    try:
        report = run_import(app, document)
    except ImportRejected as rejected:
        note("rejected")
        assert rejected.problems, "a rejection without any problem"
        for problem in rejected.problems:
            assert problem.message, problem
            assert place_exists(document, problem.path), f"{problem.path!r} is not a place in the file"
        after = snapshot(app)
        assert after == before, f"a rejected file changed {changed_tables(before, after)}"
        return None
    note("imported")
    return report


def read_and_import(app: Flask, raw: bytes | str) -> None:
    before = snapshot(app)
    try:
        document = read_document(raw)
    except ImportRejected as rejected:
        note("not read")
        assert [p.path for p in rejected.problems] == ["file"] and rejected.problems[0].message
        assert snapshot(app) == before
        return
    assume(not unstorable(document))
    imports_or_is_rejected(app, document)


# --- good files --------------------------------------------------------------------------------------------

TEXT = st.one_of(mixed_script(1, 40), with_controls(1, 30), st.text(alphabet=ANY_CHARACTER, min_size=1, max_size=40))
NOT_BLANK = TEXT.filter(lambda text: text.strip())


def later_than(start: dt.date) -> st.SearchStrategy[dt.date | None]:
    return st.one_of(st.none(), st.dates(min_value=start, max_value=TODAY))


@st.composite
def good_documents(draw: st.DrawFn, register: Any, min_subjects: int = 0) -> dict[str, Any]:
    """A file the import must take: every value valid for the schema and the register, in any script."""
    consent_purposes = [(p.id, p.relation) for p in register.consent_purposes()]
    subjects = []
    for index in range(draw(st.integers(min_value=min_subjects, max_value=4))):
        local = draw(st.sampled_from(["an", "Bram", "CHLOE.x", "d_e+f", "пётр", "李", "ali.علي"]))
        domain = draw(st.sampled_from(["example.com", "Example.ORG", "voorbeeld.be", "пример.рф"]))
        around = draw(st.sampled_from(["", " ", "\t"]))
        subject: dict[str, Any] = {"email": f"{around}{local}{index}@{domain}{around}"}
        if draw(st.booleans()):
            subject["name"] = draw(st.one_of(st.none(), TEXT.map(lambda t: t[:200])))
        if draw(st.booleans()):
            subject["language"] = draw(st.sampled_from(["nl", "en"]))
        relations = draw(st.lists(st.tuples(st.sampled_from(sorted(register.relations)), DATES), max_size=3,
                                  unique_by=lambda pair: pair))
        subject["relations"] = []
        for kind, started in relations:
            relation: dict[str, Any] = {"kind": kind, "started": started.isoformat()}
            for optional in ("ended", "last_contact"):
                if draw(st.booleans()):
                    day = draw(later_than(started))
                    relation[optional] = day.isoformat() if day else None
            relation["data"] = [
                {"category": draw(st.sampled_from(register.relations[kind].category_ids)),
                 "field": draw(NOT_BLANK.map(lambda t: t[:100]).filter(lambda t: t.strip())),
                 "value": draw(st.one_of(NOT_BLANK, oversized(2000).filter(lambda t: t.strip()))),
                 "source": draw(st.sampled_from(sorted(register.sources))),
                 "recorded": draw(DATES).isoformat()}
                for _ in range(draw(st.integers(min_value=0, max_value=3)))
            ]
            subject["relations"].append(relation)
        kinds = {kind for kind, _started in relations}
        possible = [purpose for purpose, relation in consent_purposes if relation in kinds]
        if possible:
            subject["consents"] = []
            for purpose in draw(st.lists(st.sampled_from(possible), max_size=3)):
                given_on = draw(DATES)
                withdrawn = draw(later_than(given_on))
                subject["consents"].append({"purpose": purpose, "given": given_on.isoformat(),
                                            "withdrawn": withdrawn.isoformat() if withdrawn else None})
        subjects.append(subject)
    return {"format": FORMAT, "subjects": subjects}


@pytest.fixture(scope="module")
def register(portal: Flask) -> Any:
    return portal.extensions["portal.register"]


@given(data=st.data())
def test_a_good_file_imports_and_importing_it_again_changes_nothing(portal, register, data):
    document = data.draw(good_documents(register), label="document")
    first = run_import(portal, document)
    assert first.subjects_in_file == len(document["subjects"])
    after_first = snapshot(portal)
    second = run_import(portal, copy.deepcopy(document))
    assert not second.changed_anything, second
    assert snapshot(portal) == after_first


# --- good files with bad parts -----------------------------------------------------------------------------

JSON_LEAF = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False), st.text(max_size=20))
JSON_VALUE = st.recursive(JSON_LEAF, lambda inner: st.one_of(st.lists(inner, max_size=4),
                                                              st.dictionaries(st.text(max_size=10), inner, max_size=4)),
                          max_leaves=12)
BAD_DATES = st.sampled_from(["0000-01-01", "2026-02-30", "2025-13-01", "2025-00-10", "9999-12-31", "2026-11-26",
                             "1-1-1", "2025-1-01", "20250101", "2025-01-01T00:00:00", " 2025-01-01", "٢٠٢٥-٠١-٠١",
                             "2025‐01‐01", ""])


def _dicts(value: Any) -> list[dict[str, Any]]:
    return [v for v in value if isinstance(v, dict)] if isinstance(value, list) else []


def subjects_of(document: Any) -> list[dict[str, Any]]:
    return _dicts(document.get("subjects")) if isinstance(document, dict) else []


def relations_of(subject: dict[str, Any]) -> list[dict[str, Any]]:
    return _dicts(subject.get("relations"))


def items_of(subject: dict[str, Any]) -> list[dict[str, Any]]:
    return [item for relation in relations_of(subject) for item in _dicts(relation.get("data"))]


def consents_of(subject: dict[str, Any]) -> list[dict[str, Any]]:
    return _dicts(subject.get("consents"))


def places(document: dict[str, Any]) -> list[tuple[Any, str]]:
    """Every (object, key) in the file where a value can be replaced or removed."""
    found: list[tuple[Any, str]] = [(document, key) for key in document]
    for subject in subjects_of(document):
        found += [(subject, key) for key in subject]
        for part in (*relations_of(subject), *items_of(subject), *consents_of(subject)):
            found += [(part, key) for key in part]
    return found


Mutation = Callable[[st.DrawFn, dict[str, Any]], None]


def replace_a_value(draw: st.DrawFn, document: dict[str, Any]) -> None:
    container, key = draw(st.sampled_from(places(document)))
    container[key] = draw(st.one_of(JSON_VALUE, TEXT, oversized(300), st.sampled_from([[], {}, 0, -1, True, None])))


def drop_a_value(draw: st.DrawFn, document: dict[str, Any]) -> None:
    container, key = draw(st.sampled_from(places(document)))
    del container[key]


def add_an_unknown_key(draw: st.DrawFn, document: dict[str, Any]) -> None:
    container, _key = draw(st.sampled_from(places(document)))
    container[draw(TEXT)] = draw(JSON_LEAF)


def pick(draw: st.DrawFn, targets: list[tuple[Any, str]]) -> tuple[Any, str]:
    assume(targets)
    return draw(st.sampled_from(targets))


def oversize_a_string(draw: st.DrawFn, document: dict[str, Any]) -> None:
    limits = {"email": 254, "name": 200, "field": 100, "value": 100_000}
    targets = [(s, k) for s in subjects_of(document) for k in ("email", "name")]
    targets += [(i, k) for s in subjects_of(document) for i in items_of(s) for k in ("field", "value")]
    container, key = pick(draw, targets)
    container[key] = draw(oversized(limits[key], alphabet=st.sampled_from("abcé李🙂")))


def unknown_register_value(draw: st.DrawFn, document: dict[str, Any]) -> None:
    targets = [(r, "kind") for s in subjects_of(document) for r in relations_of(s)]
    targets += [(i, k) for s in subjects_of(document) for i in items_of(s) for k in ("category", "source")]
    targets += [(c, "purpose") for s in subjects_of(document) for c in consents_of(s)]
    container, key = pick(draw, targets)
    container[key] = draw(st.one_of(TEXT, st.sampled_from(["employee", "Customer", "customer ", "visitor.9", "rumour",
                                                           "contact\x1f", "ⅽustomer"])))


def bad_date(draw: st.DrawFn, document: dict[str, Any]) -> None:
    targets = [(r, k) for s in subjects_of(document) for r in relations_of(s) for k in ("started", "ended",
                                                                                        "last_contact")]
    targets += [(i, "recorded") for s in subjects_of(document) for i in items_of(s)]
    targets += [(c, k) for s in subjects_of(document) for c in consents_of(s) for k in ("given", "withdrawn")]
    container, key = pick(draw, targets)
    container[key] = draw(BAD_DATES)


def control_characters(draw: st.DrawFn, document: dict[str, Any]) -> None:
    container, key = pick(draw, [(c, k) for c, k in places(document) if isinstance(c[k], str)])
    at = draw(st.integers(min_value=0, max_value=len(container[key])))
    container[key] = container[key][:at] + draw(st.sampled_from(CONTROLS)) + container[key][at:]


def duplicate_a_person(draw: st.DrawFn, document: dict[str, Any]) -> None:
    people = subjects_of(document)
    assume(people and isinstance(document["subjects"], list))
    twin = copy.deepcopy(draw(st.sampled_from(people)))
    if isinstance(twin.get("email"), str):
        twin["email"] = draw(st.sampled_from([str.upper, str.lower, lambda e: f" {e} ", lambda e: e]))(twin["email"])
    document["subjects"].insert(draw(st.integers(min_value=0, max_value=len(document["subjects"]))), twin)


def duplicate_a_relation(draw: st.DrawFn, document: dict[str, Any]) -> None:
    subject = draw(st.sampled_from(subjects_of(document) or [{}]))
    assume(relations_of(subject) and isinstance(subject["relations"], list))
    subject["relations"].append(copy.deepcopy(draw(st.sampled_from(relations_of(subject)))))


def date_of(value: Any) -> dt.date | None:
    try:
        return dt.date.fromisoformat(value) if isinstance(value, str) else None
    except ValueError:
        return None


def dates_out_of_order(draw: st.DrawFn, document: dict[str, Any]) -> None:
    targets = [(r, k, date_of(r.get("started"))) for s in subjects_of(document) for r in relations_of(s)
               for k in ("ended", "last_contact")]
    targets += [(c, "withdrawn", date_of(c.get("given"))) for s in subjects_of(document) for c in consents_of(s)]
    targets = [(c, k, d) for c, k, d in targets if d is not None and d > dt.date(1900, 1, 1)]
    assume(targets)
    container, key, start = draw(st.sampled_from(targets))
    container[key] = (start - dt.timedelta(days=draw(st.integers(min_value=1, max_value=400)))).isoformat()


# Changes of meaning first, changes of shape last: a shape change may leave nothing for the others to change.
MUTATIONS: list[Mutation] = [oversize_a_string, unknown_register_value, bad_date, control_characters,
                             duplicate_a_person, duplicate_a_relation, dates_out_of_order, replace_a_value,
                             drop_a_value, add_an_unknown_key]


@given(data=st.data())
def test_a_good_file_with_bad_parts_imports_or_is_refused_with_the_places_and_changes_nothing(portal, register, data):
    document = data.draw(good_documents(register, min_subjects=1), label="good document")
    chosen = data.draw(st.lists(st.sampled_from(MUTATIONS), min_size=1, max_size=3), label="mutations")
    for mutation in sorted(chosen, key=MUTATIONS.index):
        mutation(data.draw, document)
    assume(not unstorable(document))
    imports_or_is_rejected(portal, document)


# --- anything at all ---------------------------------------------------------------------------------------

ALMOST_A_FILE = st.fixed_dictionaries(
    {"format": st.one_of(st.just(FORMAT), JSON_LEAF)},
    optional={"subjects": st.one_of(JSON_VALUE, st.lists(st.dictionaries(
        st.sampled_from(["email", "name", "language", "relations", "consents", "other"]), JSON_VALUE), max_size=3))},
)


@given(document=st.one_of(JSON_VALUE, ALMOST_A_FILE))
def test_any_json_value_imports_or_is_refused_with_the_places(portal, document):
    assume(not unstorable(document))
    read_and_import(portal, json.dumps(document))


@given(raw=st.one_of(st.binary(max_size=400), st.text(alphabet=ANY_CHARACTER, max_size=200)))
def test_any_bytes_are_read_or_refused_as_a_whole(portal, raw):
    read_and_import(portal, raw)


@given(data=st.data())
def test_a_damaged_file_is_read_or_refused_as_a_whole(portal, register, data):
    """A good file's bytes with a few bytes flipped, dropped or inserted: a broken copy, a bad transfer."""
    raw = bytearray(json.dumps(data.draw(good_documents(register, min_subjects=1), label="document"),
                               ensure_ascii=data.draw(st.booleans(), label="ascii")).encode("utf-8"))
    for _ in range(data.draw(st.integers(min_value=1, max_value=4), label="damages")):
        at = data.draw(st.integers(min_value=0, max_value=len(raw) - 1), label="at")
        how = data.draw(st.sampled_from(["flip", "drop", "insert"]), label="how")
        if how == "flip":
            raw[at] = data.draw(st.integers(min_value=0, max_value=255), label="byte")
        elif how == "drop":
            del raw[at]
        else:
            raw[at:at] = data.draw(st.binary(min_size=1, max_size=4), label="bytes")
    read_and_import(portal, bytes(raw))


# --- what escapes as something else than ImportRejected: the bugs found ------------------------------------


def good_file() -> dict[str, Any]:
    return {"format": FORMAT, "subjects": [{
        "email": "nul.test@example.com", "name": "Nul Test", "relations": [{
            "kind": "customer", "started": "2020-01-01", "data": [
                {"category": "contact", "field": "phone", "value": "+32 9 000 00 00", "source": "provided",
                 "recorded": "2020-01-01"}]}]}]}


def put(document: dict[str, Any], where: str, text: str) -> dict[str, Any]:
    subject = document["subjects"][0]
    if where == "email":
        subject["email"] = f"nul{text}test@example.com"
    elif where == "name":
        subject["name"] = f"Nul{text}Test"
    else:
        subject["relations"][0]["data"][0][where] = f"x{text}y"
    return document


EXPECTED_PATHS = {"email": "subjects[0].email", "name": "subjects[0].name", "field": "subjects[0].relations[0].data[0]"
                  ".field", "value": "subjects[0].relations[0].data[0].value"}


@pytest.mark.parametrize("where", ["email", "name", "field", "value"])
def test_nul_in_a_string_is_imported_or_refused_with_its_place(portal, where):
    document = put(good_file(), where, "\x00")
    imports_or_is_rejected(portal, document)


@pytest.mark.parametrize("where", ["email", "name", "field", "value"])
def test_a_lone_surrogate_is_refused_with_its_place(portal, where):
    raw = json.dumps(put(good_file(), where, "\ud800"))  # ensure_ascii: written as the escape \ud800
    with pytest.raises(ImportRejected) as rejected:
        run_import(portal, read_document(raw))
    assert EXPECTED_PATHS[where] in [p.path for p in rejected.value.problems]


@pytest.mark.parametrize("raw", [b"[" * 100_000 + b"]" * 100_000, b'{"format": ' + b"1" * 5000 + b"}"],
                         ids=["deeply-nested", "5000-digit-number"])
def test_a_file_json_cannot_parse_is_refused_as_a_whole(raw):
    with pytest.raises(ImportRejected) as rejected:
        read_document(raw)
    assert rejected.value.problems[0].path == "file"


@pytest.mark.parametrize("control", ["\x01", "\x7f", "\u202e", "\u200b"], ids=lambda c: f"U+{ord(c):04X}")
def test_an_address_with_a_control_character_is_refused_with_its_place(portal, control):
    with pytest.raises(ImportRejected) as rejected:
        run_import(portal, put(good_file(), "email", control))
    assert "subjects[0].email" in [p.path for p in rejected.value.problems]
