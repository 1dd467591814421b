"""Signing in as a person does it in Chromium: ask for a link, read the mail, open it or type its code.

The live server sends its mail over real SMTP to the suite's aiosmtpd server; the tests read it from
the `inbox` fixture and open the link it contains, as it is, in the browser. Every flow runs in Dutch
and in English (the browser's locale), and every page of the flow is checked with axe-core against
WCAG 2.1 A/AA.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
from flask import Flask
from playwright.sync_api import Page, expect

from tests.conftest import Inbox
from tests.support import people
from tests.support.browser import (
    AN,
    CHECK_MAIL_H1,
    CODE_LABEL,
    CONFIRM_H1,
    EMAIL_LABEL,
    LOCALES,
    SEND_LINK,
    SESSION_ENDED,
    SIGN_IN,
    SIGN_IN_FIRST,
    SIGN_IN_H1,
    SIGN_OUT,
    NewPage,
    Person,
    ask_for_link,
    check_accessibility,
    expect_language,
    expect_overview,
    expect_signed_in,
    expect_signed_out,
    heading_1,
    make_confirmation_stale,
    open_link,
    press_sign_in,
    read_sign_in_mail,
    sign_in,
    sign_in_for_me,
    type_code,
)

LANGUAGES = ["nl", "en"]

# What a person reads, in the two languages; the Dutch comes from translations/nl/LC_MESSAGES/messages.po. What the
# other browser tests read as well (the sign-in form, the overview's heading, ...) is in tests/support/browser.py.
ENTER_EMAIL = {"nl": "Vul uw e-mailadres in.", "en": "Enter your e-mail address."}
ONE_EMAIL = {"nl": "Vul één enkel e-mailadres in, bijvoorbeeld naam@example.com.",
             "en": "Enter exactly one e-mail address, such as name@example.com."}
WRONG_CODE = {
    "nl": lambda tries: f"Deze code klopt niet. U kunt het nog {tries} keer proberen.",
    "en": lambda tries: f"This code is not right. You can try {tries} more {'time' if tries == 1 else 'times'}.",
}
LINK_INVALID_H1 = {"nl": "Deze link werkt niet meer", "en": "This link no longer works"}
SEND_NEW_LINK = {"nl": "Stuur mij een nieuwe aanmeldlink", "en": "Send me a new link"}
SIGNED_OUT = {"nl": "U bent afgemeld.", "en": "You are signed out."}
SEND_CONFIRMATION = {"nl": "Stuur mij een bevestigingslink", "en": "Send me a confirmation link"}
CONFIRM = {"nl": "Bevestigen", "en": "Confirm"}
SESSIONS_H1 = {"nl": "Waar u bent aangemeld", "en": "Where you are signed in"}
THIS_BROWSER = {"nl": "Deze browser", "en": "This browser"}
YES = {"nl": "ja", "en": "yes"}
MAIL_SUBJECT = {"nl": "Uw aanmeldlink voor het privacyportaal", "en": "Your sign-in link for the privacy portal"}
CONFIRM_SUBJECT = {"nl": "Bevestig dat u het bent: uw link voor het privacyportaal",
                   "en": "Confirm it is you: your link for the privacy portal"}

# Demo people of portal/demo/subjects.json, with their relations' names from portal/policy/register.toml.
CHLOE = Person(people.CHLOE, "en", {
    "nl": ("(Potentiële) sollicitant",),
    "en": ("(Prospective) applicant",),
})
# The person of each flow: a Dutch speaker on a Dutch browser, an English speaker on an English one.
PERSON = {"nl": AN, "en": CHLOE}


def nobody(language: str) -> Person:
    """An address we hold nothing under: any address may sign in, and then sees that."""
    return Person(f"nobody.{language}@example.org", language, {"nl": (), "en": ()})


# --- the mail ------------------------------------------------------------------------------------------


def wrong(code: str) -> str:
    """Another 6-digit code than the one in the mail."""
    digits = code.replace(" ", "")
    return f"{(int(digits) + 1) % 10**6:06d}"


# --- the flows -----------------------------------------------------------------------------------------


@pytest.mark.clause("2.4.verification")
@pytest.mark.parametrize("language", LANGUAGES)
def test_person_signs_in_with_the_link_from_the_mail(
    new_page: NewPage, inbox: Inbox, live_server: str, language: str,
) -> None:
    person = PERSON[language]
    page = new_page(locale=LOCALES[language])

    ask_for_link(page, language, person.email)

    mail = read_sign_in_mail(inbox, live_server, person.email)
    assert mail.message["To"] == person.email
    assert mail.message["Subject"] == MAIL_SUBJECT[person.language]  # in their stored language
    assert inbox.envelopes[-1][1] == [person.email]

    open_link(page, language, mail.link)
    # Only looking at the link (as a mail scanner does) signs nobody in: /me still sends this browser away.
    assert page.request.get("/me", max_redirects=0).status == 302

    press_sign_in(page, language)
    expect_overview(page, live_server, language, person)


@pytest.mark.parametrize("language", LANGUAGES)
def test_person_signs_in_by_typing_the_code(
    new_page: NewPage, inbox: Inbox, live_server: str, language: str,
) -> None:
    person = PERSON[language]
    browser_a = new_page(locale=LOCALES[language])
    ask_for_link(browser_a, language, person.email)

    mail = read_sign_in_mail(inbox, live_server, person.email)
    type_code(browser_a, language, mail.code)  # as the mail shows it, with its space

    expect_overview(browser_a, live_server, language, person)


@pytest.mark.parametrize("language", LANGUAGES)
def test_link_works_on_another_device_and_only_once(
    new_page: NewPage, inbox: Inbox, live_server: str, language: str,
) -> None:
    person = PERSON[language]
    asking = new_page(locale=LOCALES[language])
    ask_for_link(asking, language, person.email)
    mail = read_sign_in_mail(inbox, live_server, person.email)

    phone = new_page(locale=LOCALES[language])  # another device: no cookie of the browser that asked
    open_link(phone, language, mail.link)
    press_sign_in(phone, language)
    expect_overview(phone, live_server, language, person)

    replay = new_page(locale=LOCALES[language])
    response = replay.goto(mail.link)
    assert response is not None and response.status == 410
    expect(heading_1(replay)).to_have_text(LINK_INVALID_H1[language])
    expect(replay.get_by_role("main").get_by_role("button", name=SIGN_IN[language], exact=True)).to_have_count(0)
    expect_signed_out(replay, language)

    # The page offers a new link straight away.
    replay.get_by_label(EMAIL_LABEL[language], exact=True).fill(person.email)
    replay.get_by_role("button", name=SEND_NEW_LINK[language], exact=True).click()
    expect(replay).to_have_url(re.compile(r"/sign-in/check-mail$"))
    expect(heading_1(replay)).to_have_text(CHECK_MAIL_H1[language])
    second = read_sign_in_mail(inbox, live_server, person.email, number=2)
    assert second.link != mail.link

    # The code of the spent link does not work either in the browser that asked for it.
    type_code(asking, language, mail.code)
    expect(heading_1(asking)).to_have_text(LINK_INVALID_H1[language])
    expect_signed_out(asking, language)


@pytest.mark.parametrize("language", LANGUAGES)
def test_wrong_code_says_how_many_tries_are_left(
    new_page: NewPage, inbox: Inbox, live_server: str, language: str,
) -> None:
    person = PERSON[language]
    page = new_page(locale=LOCALES[language])
    ask_for_link(page, language, person.email)
    mail = read_sign_in_mail(inbox, live_server, person.email)

    for tries_left in (4, 3, 2, 1):
        type_code(page, language, wrong(mail.code))
        expect(heading_1(page)).to_have_text(CHECK_MAIL_H1[language])
        field = page.get_by_label(CODE_LABEL[language], exact=True)
        expect(field).to_have_attribute("aria-invalid", "true")
        error = page.locator("#code-error")
        expect(error).to_have_text(WRONG_CODE[language](tries_left))
        expect(field).to_have_attribute("aria-describedby", re.compile(r"\bcode-error\b"))
        expect_signed_out(page, language)

    # The right code still works before the tries run out.
    type_code(page, language, mail.code)
    expect_overview(page, live_server, language, person)


@pytest.mark.parametrize("language", LANGUAGES)
def test_five_wrong_codes_end_the_attempt(
    new_page: NewPage, inbox: Inbox, live_server: str, language: str,
) -> None:
    person = PERSON[language]
    page = new_page(locale=LOCALES[language])
    ask_for_link(page, language, person.email)
    mail = read_sign_in_mail(inbox, live_server, person.email)

    for _ in range(5):
        type_code(page, language, wrong(mail.code))
    expect(heading_1(page)).to_have_text(LINK_INVALID_H1[language])

    # Guessing the code spoils the link as well: it belongs to the same attempt.
    other = new_page(locale=LOCALES[language])
    response = other.goto(mail.link)
    assert response is not None and response.status == 410
    expect(heading_1(other)).to_have_text(LINK_INVALID_H1[language])


@pytest.mark.parametrize("language", LANGUAGES)
def test_sign_out_ends_the_session(new_page: NewPage, inbox: Inbox, live_server: str, language: str) -> None:
    person = PERSON[language]
    page = new_page(locale=LOCALES[language])
    sign_in(page, inbox, live_server, language, person)
    cookies = page.context.cookies()

    page.get_by_role("banner").get_by_role("button", name=SIGN_OUT[language], exact=True).click()

    expect(page).to_have_url(f"{live_server}/")
    expect(page.get_by_role("status")).to_have_text(SIGNED_OUT[language])
    expect_signed_out(page, language)

    response = page.goto("/me")
    assert response is not None and response.status == 200
    expect(page).to_have_url(sign_in_for_me(live_server))
    expect(heading_1(page)).to_have_text(SIGN_IN_H1[language])
    expect(page.get_by_role("status")).to_have_text(SIGN_IN_FIRST[language])
    expect(page.get_by_role("main")).not_to_contain_text(person.email)
    expect_signed_out(page, language)

    # The session ended on the server: a copy of the old cookie no longer opens /me.
    copy = new_page(locale=LOCALES[language])
    copy.context.add_cookies(cookies)  # type: ignore[arg-type]
    copy.goto("/me")
    expect(copy).to_have_url(sign_in_for_me(live_server))
    expect(copy.get_by_role("status")).to_contain_text(SESSION_ENDED[language])
    expect(copy.get_by_role("main")).not_to_contain_text(person.email)


@pytest.mark.parametrize("language", LANGUAGES)
def test_back_button_after_sign_out_shows_no_personal_data(
    new_page: NewPage, inbox: Inbox, live_server: str, language: str,
) -> None:
    """On a shared computer, the next person must not see /me again by pressing Back after sign-out.

    In Chromium as people use it, with its back-forward cache on: Back then shows the earlier page from
    memory without asking the server, unless that page was sent with `Cache-Control: no-store`.
    """
    person = PERSON[language]
    page = new_page(locale=LOCALES[language], back_forward_cache=True)
    sign_in(page, inbox, live_server, language, person)
    page.get_by_role("banner").get_by_role("button", name=SIGN_OUT[language], exact=True).click()
    expect(page).to_have_url(f"{live_server}/")
    expect_signed_out(page, language)

    page.go_back(wait_until="commit")  # a page restored from the cache fires no load event

    expect(page.get_by_role("main"), "Back after signing out shows the person's data again").not_to_contain_text(
        person.email
    )
    expect(heading_1(page)).to_have_text(SIGN_IN_H1[language])
    expect_signed_out(page, language)


@pytest.mark.clause("2.4.verification")
@pytest.mark.parametrize("language", LANGUAGES)
def test_sensitive_page_asks_for_a_fresh_confirmation(
    new_page: NewPage, inbox: Inbox, live_server: str, live_app: Flask, language: str,
) -> None:
    person = PERSON[language]
    page = new_page(locale=LOCALES[language])
    sign_in(page, inbox, live_server, language, person)

    response = page.goto("/me/sessions")  # signed in just now: no confirmation needed
    assert response is not None and response.status == 200
    expect(heading_1(page)).to_have_text(SESSIONS_H1[language])

    make_confirmation_stale(live_app, person.email)
    response = page.goto("/me/sessions")
    assert response is not None and response.status == 403
    expect(heading_1(page)).to_have_text(CONFIRM_H1[language])
    expect(page.get_by_role("main")).to_contain_text(person.email)
    expect_signed_in(page, language)

    page.get_by_role("button", name=SEND_CONFIRMATION[language], exact=True).click()
    expect(heading_1(page)).to_have_text(CHECK_MAIL_H1[language])
    mail = read_sign_in_mail(inbox, live_server, person.email, number=2)
    assert mail.message["Subject"] == CONFIRM_SUBJECT[person.language]

    page.goto(mail.link)
    expect(heading_1(page)).to_have_text(CONFIRM_H1[language])
    page.get_by_role("main").get_by_role("button", name=CONFIRM[language], exact=True).click()

    expect(page).to_have_url(f"{live_server}/me/sessions")  # back where they were going
    expect(heading_1(page)).to_have_text(SESSIONS_H1[language])
    expect(page.get_by_role("main")).to_contain_text(person.email)


# --- every new page, against WCAG 2.1 A/AA -----------------------------------------------------------


@dataclass(frozen=True)
class Visit:
    page: Page
    new_page: NewPage
    inbox: Inbox
    live_server: str
    app: Flask
    language: str


def reach_sign_in(visit: Visit) -> None:
    response = visit.page.goto("/sign-in")
    assert response is not None and response.status == 200
    expect(heading_1(visit.page)).to_have_text(SIGN_IN_H1[visit.language])


def reach_sign_in_with_errors(visit: Visit) -> None:
    page, language = visit.page, visit.language
    reach_sign_in(visit)
    page.get_by_role("button", name=SEND_LINK[language], exact=True).click()
    field = page.get_by_label(EMAIL_LABEL[language], exact=True)
    expect(page.locator("#email-error")).to_have_text(ENTER_EMAIL[language])
    expect(field).to_have_attribute("aria-invalid", "true")
    field.fill("an.peeters@example.com, bram.declercq@example.com")
    page.get_by_role("button", name=SEND_LINK[language], exact=True).click()
    expect(page.locator("#email-error")).to_have_text(ONE_EMAIL[language])
    expect(field).to_have_attribute("aria-invalid", "true")
    expect(field).to_have_attribute("aria-describedby", re.compile(r"\bemail-error\b"))


def reach_check_mail(visit: Visit) -> None:
    ask_for_link(visit.page, visit.language, PERSON[visit.language].email)


def reach_check_mail_with_wrong_code(visit: Visit) -> None:
    email = PERSON[visit.language].email
    ask_for_link(visit.page, visit.language, email)
    mail = read_sign_in_mail(visit.inbox, visit.live_server, email)
    type_code(visit.page, visit.language, wrong(mail.code))
    expect(visit.page.locator("#code-error")).to_have_text(WRONG_CODE[visit.language](4))


def reach_button_page(visit: Visit) -> None:
    email = PERSON[visit.language].email
    ask_for_link(visit.page, visit.language, email)
    open_link(visit.page, visit.language, read_sign_in_mail(visit.inbox, visit.live_server, email).link)


def reach_link_invalid(visit: Visit) -> None:
    response = visit.page.goto("/sign-in/" + "x" * 43)
    assert response is not None and response.status == 410
    expect(heading_1(visit.page)).to_have_text(LINK_INVALID_H1[visit.language])


def reach_overview(visit: Visit) -> None:
    sign_in(visit.page, visit.inbox, visit.live_server, visit.language, AN)


def reach_overview_without_data(visit: Visit) -> None:
    sign_in(visit.page, visit.inbox, visit.live_server, visit.language, nobody(visit.language))


def reach_confirm_needed(visit: Visit) -> None:
    reach_overview(visit)
    make_confirmation_stale(visit.app, AN.email)
    response = visit.page.goto("/me/sessions")
    assert response is not None and response.status == 403
    expect(heading_1(visit.page)).to_have_text(CONFIRM_H1[visit.language])


def reach_sessions(visit: Visit) -> None:
    reach_overview(visit)
    response = visit.page.goto("/me/sessions")
    assert response is not None and response.status == 200
    expect(heading_1(visit.page)).to_have_text(SESSIONS_H1[visit.language])
    table = visit.page.get_by_role("table")
    expect(table.get_by_role("columnheader", name=THIS_BROWSER[visit.language])).to_be_visible()
    expect(table.get_by_role("cell", name=YES[visit.language], exact=True)).to_have_count(1)


PAGES: dict[str, Callable[[Visit], None]] = {
    "sign-in": reach_sign_in,
    "sign-in-error": reach_sign_in_with_errors,
    "check-mail": reach_check_mail,
    "check-mail-wrong-code": reach_check_mail_with_wrong_code,
    "sign-in-button": reach_button_page,
    "link-invalid": reach_link_invalid,
    "me": reach_overview,
    "me-no-data": reach_overview_without_data,
    "confirm-needed": reach_confirm_needed,
    "me-sessions": reach_sessions,
}


@pytest.mark.parametrize("language", LANGUAGES)
@pytest.mark.parametrize("name", list(PAGES))
def test_sign_in_page_has_no_wcag_21_aa_violations(
    new_page: NewPage, inbox: Inbox, live_server: str, live_app: Flask, artifacts: Path, name: str, language: str,
) -> None:
    """axe-core finds nothing against WCAG 2.1 A/AA. Each checked page is also saved for a person to look at."""
    page = new_page(locale=LOCALES[language])
    PAGES[name](Visit(page, new_page, inbox, live_server, live_app, language))
    expect_language(page, language)
    page.screenshot(path=artifacts / f"{name}-{language}.png", full_page=True)

    check_accessibility(page, f"{name}: {page.url} ({language})")
