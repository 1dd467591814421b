"""Versions of the statement through the app: which one is in force, the earlier ones, and a notice once.

What a person notices: the statement page says which version is in force and since when, lists every
version with what changed, and an earlier one can be read as it was, marked as no longer in force; after a
change, their overview tells them once what changed since their last visit. What an auditor notices: every
request and every download records the version of the register in force when it was made.

Dutch is checked on its own words here (not through the catalogue): that the statement's history reads in
Dutch is what is being proven.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import html
import json
import re

import pytest
from sqlalchemy import select

from portal.clock import utcnow
from portal.models import Download, RightsRequest, StatementSeen
from portal.policy.register import Version, archived_register
from tests.support.pages import browser_in, fetch, get_ok, submit
from tests.support.people import AN, CHLOE

pytestmark = pytest.mark.clause("4.changes")

EARLIER, CURRENT = "2023-06-20.1", "2023-06-20.2"
# The page's own words, per language: Babel's dates and the catalogue's Dutch.
WORDS = {
    "nl": {"version": "Versie {v}", "since": "geldig sinds 25 november 2026",
           "updated": "Laatst bijgewerkt op 20 juni 2023",
           "earlier": "Dit is een eerdere versie, die niet meer geldt.", "in_force": "(geldt nu)",
           "read": "deze versie lezen", "changed": "Onze privacyverklaring is gewijzigd sinds uw vorige bezoek",
           "read_versions": "Lees de verklaring en haar versies"},
    "en": {"version": "Version {v}", "since": "in force since 25 November 2026",
           "updated": "Last updated on 20 June 2023",
           "earlier": "This is an earlier version, no longer in force.", "in_force": "(in force)",
           "read": "read this version", "changed": "Our privacy statement changed since your last visit",
           "read_versions": "Read the statement and its versions"},
}
LANGUAGES = ["nl", "en"]


def page_text(response) -> str:
    """The page as a person reads it: tags out, entities decoded, white space collapsed."""
    body = response.get_data(as_text=True)
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", body)).split())


def section(response, element_id: str) -> str:
    match = re.search(rf'<section id="{element_id}"[^>]*>(.*?)</section>', response.get_data(as_text=True), re.DOTALL)
    assert match, f"no section #{element_id} on the page"
    return match.group(1)


def squash(fragment: str) -> str:
    """Markup as the text a person reads: a line break is a space, other tags are nothing."""
    return " ".join(html.unescape(re.sub(r"<[^>]+>", "", re.sub(r"<br>|</?p[^>]*>|</?h1>", " ", fragment))).split())


def versions_listed(response) -> list[str]:
    """The items of the page's list of versions, newest first, as text."""
    return [squash(item) for item in re.findall(r"<li>(.*?)</li>", section(response, "versions"), re.DOTALL)]


def change_notice(response) -> str | None:
    match = re.search(r'<section class="card note" aria-labelledby="changes-title">(.*?)</section>',
                      response.get_data(as_text=True), re.DOTALL)
    return squash(match.group(1)) if match else None


def seen(session, email: str) -> str | None:
    session.expire_all()
    return session.scalar(select(StatementSeen.version).where(StatementSeen.email == email))


# --- the statement page: the version in force, and the earlier ones --------------------------------------------


@pytest.mark.clause("4.date")
@pytest.mark.parametrize("language", LANGUAGES)
def test_the_statement_says_which_version_is_in_force_since_when_and_lists_every_version(
    client, register, language,
):
    words = WORDS[language]
    assert register.statement.version == CURRENT and [v.version for v in register.statement.history] == [
        EARLIER, CURRENT]
    page = client.get("/statement", headers={"Accept-Language": language})
    assert page.status_code == 200
    header = squash(re.search(r"<header>(.*?)</header>", page.get_data(as_text=True), re.DOTALL).group(1))
    assert f"{words['updated']} · {words['version'].format(v=CURRENT)}, {words['since']}" in header
    assert words["earlier"] not in page_text(page)

    newest, oldest = versions_listed(page)
    current, earlier = register.statement.history[1], register.statement.history[0]
    assert newest.startswith(f"{words['version'].format(v=CURRENT)}, {words['since']} {words['in_force']}")
    assert current.summary.in_language(language) in newest
    assert words["read"] not in newest  # the version in force is this page itself
    assert earlier.summary.in_language(language) in oldest
    assert oldest.startswith(words["version"].format(v=EARLIER))
    assert words["read"] in oldest
    links = re.findall(r'href="(/statement/versions/[^"]+)"', section(page, "versions"))
    assert links == [f"/statement/versions/{EARLIER}"]
    # The contents lead to the list of versions.
    assert 'href="#versions"' in page.get_data(as_text=True)


@pytest.mark.parametrize("language", LANGUAGES)
def test_an_earlier_version_is_shown_as_it_was_and_says_it_is_no_longer_in_force(client, register, language):
    words = WORDS[language]
    earlier = client.get(f"/statement/versions/{EARLIER}", headers={"Accept-Language": language})
    assert earlier.status_code == 200
    text = page_text(earlier)
    assert words["version"].format(v=EARLIER) in text
    assert words["version"].format(v=CURRENT) + "," not in squash(
        re.search(r"<header>(.*?)</header>", earlier.get_data(as_text=True), re.DOTALL).group(1))
    assert words["earlier"] in text
    assert re.search(r'<p class="note">[^<]*<a href="/statement">', earlier.get_data(as_text=True))

    # Rendered from the archived register: its statement, without what the later version added.
    archived = archived_register(EARLIER)
    assert archived is not None and archived.statement.version == EARLIER
    for clause_id in archived.clauses:
        assert f'id="{clause_id}"' in earlier.get_data(as_text=True)
    added_later = [register.rights["portability"].interpretation, register.rights["erasure"].interpretation]
    assert all(reading is not None for reading in added_later)
    assert archived.rights["portability"].interpretation is None
    current = page_text(client.get("/statement", headers={"Accept-Language": language}))
    for reading in added_later:
        assert reading.in_language(language) in current
        assert reading.in_language(language) not in text
    # What both versions say is on both pages: the statement's own text did not change.
    assert register.clauses["2.4.portability"].text.in_language(language) in text


