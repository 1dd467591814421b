"""Downloading one's own data as a person does it in Chromium, in Dutch and English, checked with axe.

A customer goes from her overview to "Download your data", downloads the copy as JSON and the portable
export as a CSV zip, opens the readable copy, and comes back to find each download listed with the
digests of exactly the files she holds. The downloads page wants a fresh confirmation: once the sign-in is
more than 10 minutes old it asks for one, and a download form posted then sends nothing.

The download buttons are found by their form's action, and other wording comes from the live app's
compiled catalogue (`say`), so these tests hold while the Dutch catalogue is being filled. Each test
removes the downloads it made (`no_downloads_left`): the live server serves the whole browser package.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import re
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from jsonschema import Draft202012Validator
from playwright.sync_api import Download as BrowserDownload
from playwright.sync_api import Locator, Page, expect
from sqlalchemy import delete, select

from portal.models import Download
from tests.conftest import Inbox
from tests.support.browser import (
    AN,
    CONFIRM_H1,
    LOCALES,
    NewPage,
    check_accessibility,
    expect_language,
    heading_1,
    make_confirmation_stale,
    say,
    sign_in,
)

LANGUAGES = ["nl", "en"]
SHA256 = re.compile(r"^[0-9a-f]{64}$")
# Values only An holds (portal/demo/subjects.json), and which of them the portable export holds: what she
# gave us herself under her contract, not what we found in public sources or derived ourselves.
AN_NAME = "An Peeters"
AN_VALUES = ("BE68 5390 0754 7034", "Korenlei 7, 9000 Gent", "Invoice 2026-0142, EUR 12,400.00, paid 2026-05-02",
             "Question about the scope of the webshop project")
AN_PORTABLE = ("BE68 5390 0754 7034", "Question about the scope of the webshop project")
AN_NOT_PORTABLE = ("Korenlei 7, 9000 Gent", "Invoice 2026-0142, EUR 12,400.00, paid 2026-05-02")
# Values of other demo people: none may be in An's downloads.
OTHERS_VALUES = ("BE71 0961 2345 6769", "Rue Haute 12, 1000 Brussels", "Stad Gent", "Vegetarian")
COPY_TABLES = ["subject", "relations", "purposes", "categories", "data_items", "consents", "marketing_objections",
               "requests", "request_events", "requested_changes", "downloads"]


@pytest.fixture
def no_downloads_left(live_app: Flask) -> Iterator[None]:
    """Before and after the test: no download recorded for anyone."""
    database = live_app.extensions["portal.db"]

    def clear() -> None:
        with database.session() as session:
            session.execute(delete(Download))
            session.commit()

    clear()
    yield
    clear()


def recorded_downloads(app: Flask) -> list[Download]:
    with app.extensions["portal.db"].session() as session:
        return list(session.scalars(select(Download).order_by(Download.id)))


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def canonical(record: dict[str, Any]) -> bytes:
    """A record as docs/export-format.md digests it: compact JSON, keys sorted, UTF-8, one newline."""
    return (json.dumps(record, ensure_ascii=False, sort_keys=True, separators=(",", ":")) + "\n").encode()


# --- the pages -----------------------------------------------------------------------------------------


def go_to_downloads(page: Page, app: Flask, language: str) -> None:
    """From /me, the link that leads to the downloads."""
    page.get_by_role("main").get_by_role("link", name=say(app, language, "Download your data"), exact=True).click()
    expect(page).to_have_url(re.compile(r"/me/downloads$"))
    expect_language(page, language)
    expect(heading_1(page)).to_have_text(say(app, language, "Download your data"))


def download_button(page: Page, kind: str, fmt: str) -> Locator:
    return page.locator(f'form[action$="/me/downloads/{kind}.{fmt}"] button')


def download(page: Page, kind: str, fmt: str, folder: Path) -> tuple[BrowserDownload, Path]:
    """Press a download button; the file as the browser saved it, under the name the portal suggested."""
    with page.expect_download() as started:
        download_button(page, kind, fmt).click()
    received = started.value
    assert received.failure() is None, f"the {kind} {fmt} download failed: {received.failure()}"
    saved = folder / received.suggested_filename
    received.save_as(saved)
    return received, saved


def downloads_table(page: Page) -> Locator:
    return page.locator("table.downloads-table")


def listed_digests(row: Locator) -> tuple[str, str]:
    """(manifest digest, file digest) as a row of the downloads table shows them."""
    codes = row.locator("td").nth(3).locator("code")
    expect(codes).to_have_count(2)
    manifest, file = codes.nth(0).inner_text(), codes.nth(1).inner_text()
    assert SHA256.match(manifest) and SHA256.match(file), (manifest, file)
    return manifest, file


# --- the files -----------------------------------------------------------------------------------------


def check_json_copy(path: Path, language: str) -> dict[str, Any]:
    """The copy as JSON: An's, in the page's language, every table's digest as its manifest says."""
    document: dict[str, Any] = json.loads(path.read_bytes().decode("utf-8"))
    assert document["format"] == "portal-export/1"
    assert document["kind"] == "copy"
    assert document["subject_email"] == AN.email
    assert document["language"] == language
    assert list(document["tables"]) == COPY_TABLES
    assert document["tables"]["subject"] == [{"email": AN.email, "name": AN_NAME, "language": AN.language}]
    values = {item["value"] for item in document["tables"]["data_items"]}
    for value in AN_VALUES:
        assert value in values, f"{value!r} is missing from An's copy"
    text = path.read_text(encoding="utf-8")
    for value in OTHERS_VALUES:
        assert value not in text, f"someone else's {value!r} is in An's copy"
    assert document["tables"]["downloads"] == []  # her first download: it lists the earlier ones only

    manifest = document["manifest"]
    assert [entry["name"] for entry in manifest["tables"]] == COPY_TABLES
    for entry in manifest["tables"]:
        records = document["tables"][entry["name"]]
        assert entry["rows"] == len(records), entry["name"]
        assert entry["sha256"] == sha256(b"".join(canonical(record) for record in records)), entry["name"]
    listed = json.dumps(manifest["tables"], ensure_ascii=False, sort_keys=True, separators=(",", ":")).encode()
    assert manifest["digest"] == sha256(listed)
    return document


