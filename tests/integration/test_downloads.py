"""Downloading one's own data through the app: real sign-in by mail, CSRF on, a real database and SMTP server.

What a person notices: the downloads page says what the portable export holds and, for what it leaves out,
why; downloads arrive as files, only after a recent confirmation of their address, and each is listed
afterwards with digests that match the file they hold; an open request for a copy or an export is answered
by the download itself, with a mail. What an auditor notices: nothing is cached, nothing is handed out on a
GET or without a CSRF token, every download is recorded, the readable copy shows the same manifest as the
record, and nobody ever receives another person's data.

Dutch wording is asserted through the compiled catalogue (`in_language`) and the register's own texts,
so that these tests hold while the catalogue is being translated; `<html lang>` shows the language.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import html
import io
import json
import re
import zipfile
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
from jsonschema import Draft202012Validator
from sqlalchemy import func, select

from portal.clock import utcnow
from portal.models import AuthSession, DataItem, Download, Relation, RightsRequest, Subject
from portal.services.export.downloads import start_download
from portal.services.requests import submit_request
from tests.conftest import csrf_token_from
from tests.support.contexts import context
from tests.support.database import set_columns
from tests.support.mails import eventually, wait_for_mail
from tests.support.pages import browser_in, download, fetch, in_language
from tests.support.people import AN, BRAM, CHLOE, PEOPLE

LANGUAGES = ["nl", "en"]
DOWNLOADS = [("copy", "json"), ("copy", "csv"), ("portable", "json"), ("portable", "csv")]
# Every address that hands out data, each a form post: the four files and the readable copy.
POSTS = [f"/me/downloads/{kind}.{fmt}" for kind, fmt in DOWNLOADS] + ["/me/downloads/copy.html"]
CONTENT_TYPES = {"json": "application/json; charset=utf-8", "csv": "application/zip"}
SCHEMA_PATH = Path(__file__).resolve().parents[2] / "portal" / "schemas" / "portal-export-1.schema.json"
SOURCE_REASON = "you did not give us these data yourself, nor did they arise from your use of our services"
BASIS_REASON = ("we process these data only on a legitimate interest or to take steps before a contract, not on your "
                "consent or a contract")


# --- helpers -------------------------------------------------------------------------------------------------


def text(response) -> str:
    return html.unescape(response.get_data(as_text=True))


def squash(fragment: str, tags: str = " ") -> str:
    """Markup as the text a person reads: tags replaced by `tags`, white space collapsed."""
    return html.unescape(re.sub(r"\s+", " ", re.sub(r"<[^>]+>", tags, fragment))).strip()


def html_lang(response) -> str:
    match = re.search(r'<html lang="([a-z]+)"', response.get_data(as_text=True))
    assert match
    return match.group(1)


def read_copy(client):
    """Press "Readable copy" on /me/downloads (a form post, like the downloads)."""
    page = client.get("/me/downloads")
    assert 'action="/me/downloads/copy.html"' in page.get_data(as_text=True)
    return client.post("/me/downloads/copy.html", data={"csrf_token": csrf_token_from(page.get_data(as_text=True))})


# What each download sends only after the data items: reading up to it, the items have been read and sent.
AFTER_THE_ITEMS = {"/me/downloads/copy.json": b'"consents"', "/me/downloads/portable.json": b'"manifest"',
                   "/me/downloads/copy.csv": b"consents.csv", "/me/downloads/portable.csv": b"manifest.json",
                   "/me/downloads/copy.html": b't-consents'}


def drop_after_the_items(response, path: str) -> bytes:
    """Read a streamed download up to what follows its data items, then go away as a browser does."""
    received = b""
    for chunk in response.response:
        received += chunk
        if AFTER_THE_ITEMS[path] in received:
            return received
    pytest.fail(f"{AFTER_THE_ITEMS[path]!r} never came")


def unzip(data: bytes) -> dict[str, bytes]:
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        return {name: archive.read(name) for name in archive.namelist()}


def everything_in(kind_fmt_bytes: list[tuple[str, bytes]]) -> str:
    """All the text a person received: JSON documents, every file of every zip, pages."""
    texts = []
    for fmt, data in kind_fmt_bytes:
        if fmt == "csv":
            texts += [content.decode("utf-8") for content in unzip(data).values()]
        else:
            texts.append(data.decode("utf-8"))
    return "\n".join(texts)


def downloads_in_db(session, email: str | None = None) -> list[Download]:
    session.expire_all()
    query = select(Download).order_by(Download.id)
    if email is not None:
        query = query.where(Download.email == email)
    return list(session.scalars(query))


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def portable_rows(response) -> list[tuple[str, list[str]]]:
    """The table "what the portable export holds": per row, in or out, and its cells as text."""
    rows = re.findall(r'<tr class="portable-(in|out)">(.*?)</tr>', response.get_data(as_text=True), re.DOTALL)
    return [(where, [squash(cell, "") for cell in re.findall(r"<td>(.*?)</td>", row, re.DOTALL)])
            for where, row in rows]


def listed_downloads(response) -> list[str]:
    match = re.search(r'<table class="downloads-table">(.*?)</table>', response.get_data(as_text=True), re.DOTALL)
    assert match, "no list of downloads on the page"
    return [squash(row) for row in re.findall(r"<tr>(.*?)</tr>", match.group(1).split("</thead>")[1], re.DOTALL)]


def submit(session, register, email: str, right: str) -> int:
    request = submit_request(session, context(register, today=dt.date.today(), now=utcnow(), notifier=None),
                             email=email, right=right, idempotency_key=f"{right}-{email}")
    return request.id


def request_state(session, request_id: int) -> tuple[str, list[tuple[str, str]]]:
    session.expire_all()
    request = session.get(RightsRequest, request_id)
    return request.status, [(e.actor, e.status) for e in request.events]


def make_stale(session, email: str) -> None:
    set_columns(session, AuthSession, AuthSession.email == email, confirmed_at=utcnow() - dt.timedelta(minutes=11))


def values_of(session, email: str) -> set[str]:
    session.expire_all()
    return set(session.scalars(select(DataItem.value).join(Relation).join(Subject).where(Subject.email == email)))


# --- the page ----------------------------------------------------------------------------------------------------


@pytest.mark.clause("2.4.portability", "2.2.collection", "2.2.third_parties", "2.2.public_sources")
@pytest.mark.parametrize("language", LANGUAGES)
def test_the_page_says_what_the_portable_export_holds_and_why_not(app, inbox, demo, register, language):
    client = browser_in(app, inbox, AN, language)
    page = client.get("/me/downloads")
    assert page.status_code == 200 and html_lang(page) == language
    assert in_language(app, language, "Download your data") in text(page)

    def name(kind: str, key: str) -> str:
        return {"relation": register.relations, "category": register.categories, "source": register.sources,
                "basis": register.bases}[kind][key].name.in_language(language)

    yes, no = in_language(app, language, "Yes"), in_language(app, language, "No")
    contract = f"{yes}: " + in_language(app, language, "processed on %(bases)s", bases=name("basis", "contract"))
    consent = f"{yes}: " + in_language(app, language, "processed on %(bases)s", bases=name("basis", "consent"))
    not_hers = f"{no}: " + in_language(app, language, SOURCE_REASON)
    customer, visitor = name("relation", "customer"), name("relation", "visitor")
    # An's items by relation, category and source (portal/demo/subjects.json), in the order of the register.
    assert portable_rows(page) == [
        ("in", [customer, name("category", "contact"), name("source", "provided"), "1", contract]),  # phone
        ("out", [customer, name("category", "contact"), name("source", "third_party"), "2", not_hers]),
        ("out", [customer, name("category", "contact"), name("source", "public"), "1", not_hers]),  # office
        ("in", [customer, name("category", "correspondence"), name("source", "provided"), "2", contract]),
        ("in", [customer, name("category", "payment"), name("source", "provided"), "1", contract]),  # bank account
        ("out", [customer, name("category", "payment"), name("source", "derived"), "1", not_hers]),  # invoice
        ("in", [visitor, name("category", "contact"), name("source", "provided"), "1", consent]),  # newsletter
    ]
    # The register's reading of Art. 20 is shown with the table.
    assert register.rights["portability"].interpretation.in_language(language) in text(page)
    assert in_language(app, language, "You have not downloaded anything yet.") in text(page)


@pytest.mark.clause("2.4.portability")
@pytest.mark.parametrize("language", LANGUAGES)
def test_given_data_used_only_before_a_contract_are_out_with_that_reason(app, inbox, demo, register, language):
    client = browser_in(app, inbox, CHLOE, language)
    page = client.get("/me/downloads")
    rows = {(cells[1], cells[2]): (where, cells[3], cells[4]) for where, cells in portable_rows(page)}
    recruitment = register.categories["recruitment"].name.in_language(language)
    contact = register.categories["contact"].name.in_language(language)
    provided = register.sources["provided"].name.in_language(language)
    derived = register.sources["derived"].name.in_language(language)
    no = in_language(app, language, "No")
    # Her CV and date of birth: she gave them, but we use them only to handle her application.
    assert rows[(recruitment, provided)] == ("out", "2", f"{no}: " + in_language(app, language, BASIS_REASON))
    assert rows[(recruitment, derived)] == ("out", "1", f"{no}: " + in_language(app, language, SOURCE_REASON))
    consent = register.bases["consent"].name.in_language(language)
    assert rows[(contact, provided)] == ("in", "2", in_language(app, language, "Yes") + ": "
                                         + in_language(app, language, "processed on %(bases)s", bases=consent))


# --- the answers: attachments, never cached, never on a GET or without CSRF --------------------------------------


@pytest.mark.parametrize(("kind", "fmt"), DOWNLOADS)
def test_a_download_is_an_attachment_nothing_may_cache(app, inbox, demo, kind, fmt):
    client = browser_in(app, inbox, AN, "en")
    with download(client, kind, fmt) as response:
        assert response.status_code == 200
        assert response.headers["Content-Type"] == CONTENT_TYPES[fmt]
        disposition = response.headers["Content-Disposition"]
        stem = "copy-of-my-data" if kind == "copy" else "portable-export"
        extension = "json" if fmt == "json" else "zip"
        assert re.fullmatch(rf'attachment; filename="we-are-{stem}-\d{{4}}-\d{{2}}-\d{{2}}\.{extension}"', disposition)
        assert "no-store" in response.headers["Cache-Control"]
        assert response.headers["X-Content-Type-Options"] == "nosniff"
        data = response.get_data()
    if fmt == "json":
        document = json.loads(data)
        assert (document["kind"], document["subject_email"]) == (kind, AN)
    else:
        assert "manifest.json" in unzip(data)


@pytest.mark.parametrize("path", POSTS)
def test_a_download_address_hands_out_nothing_on_a_get(app, session, inbox, demo, path):
    # A link a browser prefetches, or a reload, must neither hand out data nor answer a request.
    client = browser_in(app, inbox, AN, "en")
    answer = client.get(path)
    assert answer.status_code == 405
    assert "BE68 5390 0754 7034" not in answer.get_data(as_text=True)
    assert downloads_in_db(session) == []


@pytest.mark.parametrize("path", POSTS)
def test_a_download_without_csrf_token_is_refused(app, session, inbox, demo, path):
    client = browser_in(app, inbox, AN, "en")
    for data in ({}, {"csrf_token": "forged"}):
        answer = client.post(path, data=data)
        assert answer.status_code == 400
        assert "BE68 5390 0754 7034" not in answer.get_data(as_text=True)
    assert downloads_in_db(session) == []


@pytest.mark.clause("2.4.verification")
def test_without_a_fresh_confirmation_nothing_is_handed_out_or_recorded(app, session, inbox, demo, register):
    client = browser_in(app, inbox, AN, "en")
    fresh = client.get("/me/downloads")
    assert fresh.status_code == 200
    token = csrf_token_from(fresh.get_data(as_text=True))
    access = submit(session, register, AN, "access")
    make_stale(session, AN)

    needed = client.get("/me/downloads")
    assert needed.status_code == 403
    assert in_language(app, "en", "Confirm it is you") in text(needed)
    assert 'action="/confirm"' in needed.get_data(as_text=True)
    for path in POSTS:  # the buttons of the page opened while it was fresh
        with client.post(path, data={"csrf_token": token}) as refused:
            assert refused.status_code == 403
            body = text(refused)
        assert in_language(app, "en", "Confirm it is you") in body
        assert 'name="next" type="hidden" value="/me/downloads"' in body  # back to the page after confirming
        assert "BE68 5390 0754 7034" not in body
    assert downloads_in_db(session) == []
    assert request_state(session, access)[0] == "received"


def test_anonymous_visitors_are_sent_to_sign_in(app, session, demo):
    client = app.test_client()
    path = "/me/downloads"
    answer = client.get(path)
    assert answer.status_code == 302
    location = urlsplit(answer.headers["Location"])
    assert location.path == "/sign-in" and parse_qs(location.query)["next"] == [path]  # and back after signing in
    assert downloads_in_db(session) == []


@pytest.mark.parametrize("path", POSTS)
def test_an_anonymous_download_post_hands_out_nothing(app, session, demo, path):
    client = app.test_client()
    token = csrf_token_from(client.get("/sign-in").get_data(as_text=True))
    answer = client.post(path, data={"csrf_token": token})
    assert answer.status_code == 302 and answer.headers["Location"].startswith("/sign-in")
    assert "BE68 5390 0754 7034" not in answer.get_data(as_text=True)
    assert downloads_in_db(session) == []


# --- every download is recorded with the digests of what was sent --------------------------------------------------


@pytest.mark.clause("2.4.access", "2.4.portability")
def test_each_download_is_recorded_and_listed_with_its_digests(app, session, inbox, demo, register):
    client = browser_in(app, inbox, AN, "en")
    received = {}
    for kind, fmt in DOWNLOADS:
        data, _headers = fetch(client, kind, fmt)
        received[(kind, fmt)] = data
    recorded = downloads_in_db(session, AN)
    assert [(d.kind, d.format) for d in recorded] == DOWNLOADS
    for download_row in recorded:
        data = received[(download_row.kind, download_row.format)]
        assert download_row.completed_at is not None and download_row.started_at <= download_row.completed_at
        assert download_row.statement_version == register.statement.version
        assert download_row.file_digest == sha256(data)  # what she holds is what we sent
        if download_row.format == "json":
            document = json.loads(data)
            assert download_row.manifest_digest == document["manifest"]["digest"]
            assert download_row.rows == sum(t["rows"] for t in document["manifest"]["tables"])
        else:
            files = unzip(data)
            assert download_row.manifest_digest == sha256(files["manifest.json"])
            assert download_row.rows == sum(f["rows"] for f in json.loads(files["manifest.json"])["files"])
            assert download_row.manifest_digest in files["README.txt"].decode("utf-8")

    listed = listed_downloads(client.get("/me/downloads"))
    assert len(listed) == 4
    for download_row in recorded:
        assert any(download_row.manifest_digest in row and download_row.file_digest in row for row in listed)
    # Newest first; each says what it was.
    assert "Portable export" in listed[0] and "CSV" in listed[0]
    assert "Copy" in listed[3] and "JSON" in listed[3]


def test_the_copy_lists_the_earlier_downloads_with_their_digests(app, session, inbox, demo):
    client = browser_in(app, inbox, AN, "en")
    first, _headers = fetch(client, "portable", "json")
    second, _headers = fetch(client, "copy", "json")
    listed = json.loads(second)["tables"]["downloads"]
    assert len(listed) == 1  # not itself
    assert listed[0]["kind"] == "portable" and listed[0]["file_digest"] == sha256(first)
    assert listed[0]["manifest_digest"] == json.loads(first)["manifest"]["digest"]


def test_an_interrupted_download_is_listed_as_not_completed(app, session, inbox, demo, register):
    start_download(session, AN, "copy", "csv", register=register, now=utcnow())
    client = browser_in(app, inbox, AN, "en")
    [row] = listed_downloads(client.get("/me/downloads"))
    assert in_language(app, "en", "interrupted: not completed") in row


@pytest.mark.parametrize("path", POSTS)
def test_an_interrupted_download_stays_not_completed_and_answers_no_request(app, session, inbox, demo, register, path):
    access = submit(session, register, AN, "access")
    client = browser_in(app, inbox, AN, "en")
    page = client.get("/me/downloads")
    with client.post(path, data={"csrf_token": csrf_token_from(page.get_data(as_text=True))}) as response:
        assert response.status_code == 200
        drop_after_the_items(response, path)  # the data items arrive, then the connection drops
    [recorded] = downloads_in_db(session, AN)
    assert recorded.completed_at is None and recorded.file_digest is None and recorded.manifest_digest is None
    assert request_state(session, access) == ("received", [("person", "received")])
    [row] = listed_downloads(client.get("/me/downloads"))
    assert in_language(app, "en", "interrupted: not completed") in row


def test_downloads_follow_the_chosen_language(app, inbox, demo):
    client = browser_in(app, inbox, AN, "nl")
    data, _headers = fetch(client, "copy", "json")
    document = json.loads(data)
    assert document["language"] == "nl"
    assert {p["legal_basis_name"] for p in document["tables"]["purposes"]} >= {"Overeenkomst", "Toestemming"}
    client.get("/language/en")
    document = json.loads(fetch(client, "copy", "json")[0])
    assert document["language"] == "en"
    assert {p["legal_basis_name"] for p in document["tables"]["purposes"]} >= {"Contract", "Consent"}


# --- a download answers the open request for it ----------------------------------------------------------------------


@pytest.mark.clause("2.4.access")
def test_a_copy_completes_the_open_access_request_but_not_a_portability_request(
    app, session, inbox, demo, register,
):
    access = submit(session, register, AN, "access")
    portability = submit(session, register, AN, "portability")
    bram_access = submit(session, register, BRAM, "access")
    client = browser_in(app, inbox, AN, "en")
    data, _headers = fetch(client, "copy", "json")
    digest = json.loads(data)["manifest"]["digest"]

    status, events = request_state(session, access)
    assert status == "completed" and events[-1] == ("system", "completed")
    session.expire_all()
    answered = session.get(RightsRequest, access)
    assert answered.closed_at is not None
    assert digest in answered.events[-1].note
    mail = wait_for_mail(inbox, AN, 2)  # the sign-in mail, then this one
    assert mail["Subject"] == in_language(app, "nl", "Your request: %(right)s",
                                          right=register.rights["access"].name.in_language("nl"))
    assert request_state(session, portability) == ("received", [("person", "received")])
    assert request_state(session, bram_access) == ("received", [("person", "received")])  # not someone else's


@pytest.mark.clause("2.4.portability")
def test_a_portable_export_completes_the_open_portability_request(app, session, inbox, demo, register):
    access = submit(session, register, AN, "access")
    portability = submit(session, register, AN, "portability")
    client = browser_in(app, inbox, AN, "en")
    data, _headers = fetch(client, "portable", "csv")
    status, events = request_state(session, portability)
    assert status == "completed" and events[-1] == ("system", "completed")
    session.expire_all()
    assert sha256(unzip(data)["manifest.json"]) in session.get(RightsRequest, portability).events[-1].note
    mail = wait_for_mail(inbox, AN, 2)
    assert mail["Subject"] == in_language(app, "nl", "Your request: %(right)s",
                                          right=register.rights["portability"].name.in_language("nl"))
    assert request_state(session, access)[0] == "received"  # a portable export is not a copy


def test_a_closed_request_is_left_alone(app, session, inbox, demo, register):
    from portal.services.requests import change_status

    access = submit(session, register, AN, "access")
    change_status(session,
                  context(register, actor="staff:dpm@we-are.be", today=dt.date.today(), now=utcnow(), notifier=None),
                  access, to="refused", note="Manifestly unfounded")
    client = browser_in(app, inbox, AN, "en")
    fetch(client, "copy", "json")
    assert request_state(session, access) == ("refused", [("person", "received"), ("staff:dpm@we-are.be", "refused")])


# --- the readable copy -----------------------------------------------------------------------------------------------


@pytest.mark.clause("2.4.access")
@pytest.mark.parametrize("language", LANGUAGES)
def test_the_readable_copy_shows_the_persons_data_and_the_recorded_manifest(
    app, session, inbox, demo, register, language,
):
    access = submit(session, register, AN, "access")
    client = browser_in(app, inbox, AN, language)
    with read_copy(client) as page:
        assert page.status_code == 200
        assert page.headers["Content-Type"].startswith("text/html")
        assert "no-store" in page.headers["Cache-Control"]
        body = text(page)
        assert html_lang(page) == language
    assert in_language(app, language, "Copy of your personal data") in body
    for value in values_of(session, AN):  # every value we hold on her, also those kept out of the portable export
        assert value in body
    assert register.purposes["customer.5"].description.in_language(language) in body
    [recorded] = downloads_in_db(session, AN)
    assert (recorded.kind, recorded.format) == ("copy", "html")
    assert recorded.completed_at is not None
    manifest = re.search(r'<code class="digest">([0-9a-f]{64})</code>', body)
    assert manifest and manifest.group(1) == recorded.manifest_digest
    assert request_state(session, access)[0] == "completed"  # the readable copy answers the access request too

    # A JSON copy made next in the same language holds the same tables, but for what the readable copy
    # itself changed (the list of downloads, and the request it answered): their digests on the page are
    # those of the JSON manifest.
    document = json.loads(fetch(client, "copy", "json")[0])
    changed = {"downloads", "requests", "request_events"}
    for entry in document["manifest"]["tables"]:
        assert (entry["sha256"] in body) == (entry["name"] not in changed), entry["name"]


def test_the_readable_copy_shows_markup_as_text(app, session, inbox, demo):
    session.expire_all()
    relation = session.scalar(select(Relation.id).join(Subject).where(Subject.email == AN, Relation.kind == "customer"))
    session.add(DataItem(relation_id=relation, category="correspondence", field="e-mail",
                         value="<script>alert('x')</script><b>bold</b>", source="provided",
                         recorded=dt.date(2026, 1, 1), fingerprint="markup"))
    session.commit()
    client = browser_in(app, inbox, AN, "en")
    with read_copy(client) as page:
        raw = page.get_data(as_text=True)
    assert "<script>alert" not in raw and "<b>bold</b>" not in raw
    assert "&lt;script&gt;alert(" in raw


# --- the database after a download ----------------------------------------------------------------------------


@pytest.mark.parametrize("interrupted", [False, True], ids=["completed", "interrupted"])
@pytest.mark.parametrize("path", POSTS)
def test_a_download_gives_its_database_connection_back(app, inbox, demo, path, interrupted):
    """A download streams after its request has ended; the connection it read with must still go back.

    A connection kept per download, in a transaction, exhausts the pool after a handful of downloads
    (every later page then waits for one) and on PostgreSQL holds its locks and snapshot meanwhile.
    """
    pool = app.extensions["portal.db"].engine.pool
    client = browser_in(app, inbox, AN, "en")
    page = client.get("/me/downloads")
    token = csrf_token_from(page.get_data(as_text=True))
    eventually(lambda: pool.checkedout() == 0, message="a connection is in use before the download")
    with client.post(path, data={"csrf_token": token}) as response:
        assert response.status_code == 200
        if interrupted:
            drop_after_the_items(response, path)
        else:
            response.get_data()
    # The mail sender, woken by the download, may hold one for a moment.
    eventually(lambda: pool.checkedout() == 0, timeout=5,
               message="a database connection is still checked out after the download")


# --- the JSON Schema -------------------------------------------------------------------------------------------


def test_the_schema_is_served_as_json_schema_and_describes_the_downloads(app, inbox, demo):
    client = app.test_client()
    with client.get("/schemas/portal-export-1.schema.json") as response:
        assert response.status_code == 200
        assert response.mimetype == "application/schema+json"
        served = response.get_data()
    schema = json.loads(served)
    Draft202012Validator.check_schema(schema)
    assert schema == json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))
    assert schema["$id"].endswith("/schemas/portal-export-1.schema.json")
    validator = Draft202012Validator(schema)
    signed = browser_in(app, inbox, AN, "en")
    for kind in ("copy", "portable"):
        document = json.loads(fetch(signed, kind, "json")[0])
        assert list(validator.iter_errors(document)) == []
    # The downloads page links to it.
    assert 'href="/schemas/portal-export-1.schema.json"' in signed.get("/me/downloads").get_data(as_text=True)


# --- nobody else's data ----------------------------------------------------------------------------------------


@pytest.mark.clause("1.care", "2.4.verification")
def test_a_person_never_receives_another_persons_data(app, session, inbox, demo, register):
    submit(session, register, BRAM, "access")
    start_download(session, BRAM, "copy", "json", register=register, now=utcnow())
    client = browser_in(app, inbox, AN, "en")
    received = []
    for kind, fmt in DOWNLOADS:
        # Naming someone else in the form or the address changes nothing: the download is the signed-in person's.
        page = client.get("/me/downloads")
        token = csrf_token_from(page.get_data(as_text=True))
        with client.post(f"/me/downloads/{kind}.{fmt}?email={BRAM}", data={"csrf_token": token, "email": BRAM}) as r:
            assert r.status_code == 200
            received.append((fmt, r.get_data()))
    with read_copy(client) as page:
        received.append(("html", page.get_data()))
    received.append(("html", client.get("/me/downloads").get_data()))
    everything = html.unescape(everything_in(received))
    assert AN in everything and "BE68 5390 0754 7034" in everything
    others = set()
    session.expire_all()
    for other in PEOPLE:
        if other != AN:
            name = session.scalar(select(Subject.name).where(Subject.email == other))
            others |= {other, name} | values_of(session, other)
    assert sorted(value for value in others if value in everything) == []
    # Every download recorded is hers; Bram's one earlier download is untouched.
    assert {d.email for d in downloads_in_db(session)} == {AN, BRAM}
    assert session.scalar(select(func.count()).select_from(Download).where(Download.email == BRAM)) == 1
    assert [d.email for d in downloads_in_db(session) if d.email == BRAM and d.completed_at] == []
