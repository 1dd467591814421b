"""Signing in as a person does it in Chromium: ask for a link, read the mail, open it or type its code.

The live server sends its mail over real SMTP to the suite's aiosmtpd server; the tests read it from
the `inbox` fixture and open the link it contains, as it is, in the browser. Every flow runs in Dutch
and in English (the browser's locale), and every page of the flow is checked with axe-core against
WCAG 2.1 A/AA.
"""

from __future__ import annotations

import datetime as dt
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from email.message import EmailMessage
from pathlib import Path

import pytest
from axe_playwright_python.sync_playwright import Axe
from flask import Flask
from playwright.sync_api import Locator, Page, expect
from sqlalchemy import update

from portal.models import AuthSession
from tests.browser.conftest import NewPage
from tests.browser.test_public_pages import LOCALES, WCAG_21_AA_TAGS, describe_violations, expect_language, heading_1
from tests.conftest import Inbox

LANGUAGES = ["nl", "en"]

# What a person reads, in the two languages; the Dutch comes from translations/nl/LC_MESSAGES/messages.po.
MAIN_NAV = {"nl": "Hoofdmenu", "en": "Main"}
SIGN_IN = {"nl": "Aanmelden", "en": "Sign in"}  # the nav link, and the button on the link's page
MY_DATA = {"nl": "Mijn gegevens", "en": "My data"}
SIGN_OUT = {"nl": "Afmelden", "en": "Sign out"}
SIGN_IN_H1 = {"nl": "Aanmelden met uw e-mailadres", "en": "Sign in with your e-mail address"}
EMAIL_LABEL = {"nl": "E-mailadres", "en": "E-mail address"}
SEND_LINK = {"nl": "Stuur mij een aanmeldlink", "en": "Send me a sign-in link"}
ENTER_EMAIL = {"nl": "Vul uw e-mailadres in.", "en": "Enter your e-mail address."}
ONE_EMAIL = {"nl": "Vul één enkel e-mailadres in, bijvoorbeeld naam@example.com.",
             "en": "Enter exactly one e-mail address, such as name@example.com."}
CHECK_MAIL_H1 = {"nl": "Kijk uw mailbox na", "en": "Check your mail"}
SENT_TO = {"nl": "Wij hebben een aanmeldlink gestuurd naar {email}.", "en": "We have sent a sign-in link to {email}."}
CODE_LABEL = {"nl": "Code uit de e-mail", "en": "Code from the mail"}
SIGN_IN_WITH_CODE = {"nl": "Aanmelden met de code", "en": "Sign in with the code"}
WRONG_CODE = {
    "nl": lambda tries: f"Deze code klopt niet. U kunt het nog {tries} keer proberen.",
    "en": lambda tries: f"This code is not right. You can try {tries} more {'time' if tries == 1 else 'times'}.",
}
OPEN_LINK_H1 = {"nl": "Aanmelden bij het privacyportaal", "en": "Sign in to the privacy portal"}
LINK_INVALID_H1 = {"nl": "Deze link werkt niet meer", "en": "This link no longer works"}
SEND_NEW_LINK = {"nl": "Stuur mij een nieuwe aanmeldlink", "en": "Send me a new link"}
ME_H1 = {"nl": "Uw gegevens bij We Are", "en": "Your data at We Are"}
SIGNED_IN_AS = {"nl": "U bent aangemeld als {email}.", "en": "You are signed in as {email}."}
NO_DATA = {"nl": "Onder dit e-mailadres houden wij geen persoonsgegevens bij",
           "en": "We hold no personal data under this address"}
SIGNED_OUT = {"nl": "U bent afgemeld.", "en": "You are signed out."}
SIGN_IN_FIRST = {"nl": "Meld u aan om deze pagina te bekijken.", "en": "Sign in to see this page."}
SESSION_ENDED = {"nl": "Uw sessie is beëindigd:", "en": "Your session has ended:"}
CONFIRM_H1 = {"nl": "Bevestig dat u het bent", "en": "Confirm it is you"}
SEND_CONFIRMATION = {"nl": "Stuur mij een bevestigingslink", "en": "Send me a confirmation link"}
CONFIRM = {"nl": "Bevestigen", "en": "Confirm"}
SESSIONS_H1 = {"nl": "Waar u bent aangemeld", "en": "Where you are signed in"}
THIS_BROWSER = {"nl": "Deze browser", "en": "This browser"}
YES = {"nl": "ja", "en": "yes"}
MAIL_SUBJECT = {"nl": "Uw aanmeldlink voor het privacyportaal", "en": "Your sign-in link for the privacy portal"}
CONFIRM_SUBJECT = {"nl": "Bevestig dat u het bent: uw link voor het privacyportaal",
                   "en": "Confirm it is you: your link for the privacy portal"}


