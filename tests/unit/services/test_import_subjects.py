"""Importing people: good files land whole, bad files change nothing and say exactly what is wrong."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from jsonschema import Draft202012Validator
from sqlalchemy import func, select

from portal.models import Consent, DataItem, Relation, Subject
from portal.services.subjects import SCHEMA_PATH, ImportRejected, import_subjects, read_document

TODAY = dt.date(2026, 11, 25)


def good_document() -> dict:
    return {
        "format": "portal-subjects/1",
        "subjects": [
            {
                "email": "  Sofie.Peeters@Example.COM ",
                "name": "Sofie Peeters",
                "language": "nl",
                "relations": [
                    {
                        "kind": "customer", "started": "2019-03-01", "ended": None, "last_contact": "2025-10-02",
                        "data": [
                            {"category": "contact", "field": "phone", "value": "+32 9 000 00 00",
                             "source": "provided", "recorded": "2019-03-01"},
                            {"category": "payment", "field": "bank account", "value": "BE68 5390 0754 7034",
                             "source": "provided", "recorded": "2019-03-02"},
                        ],
                    },
                    {"kind": "visitor", "started": "2021-05-10", "data": [
                        {"category": "online", "field": "IP address", "value": "203.0.113.9",
                         "source": "observed", "recorded": "2021-05-10"}]},
                ],
                "consents": [{"purpose": "visitor.2", "given": "2021-05-10", "withdrawn": None}],
            },
            {
                "email": "jo@example.org",
                "name": "Jo Van den Broeck 🚲",
                "language": "en",
                "relations": [{"kind": "applicant", "started": "2025-01-06", "ended": "2025-02-01", "data": [
                    {"category": "recruitment", "field": "interview notes", "value": "Sterk in Python; é à ü",
                     "source": "derived", "recorded": "2025-01-20"}]}],
                "consents": [{"purpose": "applicant.2", "given": "2025-01-30"}],
            },
        ],
    }


def run(document, session, register):
    return import_subjects(document, session=session, register=register, today=TODAY)


def counts(session) -> dict[str, int]:
    return {model.__name__: session.scalar(select(func.count()).select_from(model))
            for model in (Subject, Relation, DataItem, Consent)}


@pytest.mark.clause("2.2.collection")
def test_a_good_file_lands_whole(session, register):
    report = run(good_document(), session, register)
    assert (report.subjects_created, report.relations_created, report.items_created, report.consents_created) == (
        2, 3, 4, 2)
    sofie = session.scalars(select(Subject).where(Subject.email == "sofie.peeters@example.com")).one()
    assert sofie.name == "Sofie Peeters" and sofie.language == "nl"
    assert sorted(r.kind for r in sofie.relations) == ["customer", "visitor"]
    customer = next(r for r in sofie.relations if r.kind == "customer")
    assert customer.started == dt.date(2019, 3, 1) and customer.ended is None
    assert customer.last_contact == dt.date(2025, 10, 2)
    assert {(i.category, i.source) for i in customer.items} == {("contact", "provided"), ("payment", "provided")}
    jo = session.scalars(select(Subject).where(Subject.email == "jo@example.org")).one()
    assert jo.name == "Jo Van den Broeck 🚲"
    assert jo.relations[0].items[0].value == "Sterk in Python; é à ü"
    assert [(c.purpose, c.withdrawn) for c in jo.consents] == [("applicant.2", None)]


def test_importing_the_same_file_twice_changes_nothing(session, register):
    run(good_document(), session, register)
    before = counts(session)
    second = run(good_document(), session, register)
    assert not second.changed_anything
    assert counts(session) == before


@pytest.mark.clause("2.4.withdrawal")
def test_a_later_file_updates_and_adds_but_never_reverses_a_withdrawal(session, register):
    document = good_document()
    document["subjects"][0]["consents"][0]["withdrawn"] = "2024-01-01"
    run(document, session, register)

    later = good_document()  # the withdrawal is missing from this export of the old system
    later["subjects"][0]["name"] = "Sofie Peeters-Maes"
    later["subjects"][0]["relations"][0]["ended"] = "2026-06-30"
    later["subjects"][0]["relations"][0]["data"].append(
        {"category": "correspondence", "field": "e-mail", "value": "Thanks!", "source": "provided",
         "recorded": "2026-06-30"})
    report = run(later, session, register)
    assert (report.subjects_updated, report.relations_updated, report.items_created) == (1, 1, 1)
    session.expire_all()
    sofie = session.scalars(select(Subject).where(Subject.email == "sofie.peeters@example.com")).one()
    assert sofie.name == "Sofie Peeters-Maes"
    assert sofie.consents[0].withdrawn == dt.date(2024, 1, 1)
    assert next(r for r in sofie.relations if r.kind == "customer").ended == dt.date(2026, 6, 30)


def test_a_withdrawal_in_a_later_file_is_recorded(session, register):
    run(good_document(), session, register)
    later = good_document()
    later["subjects"][1]["consents"][0]["withdrawn"] = "2026-01-02"
    assert run(later, session, register).consents_updated == 1


def test_addresses_are_matched_case_insensitively(session, register):
    run(good_document(), session, register)
    document = good_document()
    document["subjects"][0]["email"] = "SOFIE.PEETERS@example.com"
    assert not run(document, session, register).changed_anything


def mutated(path_and_change):
    document = good_document()
    path_and_change(document)
    return document


BAD_RECORDS = [
    ("unknown relation kind", lambda d: d["subjects"][0]["relations"][0].update(kind="employee"),
     "subjects[0].relations[0].kind", "not a relation of the register"),
    ("category not of this relation", lambda d: d["subjects"][0]["relations"][0]["data"][0].update(
        category="recruitment"), "subjects[0].relations[0].data[0].category", "not a data category of relation"),
    ("unknown source", lambda d: d["subjects"][0]["relations"][0]["data"][1].update(source="rumour"),
     "subjects[0].relations[0].data[1].source", "not a source of the register"),
    ("impossible date", lambda d: d["subjects"][0]["relations"][0].update(started="2023-02-30"),
     "subjects[0].relations[0].started", "not a real calendar date"),
    ("date in the future", lambda d: d["subjects"][1]["relations"][0]["data"][0].update(recorded="2031-01-01"),
     "subjects[1].relations[0].data[0].recorded", "lies in the future"),
    ("ended before started", lambda d: d["subjects"][1]["relations"][0].update(ended="2024-01-01"),
     "subjects[1].relations[0].ended", "before the relation started"),
    ("a list of addresses", lambda d: d["subjects"][0].update(email="a@example.com,b@example.com"),
     "subjects[0].email", "not exactly one e-mail address"),
    ("address twice", lambda d: d["subjects"][1].update(email="sofie.peeters@EXAMPLE.com"),
     "subjects[1].email", "appears twice"),
    ("consent on a purpose without consent", lambda d: d["subjects"][0]["consents"][0].update(purpose="customer.2"),
     "subjects[0].consents[0].purpose", "not a purpose that rests on consent"),
    ("consent without the relation", lambda d: d["subjects"][1]["consents"][0].update(purpose="participant.4"),
     "subjects[1].consents[0].purpose", "needs a participant relation"),
    ("withdrawn before given", lambda d: d["subjects"][0]["consents"][0].update(withdrawn="2020-01-01"),
     "subjects[0].consents[0].withdrawn", "before the consent was given"),
    ("unknown field", lambda d: d["subjects"][0].update(shoe_size=44), "subjects[0]", "shoe_size"),
    ("missing value", lambda d: d["subjects"][0]["relations"][0]["data"][0].pop("value"),
     "subjects[0].relations[0].data[0]", "'value' is a required property"),
    ("wrong format", lambda d: d.update(format="portal-subjects/2"), "format", "portal-subjects/1"),
    ("bad language", lambda d: d["subjects"][1].update(language="fr"), "subjects[1].language", "'fr'"),
]


@pytest.mark.clause("2.2.collection", "3.1.minimisation", "3.2.minimisation", "3.3.minimisation", "3.4.minimisation",
                    "3.5.minimisation")
@pytest.mark.parametrize(("change", "path", "message"), [case[1:] for case in BAD_RECORDS],
                         ids=[case[0] for case in BAD_RECORDS])
def test_each_kind_of_bad_record_is_reported_with_its_place_and_nothing_changes(
        session, register, change, path, message):
    with pytest.raises(ImportRejected) as rejected:
        run(mutated(change), session, register)
    assert any(p.path == path and message in p.message for p in rejected.value.problems), rejected.value.problems
    assert counts(session) == {"Subject": 0, "Relation": 0, "DataItem": 0, "Consent": 0}


def test_every_problem_is_reported_not_just_the_first(register, session):
    document = good_document()
    document["subjects"][0]["relations"][0]["data"][0]["source"] = "rumour"
    document["subjects"][1]["relations"][0]["kind"] = "employee"
    document["subjects"][1]["consents"][0]["given"] = "2099-01-01"
    with pytest.raises(ImportRejected) as rejected:
        run(document, session, register)
    assert {p.path for p in rejected.value.problems} >= {
        "subjects[0].relations[0].data[0].source", "subjects[1].relations[0].kind", "subjects[1].consents[0].given"}


def test_one_bad_record_at_the_end_of_a_file_rolls_back_everything(session, register):
    run(good_document(), session, register)
    before = counts(session)
    document = good_document()
    document["subjects"].append({"email": "new@example.com", "relations": [
        {"kind": "supplier", "started": "2020-01-01", "data": [
            {"category": "delivery", "field": "x", "value": "y", "source": "provided", "recorded": "2020-01-01"}]}]})
    document["subjects"].append(
        {"email": "broken@example.com", "relations": [{"kind": "pirate", "started": "2020-01-01"}]})
    with pytest.raises(ImportRejected):
        run(document, session, register)
    assert counts(session) == before


def test_a_database_failure_midway_leaves_nothing_behind(session, register, monkeypatch):
    import portal.services.subjects as subjects

    calls = {"n": 0}
    original = subjects._write_chunk

    def failing_after_first_chunk(chunk, db_session, report, *suppressions):
        calls["n"] += 1
        if calls["n"] == 2:
            raise RuntimeError("disk full")
        original(chunk, db_session, report, *suppressions)

    monkeypatch.setattr(subjects, "_CHUNK", 1)
    monkeypatch.setattr(subjects, "_write_chunk", failing_after_first_chunk)
    with pytest.raises(RuntimeError):
        run(good_document(), session, register)
    assert counts(session) == {"Subject": 0, "Relation": 0, "DataItem": 0, "Consent": 0}


@pytest.mark.parametrize(("raw", "message"), [
    (b"{not json", "is not valid JSON"),
    (b"\xff\xfe\x00garbage", "is not"),
])
def test_unreadable_files_are_refused(raw, message):
    with pytest.raises(ImportRejected) as rejected:
        read_document(raw)
    assert message in str(rejected.value.problems[0])


@pytest.mark.clause("2.2.collection", "2.2.third_parties", "2.2.public_sources")
def test_the_demo_file_is_valid_and_covers_every_relation(session, register):
    from portal.cli import DEMO_FILE

    report = run(json.loads(DEMO_FILE.read_text(encoding="utf-8")), session, register)
    assert report.subjects_created >= 8
    kinds = set(session.scalars(select(Relation.kind)))
    assert kinds == set(register.relations)
    sources = set(session.scalars(select(DataItem.source)))
    assert sources == set(register.sources)


def test_a_later_file_that_leaves_values_out_erases_nothing(session, register):
    document = good_document()
    document["subjects"][1]["language"] = "en"
    run(document, session, register)
    sparse = good_document()
    del sparse["subjects"][1]["name"]
    del sparse["subjects"][1]["language"]
    sparse["subjects"][1]["relations"][0]["ended"] = None  # an export that does not know the end
    assert not run(sparse, session, register).changed_anything
    session.expire_all()
    jo = session.scalars(select(Subject).where(Subject.email == "jo@example.org")).one()
    assert (jo.name, jo.language) == ("Jo Van den Broeck 🚲", "en")
    assert jo.relations[0].ended == dt.date(2025, 2, 1)  # not reopened: its retention date stands


@pytest.mark.parametrize("withdrawn_first", [False, True])
def test_a_consent_listed_twice_is_stored_once_and_stays_withdrawn(session, register, withdrawn_first):
    document = good_document()
    consents = document["subjects"][1]["consents"]
    consents.append({**consents[0], "withdrawn": "2025-02-01"})
    if withdrawn_first:
        consents.reverse()
    report = run(document, session, register)
    assert (report.consents_created, report.consents_updated) == (2, 0 if withdrawn_first else 1)
    jo = session.scalars(select(Subject).where(Subject.email == "jo@example.org")).one()
    assert [(c.purpose, c.withdrawn) for c in jo.consents] == [("applicant.2", dt.date(2025, 2, 1))]


def test_a_data_item_listed_twice_under_a_relation_is_stored_once(session, register):
    document = good_document()
    data = document["subjects"][0]["relations"][0]["data"]
    data.append(dict(data[0]))
    report = run(document, session, register)
    assert report.items_created == 4
    assert counts(session)["DataItem"] == 4


# --- what the fast checks must not change ------------------------------------------------------------------


def raw_with_value(value_in_json: str) -> str:
    """The good file as JSON text, its first data item's value written as `value_in_json` (JSON escapes)."""
    raw = json.dumps(good_document())  # ensure_ascii: the bicycle in Jo's name is the escaped pair \ud83d\udeb2
    return raw.replace('"+32 9 000 00 00"', f'"+32 {value_in_json} 9"')


