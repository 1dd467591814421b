"""Changing the address one signs in with, as a person does it in Chromium, in Dutch and English.

A demo person signs in, follows "Change the address you sign in with" on /me, and types a new address.
Nothing changes until the link mailed (over real SMTP) to the NEW address is opened and confirmed; then the
person is on /me under the new address, the OLD address gets a warning with a link to undo it, and a browser
still signed in under the old address is signed out. The owner of the old mailbox opens that link and
presses its button: the old address is back, every session of the new one has ended, and the person signs
in with the old address to find their data as before.

Wording comes from the live app's compiled catalogue (`say`), as in test_rights.py. The live server serves
the demo people to the whole browser package, so each test puts the person's address back (`put_back`).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from flask import Flask
from playwright.sync_api import Page, expect
from sqlalchemy import delete, select, update

from portal.models import AddressChange, Download, MarketingObjection, RightsRequest, StatementSeen, Subject
from tests.conftest import Inbox
from tests.support import people
from tests.support.browser import (
    LOCALES,
    SESSION_ENDED,
    NewPage,
    Person,
    ask_for_link,
    check_accessibility,
    expect_language,
    expect_overview,
    expect_signed_out,
    heading_1,
    mail_to,
    open_link,
    press_sign_in,
    read_sign_in_mail,
    say,
    sign_in,
    sign_in_for_me,
)

pytestmark = pytest.mark.clause("2.4.rectification", "2.4.verification")

LANGUAGES = ["nl", "en"]
# A Dutch-speaking customer on a Dutch browser, an English-speaking visitor on an English one.
PERSON = {
    "nl": Person(people.GERT, "nl", {"nl": ("Klant",), "en": ("Customer",)}),
    "en": Person(people.FRANK, "en", {
        "nl": ("Websitebezoeker of nieuwsbriefabonnee",), "en": ("Website visitor or newsletter subscriber",)}),
}
NEW_ADDRESS = {"nl": "gert.nieuw@example.net", "en": "frank.new@example.net"}
UNDO_LINK = r"/address-change/undo/[A-Za-z0-9_.-]{20,}"


@pytest.fixture
def put_back(live_app: Flask, request: pytest.FixtureRequest) -> Iterator[None]:
    """After the test: the person under their own address again, whatever step the test failed at."""
    yield
    language = request.node.callspec.params["language"]
    old, new = PERSON[language].email, NEW_ADDRESS[language]
    database = live_app.extensions["portal.db"]
    with database.session() as session:
        if session.scalar(select(Subject.id).where(Subject.email == old)) is None and session.scalar(
                select(Subject.id).where(Subject.email == new)) is not None:
            session.execute(update(Subject).where(Subject.email == new).values(email=old))
            for table in (RightsRequest, MarketingObjection, Download):
                session.execute(update(table).where(table.email == new).values(email=old))
        session.execute(delete(StatementSeen).where(StatementSeen.email == new))
        session.execute(delete(AddressChange).where(AddressChange.old_email.in_((old, new))))
        session.commit()
        restored = session.scalar(select(Subject.id).where(Subject.email == old)) is not None
    if not restored:  # gone altogether: load the demo people again
        seeded = live_app.test_cli_runner().invoke(args=["seed-demo"])
        assert seeded.exit_code == 0, seeded.output


def subject_addresses(app: Flask, *emails: str) -> set[str]:
    with app.extensions["portal.db"].session() as session:
        return set(session.scalars(select(Subject.email).where(Subject.email.in_(emails))))


def sign_in_again(page: Page, inbox: Inbox, live_server: str, language: str, person: Person, number: int) -> None:
    """The sign-in flow for an address that already received `number - 1` mails in this test."""
    ask_for_link(page, language, person.email)
    mail = read_sign_in_mail(inbox, live_server, person.email, number=number)
    open_link(page, language, mail.link)
    press_sign_in(page, language)
    expect_overview(page, live_server, language, person)


def expect_session_ended(page: Page, live_server: str, language: str, email: str) -> None:
    """/me sends this browser to sign in: its session ended on the server."""
    page.goto("/me")
    expect(page).to_have_url(sign_in_for_me(live_server))
    expect(page.get_by_role("status")).to_contain_text(SESSION_ENDED[language])
    expect(page.get_by_role("main")).not_to_contain_text(email)
    expect_signed_out(page, language)


def change_address(page: Page, inbox: Inbox, live_server: str, app: Flask, language: str, person: Person,
                   new: str, artifacts: Path | None = None, elsewhere: Page | None = None) -> None:
    """From /me, "Change the address you sign in with", the new address typed and the mailed link confirmed.

    `elsewhere`, a browser signed in under the old address, is checked to be still signed in until the link is used.
    """
    page.goto("/me")
    link = page.get_by_role("main").locator('a[href="/me/address"]')
    expect(link).to_have_text(say(app, language, "Change the address you sign in with"))
    link.click()
    expect(page).to_have_url(f"{live_server}/me/address")
    expect_language(page, language)
    expect(heading_1(page)).to_have_text(say(app, language, "Change the address you sign in with"))
    expect(page.get_by_role("main")).to_contain_text(person.email)
    if artifacts is not None:
        check_accessibility(page, f"/me/address ({language})")
        page.screenshot(path=str(artifacts / f"change-address-{language}.png"), full_page=True)
    page.get_by_label(say(app, language, "Your new e-mail address"), exact=True).fill(new)
    page.get_by_role("button", name=say(app, language, "Send the link to my new address"), exact=True).click()
    expect(page).to_have_url(re.compile(r"/sign-in/check-mail$"))
    expect(page.get_by_role("main")).to_contain_text(new)

    # The link goes to the NEW address, in the person's own language; nothing has changed yet.
    confirmation = read_sign_in_mail(inbox, live_server, new)
    assert confirmation.message["Subject"] == say(app, person.language,
                                                  "Confirm your new address for the privacy portal")
    assert subject_addresses(app, person.email, new) == {person.email}
    if elsewhere is not None:
        elsewhere.reload()
        expect_overview(elsewhere, live_server, language, person)

    # Opening the link shows a button; pressing it makes the change and signs in under the new address.
    response = page.goto(confirmation.link)
    assert response is not None and response.status == 200
    expect(heading_1(page)).to_have_text(say(app, language, "Confirm your new address"))
    expect(page.get_by_role("main")).to_contain_text(new)
    if artifacts is not None:
        check_accessibility(page, f"the confirmation of a new address ({language})")
    page.get_by_role("main").get_by_role("button", name=say(app, language, "Confirm"), exact=True).click()
    expect_overview(page, live_server, language, Person(new, person.language, person.relations))
    assert subject_addresses(app, person.email, new) == {new}


def undo_link_in_warning(inbox: Inbox, live_server: str, app: Flask, person: Person, new: str, number: int) -> str:
    """The mail to the OLD address about the change (its `number`-th), and the one undo link in it."""
    warning = mail_to(inbox, person.email, number)
    assert warning["Subject"] == say(app, person.language, "The address of your privacy portal account was changed")
    text = warning.get_body(preferencelist=("plain",)).get_content()
    markup = warning.get_body(preferencelist=("html",)).get_content()
    assert person.email in text and new in text
    undo_links = re.findall(re.escape(live_server) + UNDO_LINK, text)
    assert len(undo_links) == 1, text
    assert f'href="{undo_links[0]}"' in markup
    return undo_links[0]


@pytest.mark.parametrize("language", LANGUAGES)
def test_a_person_changes_the_address_they_sign_in_with_and_the_old_address_is_told(
    new_page: NewPage, inbox: Inbox, live_server: str, live_app: Flask, artifacts: Path, put_back: None,
    language: str,
) -> None:
    person, new = PERSON[language], NEW_ADDRESS[language]
    page = new_page(locale=LOCALES[language])
    sign_in(page, inbox, live_server, language, person)  # the first mail to the old address
    elsewhere = new_page(locale=LOCALES[language])  # another browser, signed in under the old address
    sign_in_again(elsewhere, inbox, live_server, language, person, number=2)

    change_address(page, inbox, live_server, live_app, language, person, new, artifacts, elsewhere)

    # The OLD address is told, with a link to undo it (its third mail, after the two sign-in links) ...
    undo_link_in_warning(inbox, live_server, live_app, person, new, number=3)
    # ... and the other browser, signed in under the old address, is signed out.
    expect_session_ended(elsewhere, live_server, language, person.email)
    # The person, under the new address, finds the same data.
    page.goto("/me")
    expect_overview(page, live_server, language, Person(new, person.language, person.relations))


@pytest.mark.parametrize("language", LANGUAGES)
def test_the_old_address_undoes_the_change_and_the_new_address_is_signed_out(
    new_page: NewPage, inbox: Inbox, live_server: str, live_app: Flask, put_back: None, language: str,
) -> None:
    person, new = PERSON[language], NEW_ADDRESS[language]
    page = new_page(locale=LOCALES[language])
    sign_in(page, inbox, live_server, language, person)
    change_address(page, inbox, live_server, live_app, language, person, new)
    undo_link = undo_link_in_warning(inbox, live_server, live_app, person, new, number=2)

    # The owner of the old mailbox, in a browser of their own: "it was not me".
    owner = new_page(locale=LOCALES[language])
    response = owner.goto(undo_link)  # looking at the link changes nothing (mail scanners open links)
    assert response is not None and response.status == 200
    assert subject_addresses(live_app, person.email, new) == {new}
    expect(heading_1(owner)).to_have_text(say(live_app, language, "Undo the change of address"))
    expect(owner.get_by_role("main")).to_contain_text(person.email)
    expect(owner.get_by_role("main")).to_contain_text(new)
    check_accessibility(owner, f"the undo page ({language})")
    owner.get_by_role("button", name=say(live_app, language, "It was not me: undo the change"), exact=True).click()
    expect(owner).to_have_url(re.compile(r"/sign-in$"))
    expect(owner.get_by_role("status")).to_contain_text(say(
        live_app, language, "Your old address is back, and every session under the other address has ended. Sign "
        "in again with your own address, and write to us if you think someone else had access."))
    assert subject_addresses(live_app, person.email, new) == {person.email}

    # Every session of the new address has ended; the link cannot undo twice.
    expect_session_ended(page, live_server, language, new)
    again = owner.goto(undo_link)
    assert again is not None and again.status == 410
    expect(heading_1(owner)).to_have_text(say(live_app, language, "This address change is no longer possible"))

    # The old address signs in and finds the data as before (its third mail).
    sign_in_again(owner, inbox, live_server, language, person, number=3)