@dataclass(frozen=True)
class Person:
    email: str
    language: str  # the language stored for them: their mails are in it, whatever the page's language
    relations: dict[str, tuple[str, ...]]  # the names of their relations on /me, per page language


# Demo people of portal/demo/subjects.json, with their relations' names from portal/policy/register.toml.
AN = Person("an.peeters@example.com", "nl", {
    "nl": ("Klant", "Websitebezoeker of nieuwsbriefabonnee"),
    "en": ("Customer", "Website visitor or newsletter subscriber"),
})
CHLOE = Person("chloe.martin@example.com", "en", {
    "nl": ("(Potentiële) sollicitant",),
    "en": ("(Prospective) applicant",),
})
# The person of each flow: a Dutch speaker on a Dutch browser, an English speaker on an English one.
PERSON = {"nl": AN, "en": CHLOE}


def nobody(language: str) -> Person:
    """An address we hold nothing under: any address may sign in, and then sees that."""
    return Person(f"nobody.{language}@example.org", language, {"nl": (), "en": ()})


# --- the mail ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SignInMail:
    message: EmailMessage
    link: str
    code: str  # as the mail shows it: "123 456"


def mail_to(inbox: Inbox, address: str, number: int = 1, timeout: float = 10) -> EmailMessage:
    """The `number`-th mail that reached the SMTP server for `address` during this test."""
    deadline = time.monotonic() + timeout
    wanted = 1
    while True:
        messages = inbox.wait_for(wanted, timeout=max(deadline - time.monotonic(), 0.01))
        for_address = [message for message in messages if message["To"] == address]
        if len(for_address) >= number:
            return for_address[number - 1]
        wanted = len(messages) + 1


def read_sign_in_mail(inbox: Inbox, live_server: str, address: str, number: int = 1) -> SignInMail:
    message = mail_to(inbox, address, number)
    text_part = message.get_body(preferencelist=("plain",))
    html_part = message.get_body(preferencelist=("html",))
    assert text_part is not None and html_part is not None, "the mail has a plain-text and an HTML part"
    text, html = text_part.get_content(), html_part.get_content()
    links = re.findall(rf"{re.escape(live_server)}/sign-in/[A-Za-z0-9_-]{{20,}}", text)
    assert len(links) == 1, f"one sign-in link to the live server in the mail, found {links}:\n{text}"
    assert f'href="{links[0]}"' in html, "the HTML part links to the same address as the text"
    codes = re.findall(r"\b\d{3} \d{3}\b", text)
    assert len(codes) == 1, f"one 6-digit code in the mail, found {codes}:\n{text}"
    assert codes[0] in html
    assert "%%" not in text + html, "a placeholder was left in the mail"
    return SignInMail(message, links[0], codes[0])


def wrong(code: str) -> str:
    """Another 6-digit code than the one in the mail."""
    digits = code.replace(" ", "")
    return f"{(int(digits) + 1) % 10**6:06d}"


# --- the pages -----------------------------------------------------------------------------------------


def main_nav(page: Page, language: str) -> Locator:
    return page.get_by_role("navigation", name=MAIN_NAV[language])


def expect_signed_out(page: Page, language: str) -> None:
    """The header offers to sign in, and neither the person's data nor a sign-out button."""
    expect(main_nav(page, language).get_by_role("link", name=SIGN_IN[language], exact=True)).to_be_visible()
    expect(main_nav(page, language).get_by_role("link", name=MY_DATA[language], exact=True)).to_have_count(0)
    expect(page.get_by_role("banner").get_by_role("button", name=SIGN_OUT[language], exact=True)).to_have_count(0)