@pytest.mark.parametrize(("value_in_json", "message"), [
    ("\\u0000", "NUL character"), ("x\\u0000", "NUL character"), ("\\ud800", "unpaired surrogate"),
    ("\\uDFFF", "unpaired surrogate"), ("\\ude00\\ud83d", "unpaired surrogate"),
])
def test_text_a_database_cannot_store_is_refused_with_its_place(session, register, value_in_json, message):
    with pytest.raises(ImportRejected) as rejected:
        run(read_document(raw_with_value(value_in_json)), session, register)
    assert [(p.path, message in p.message) for p in rejected.value.problems] == [
        ("subjects[0].relations[0].data[0].value", True)]
    assert counts(session) == {"Subject": 0, "Relation": 0, "DataItem": 0, "Consent": 0}


@pytest.mark.parametrize(("value_in_json", "stored"), [
    ("\\\\u0000", "\\u0000"), ("\\\\ud800", "\\ud800"), ("\\ud83d\\ude00", "\U0001F600"), ("\\u00e9", "é"),
])
def test_escapes_that_only_look_unstorable_are_imported(session, register, value_in_json, stored):
    run(read_document(raw_with_value(value_in_json)), session, register)
    assert session.scalars(select(DataItem.value).where(DataItem.field == "phone")).one() == f"+32 {stored} 9"