def test_an_unknown_version_is_not_found(client):
    for version in ("2023-06-20.0", "2099-01-01.1", "latest", "..%2Fregister"):
        response = client.get(f"/statement/versions/{version}", headers={"Accept-Language": "nl"})
        assert response.status_code == 404, version
        assert "Pagina niet gevonden" in response.get_data(as_text=True)


@pytest.mark.parametrize("in_force", [CURRENT, "2023-06-20.3"])
def test_the_version_in_force_has_one_address_the_statement_page(app, client, register, in_force):
    # Temporary (302), never permanent (301): which version is in force changes with the next one published,
    # and a browser keeps a permanent redirect for good.
    if in_force != register.statement.version:
        app.extensions["portal.register"] = newer(register, in_force)
    response = client.get(f"/statement/versions/{in_force}")
    assert response.status_code == 302
    assert response.headers["Location"] == "/statement"
    assert "max-age" not in response.headers.get("Cache-Control", "")
    assert client.get(response.headers["Location"]).status_code == 200


# --- the notice on /me ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(("email", "language"), [(AN, "nl"), (CHLOE, "en")])
def test_a_person_who_last_saw_the_earlier_version_is_told_once_what_changed(
    app, session, inbox, demo, register, email, language,
):
    words = WORDS[language]
    session.add(StatementSeen(email=email, version=EARLIER, seen_at=utcnow() - dt.timedelta(days=3)))
    session.commit()
    client = browser_in(app, inbox, email, language)

    first = get_ok(client, "/me")
    notice = change_notice(first)
    assert notice is not None, "no notice of the change on /me"
    assert words["changed"] in notice
    current = register.statement.history[-1]
    assert current.summary.in_language(language) in notice
    assert words["version"].format(v=CURRENT) in notice
    assert register.statement.history[0].summary.in_language(language) not in notice  # only what is new to them
    assert words["read_versions"] in notice and 'href="/statement#versions"' in first.get_data(as_text=True)
    assert seen(session, email) == CURRENT

    again = get_ok(client, "/me")
    assert change_notice(again) is None and words["changed"] not in page_text(again)
    # Also in another browser: it is the address that has seen it, not the browser.
    other = browser_in(app, inbox, email, language)
    assert change_notice(get_ok(other, "/me")) is None


@pytest.mark.parametrize("language", LANGUAGES)
def test_a_first_visit_has_nothing_to_catch_up_on(app, session, inbox, demo, language):
    assert seen(session, AN) is None
    client = browser_in(app, inbox, AN, language)
    me = get_ok(client, "/me")
    assert change_notice(me) is None and WORDS[language]["changed"] not in page_text(me)
    assert seen(session, AN) == CURRENT  # remembered from now on
    assert change_notice(get_ok(client, "/me")) is None


def test_an_address_we_hold_nothing_under_is_told_too(app, session, inbox, demo):
    """The statement applies to anyone who signs in; the notice does not depend on holding data."""
    session.add(StatementSeen(email="nobody@example.org", version=EARLIER, seen_at=utcnow()))
    session.commit()
    client = browser_in(app, inbox, "nobody@example.org", "en")
    assert WORDS["en"]["changed"] in (change_notice(get_ok(client, "/me")) or "")


# --- requests and downloads record the version in force ----------------------------------------------------------


def newer(register, version: str):
    """The register as a later version of it: the same content, `version` in force since today."""
    later = Version(version=version, date=dt.date.today(), summary=register.statement.history[-1].summary)
    statement = dataclasses.replace(register.statement, version=version,
                                    history=(*register.statement.history, later))
    return dataclasses.replace(register, statement=statement)


@pytest.mark.parametrize("version", [CURRENT, "2023-06-20.3"])
def test_requests_and_downloads_record_the_version_of_the_register_in_force(
    app, session, inbox, demo, register, version,
):
    if version != register.statement.version:
        app.extensions["portal.register"] = newer(register, version)
    client = browser_in(app, inbox, AN, "en")
    sent = submit(client, client.get("/me/rights/access"), "", url="/me/rights/access")
    assert sent.status_code == 303
    submit(client, get_ok(client, "/me/rights"), "/me/consents/visitor.2/withdraw")
    fetch(client, "copy", "json")
    data, _headers = fetch(client, "portable", "json")

    session.expire_all()
    requests = session.scalars(select(RightsRequest).where(RightsRequest.email == AN)).all()
    assert sorted(r.right for r in requests) == ["access", "withdrawal"]
    assert {r.statement_version for r in requests} == {version}
    downloads = session.scalars(select(Download).where(Download.email == AN).order_by(Download.id)).all()
    assert [(d.kind, d.statement_version) for d in downloads] == [("copy", version), ("portable", version)]
    assert json.loads(data)["statement_version"] == version