def expect_signed_in(page: Page, language: str) -> None:
    expect(main_nav(page, language).get_by_role("link", name=MY_DATA[language], exact=True)).to_be_visible()
    expect(main_nav(page, language).get_by_role("link", name=SIGN_IN[language], exact=True)).to_have_count(0)
    expect(page.get_by_role("banner").get_by_role("button", name=SIGN_OUT[language], exact=True)).to_be_visible()


def ask_for_link(page: Page, language: str, email: str) -> None:
    """From the home page: "Sign in" in the nav, type the address, send; ends on the check-mail page."""
    page.goto("/")
    expect_language(page, language)
    main_nav(page, language).get_by_role("link", name=SIGN_IN[language], exact=True).click()
    expect(page).to_have_url(re.compile(r"/sign-in$"))
    expect(heading_1(page)).to_have_text(SIGN_IN_H1[language])
    page.get_by_label(EMAIL_LABEL[language], exact=True).fill(email)
    page.get_by_role("button", name=SEND_LINK[language], exact=True).click()
    expect(page).to_have_url(re.compile(r"/sign-in/check-mail$"))
    expect(heading_1(page)).to_have_text(CHECK_MAIL_H1[language])
    expect(page.get_by_role("main")).to_contain_text(SENT_TO[language].format(email=email))


def open_link(page: Page, language: str, link: str) -> None:
    """Open the mail's link: a page with a button, which does not sign in by itself."""
    response = page.goto(link)
    assert response is not None and response.status == 200
    expect(heading_1(page)).to_have_text(OPEN_LINK_H1[language])
    expect(page.get_by_role("main").get_by_role("button", name=SIGN_IN[language], exact=True)).to_be_visible()
    expect_signed_out(page, language)


def press_sign_in(page: Page, language: str) -> None:
    page.get_by_role("main").get_by_role("button", name=SIGN_IN[language], exact=True).click()


def type_code(page: Page, language: str, code: str) -> None:
    page.get_by_label(CODE_LABEL[language], exact=True).fill(code)
    page.get_by_role("button", name=SIGN_IN_WITH_CODE[language], exact=True).click()


def expect_overview(page: Page, live_server: str, language: str, person: Person) -> None:
    """/me in the page's language: whose data these are, and how we know them (or that we do not)."""
    expect(page).to_have_url(f"{live_server}/me")
    expect_language(page, language)
    expect(heading_1(page)).to_have_text(ME_H1[language])
    expect(page.get_by_role("main")).to_contain_text(SIGNED_IN_AS[language].format(email=person.email))
    expect_signed_in(page, language)
    relations = person.relations[language]
    if relations:
        # Each relation has its own section, headed by the relation's name in the page's language.
        for name in relations:
            expect(page.get_by_role("region", name=name, exact=True)).to_be_visible()
            expect(page.get_by_role("heading", level=2, name=name, exact=True)).to_be_visible()
        expect(page.get_by_role("heading", name=NO_DATA[language])).to_have_count(0)
    else:
        expect(page.get_by_role("region", name=NO_DATA[language])).to_contain_text(person.email)


def sign_in(page: Page, inbox: Inbox, live_server: str, language: str, person: Person) -> None:
    """The whole flow with the link in the same browser; ends on /me."""
    ask_for_link(page, language, person.email)
    mail = read_sign_in_mail(inbox, live_server, person.email)
    open_link(page, language, mail.link)
    press_sign_in(page, language)
    expect_overview(page, live_server, language, person)


def sign_in_for_me(live_server: str) -> re.Pattern[str]:
    """The sign-in page that brings the person back to /me afterwards."""
    return re.compile(rf"^{re.escape(live_server)}/sign-in\?next=(/|%2F)me$")


def make_confirmation_stale(app: Flask, email: str) -> None:
    """As if the person proved control of the address 11 minutes ago (sensitive pages want 10 or less)."""
    long_ago = dt.datetime.now(dt.UTC).replace(tzinfo=None) - dt.timedelta(minutes=11)
    with app.extensions["portal.db"].session() as session:
        session.execute(update(AuthSession).where(AuthSession.email == email).values(confirmed_at=long_ago))
        session.commit()


def check_accessibility(page: Page, where: str) -> None:
    results = Axe().run(
        page, options={"runOnly": {"type": "tag", "values": WCAG_21_AA_TAGS}, "resultTypes": ["violations"]}
    )
    violations = results.response["violations"]
    assert not violations, describe_violations(where, violations)


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