def test_a_nul_in_a_key_is_refused_at_the_object_that_holds_it(session, register):
    document = good_document()
    document["subjects"][0]["relations"][0]["data"][1]["fi\x00eld"] = "x"
    with pytest.raises(ImportRejected) as rejected:
        run(document, session, register)
    assert [str(p) for p in rejected.value.problems] == [
        "subjects[0].relations[0].data[1]: contains a NUL character, which cannot be stored"]


def schema_problems(document) -> list[tuple[str, str]]:
    """What jsonschema itself says of `document` against the schema file: the problems an import must list."""

    def place(parts) -> str:
        path = ""
        for part in parts:
            path += f"[{part}]" if isinstance(part, int) else (f".{part}" if path else part)
        return path or "file"

    validator = Draft202012Validator(json.loads(SCHEMA_PATH.read_text(encoding="utf-8")))
    return [(place(e.absolute_path), e.message)
            for e in sorted(validator.iter_errors(document), key=lambda e: list(map(str, e.path)))]


def first_item(d):
    return d["subjects"][0]["relations"][0]["data"][0]


SHAPE_CHANGES = [
    ("not an object", lambda d: d["subjects"].append([])),
    ("a number for text", lambda d: first_item(d).update(value=12)),
    ("true for text", lambda d: first_item(d).update(field=True)),
    ("null for a required date", lambda d: first_item(d).update(recorded=None)),
    ("empty field", lambda d: first_item(d).update(field="")),
    ("field of 101 characters", lambda d: first_item(d).update(field="é" * 101)),
    ("value of 100,001 characters", lambda d: first_item(d).update(value="x" * 100_001)),
    ("date with a time", lambda d: first_item(d).update(recorded="2020-01-01T00:00")),
    ("date in other digits", lambda d: first_item(d).update(recorded="٢٠٢٠-٠١-٠١")),
    ("a number for a date", lambda d: d["subjects"][0]["relations"][0].update(ended=20200101)),
    ("an object for a list", lambda d: d["subjects"][0].update(relations={})),
    ("address of 2 characters", lambda d: d["subjects"][0].update(email="a@")),
    ("a list for a name", lambda d: d["subjects"][0].update(name=["An"])),
    ("language in capitals", lambda d: d["subjects"][0].update(language="NL")),
    ("format as a list", lambda d: d.update(format=["portal-subjects/1"])),
    ("subjects missing", lambda d: d.pop("subjects")),
    ("two problems in one item", lambda d: first_item(d).update(source=None, extra=1)),
]


@pytest.mark.parametrize("change", [c[1] for c in SHAPE_CHANGES], ids=[c[0] for c in SHAPE_CHANGES])
def test_schema_problems_are_the_ones_jsonschema_lists(session, register, change):
    """The compiled schema check only decides whether jsonschema must look: what is listed stays its list."""
    document = mutated(change)
    expected = schema_problems(document)
    assert expected
    with pytest.raises(ImportRejected) as rejected:
        run(document, session, register)
    assert [(p.path, p.message) for p in rejected.value.problems] == expected


def test_a_date_the_compiled_check_refuses_but_jsonschema_takes_is_checked_as_before(session, register):
    """fastjsonschema reads `$` as the very end; jsonschema (Python's re) also lets a final newline through."""
    document = good_document()
    first_item(document)["recorded"] = "2020-01-01\n"
    assert schema_problems(document) == []
    with pytest.raises(ImportRejected) as rejected:
        run(document, session, register)
    assert [(p.path, "not a real calendar date" in p.message) for p in rejected.value.problems] == [
        ("subjects[0].relations[0].data[0].recorded", True)]