def check_portable_zip(path: Path, app: Flask, language: str) -> str:
    """The portable export as a CSV zip: An's own values, and digests that check out. Its manifest's digest."""
    with zipfile.ZipFile(path) as archive:
        assert archive.testzip() is None
        names = archive.namelist()
        assert names == ["subject.csv", "data_items.csv", "manifest.json", "README.txt"]
        files = {name: archive.read(name) for name in names}

    manifest_bytes = files["manifest.json"]
    manifest = json.loads(manifest_bytes)
    assert manifest["kind"] == "portable"
    assert manifest["subject_email"] == AN.email
    assert manifest["language"] == language
    assert [entry["name"] for entry in manifest["files"]] == ["subject.csv", "data_items.csv"]
    for entry in manifest["files"]:
        data = files[entry["name"]]
        assert entry["sha256"] == sha256(data), entry["name"]
        rows = list(csv.reader(io.StringIO(data.decode("utf-8"), newline="")))
        assert entry["rows"] == len(rows) - 1, entry["name"]  # the first row names the columns

    subject = list(csv.DictReader(io.StringIO(files["subject.csv"].decode("utf-8"), newline="")))
    assert subject == [{"email": AN.email, "name": AN_NAME}]
    items = list(csv.DictReader(io.StringIO(files["data_items.csv"].decode("utf-8"), newline="")))
    values = {item["value"] for item in items}
    for value in AN_PORTABLE:
        assert value in values, f"{value!r} is missing from An's portable export"
    for value in AN_NOT_PORTABLE:
        assert value not in values, f"{value!r} is in the portable export, which holds only what she gave us"
    everything = b"".join(files.values()).decode("utf-8")
    for value in OTHERS_VALUES:
        assert value not in everything, f"someone else's {value!r} is in An's portable export"

    digest = sha256(manifest_bytes)
    readme = files["README.txt"].decode("utf-8")
    assert say(app, language, "For: %(email)s", email=AN.email) in readme
    assert say(app, language, "The SHA-256 of manifest.json is: %(digest)s", digest=digest) in readme
    for entry in manifest["files"]:
        assert entry["name"] in readme
    return digest


# --- the journey ---------------------------------------------------------------------------------------


@pytest.mark.clause("2.4.access", "2.4.portability")
@pytest.mark.parametrize("language", LANGUAGES)
def test_a_customer_downloads_her_data_and_finds_the_digests_of_her_files(
    new_page: NewPage, inbox: Inbox, live_server: str, live_app: Flask, artifacts: Path, tmp_path: Path,
    no_downloads_left: None, language: str,
) -> None:
    page = new_page(locale=LOCALES[language], accept_downloads=True)
    sign_in(page, inbox, live_server, language, AN)
    go_to_downloads(page, live_app, language)  # signed in just now: no confirmation asked
    main = page.get_by_role("main")
    expect(main).to_contain_text(say(live_app, language, "You have not downloaded anything yet."))
    expect(downloads_table(page)).to_have_count(0)
    for kind in ("copy", "portable"):
        for fmt in ("json", "csv"):
            expect(download_button(page, kind, fmt)).to_be_visible()
    check_accessibility(page, f"/me/downloads ({language})")

    # The copy as JSON, valid against the JSON Schema the page links to.
    copy, copy_path = download(page, "copy", "json", tmp_path)
    assert re.fullmatch(r"we-are-copy-of-my-data-\d{4}-\d{2}-\d{2}\.json", copy.suggested_filename)
    document = check_json_copy(copy_path, language)
    schema_link = main.get_by_role("link", name="portal-export-1.schema.json", exact=True)
    schema = page.request.get(schema_link.get_attribute("href") or "")
    assert schema.ok
    errors = [error.message for error in Draft202012Validator(schema.json()).iter_errors(document)]
    assert errors == [], errors
    expect(page).to_have_url(f"{live_server}/me/downloads")  # a download leaves the page where it was

    # The portable export as a CSV zip.
    portable, portable_path = download(page, "portable", "csv", tmp_path)
    assert re.fullmatch(r"we-are-portable-export-\d{4}-\d{2}-\d{2}\.zip", portable.suggested_filename)
    portable_manifest = check_portable_zip(portable_path, live_app, language)

    # The readable copy: her values, and a manifest whose tables are those of the JSON she just saved
    # (all but the downloads, which now lists the two before it).
    with page.expect_response(re.compile(r"/me/downloads/copy\.html$")) as answer:
        main.locator('form[action$="/me/downloads/copy.html"] button').click()
    response = answer.value
    assert response.status == 200
    readable_body = response.body()
    expect(heading_1(page)).to_have_text(say(live_app, language, "Copy of your personal data"))
    expect_language(page, language)
    for value in (AN.email, AN_NAME, *AN_VALUES):
        expect(main).to_contain_text(value)
    for value in OTHERS_VALUES:
        expect(main).not_to_contain_text(value)
    manifest_section = page.get_by_role("region", name=say(live_app, language, "Manifest"), exact=True)
    readable_manifest = manifest_section.locator("code.digest").inner_text()
    assert SHA256.match(readable_manifest), readable_manifest
    manifest_rows = manifest_section.locator("tbody tr")
    expect(manifest_rows).to_have_count(len(COPY_TABLES))
    json_tables = {entry["name"]: entry for entry in document["manifest"]["tables"]}
    for number, name in enumerate(COPY_TABLES):
        cells = manifest_rows.nth(number).locator("td")
        expect(cells.nth(0)).to_have_text(name)
        if name == "downloads":
            expect(cells.nth(1)).to_have_text("2")  # the JSON and the zip
        else:
            expect(cells.nth(1)).to_have_text(str(json_tables[name]["rows"]))
            expect(cells.nth(2)).to_have_text(json_tables[name]["sha256"])
    page.screenshot(path=str(artifacts / f"readable-copy-{language}.png"), full_page=True)
    check_accessibility(page, f"/me/downloads/copy.html ({language})")

    # Back on the downloads page, every download is listed, newest first, with the digests of the files.
    main.get_by_role("link", name=say(live_app, language, "Back to your downloads"), exact=True).click()
    expect(page).to_have_url(f"{live_server}/me/downloads")
    expect(heading_1(page)).to_have_text(say(live_app, language, "Download your data"))
    rows = downloads_table(page).locator("tbody tr")
    expect(rows).to_have_count(3)
    copy_word, portable_word = say(live_app, language, "Copy"), say(live_app, language, "Portable export")
    expected = [  # what, format, manifest digest, file digest
        (copy_word, "HTML", readable_manifest, sha256(readable_body)),
        (portable_word, "CSV", portable_manifest, sha256(portable_path.read_bytes())),
        (copy_word, "JSON", document["manifest"]["digest"], sha256(copy_path.read_bytes())),
    ]
    for number, (what, fmt, manifest_digest, file_digest) in enumerate(expected):
        row = rows.nth(number)
        expect(row.locator("td").nth(1)).to_have_text(what)
        expect(row.locator("td").nth(2)).to_have_text(fmt)
        assert listed_digests(row) == (manifest_digest, file_digest), f"row {number + 1}: {what} {fmt}"
    expect(main).not_to_contain_text(say(live_app, language, "interrupted: not completed"))
    check_accessibility(page, f"/me/downloads with three downloads ({language})")
    page.screenshot(path=str(artifacts / f"downloads-{language}.png"), full_page=True)

    # The database holds the same, each download completed.
    recorded = recorded_downloads(live_app)
    assert [(d.kind, d.format) for d in recorded] == [("copy", "json"), ("portable", "csv"), ("copy", "html")]
    assert all(d.email == AN.email and d.completed_at is not None for d in recorded)


# --- a stale confirmation ------------------------------------------------------------------------------


@pytest.mark.clause("2.4.verification")
@pytest.mark.parametrize("language", LANGUAGES)
def test_the_downloads_ask_for_a_fresh_confirmation(
    new_page: NewPage, inbox: Inbox, live_server: str, live_app: Flask, no_downloads_left: None, language: str,
) -> None:
    page = new_page(locale=LOCALES[language], accept_downloads=True)
    sign_in(page, inbox, live_server, language, AN)
    go_to_downloads(page, live_app, language)

    # The page was open when the confirmation went stale: a download posted now sends nothing.
    make_confirmation_stale(live_app, AN.email)
    downloads: list[BrowserDownload] = []
    page.on("download", lambda started: downloads.append(started))
    with page.expect_response(re.compile(r"/me/downloads/copy\.json$")) as answer:
        download_button(page, "copy", "json").click()
    assert answer.value.status == 403
    expect(heading_1(page)).to_have_text(CONFIRM_H1[language])
    expect(page.get_by_role("main")).to_contain_text(AN.email)
    assert downloads == []
    assert recorded_downloads(live_app) == []

    # Opening the page asks for the confirmation too, and shows none of her data. The readable copy is a
    # form post like the downloads: a plain visit to its address hands out nothing either.
    response = page.goto("/me/downloads/copy.html")
    assert response is not None and response.status == 405
    expect(page.get_by_role("main")).not_to_contain_text(AN_VALUES[0])
    for path in ("/me/downloads",):
        response = page.goto(path)
        assert response is not None and response.status == 403, path
        expect_language(page, language)
        expect(heading_1(page)).to_have_text(CONFIRM_H1[language])
        main = page.get_by_role("main")
        expect(main).to_contain_text(AN.email)  # whose address the confirmation link goes to
        expect(page.locator('form[action*="/me/downloads/"]')).to_have_count(0)
        for value in AN_VALUES:
            expect(main).not_to_contain_text(value)
    assert recorded_downloads(live_app) == []
