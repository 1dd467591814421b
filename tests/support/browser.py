"""What the browser tests share: the page in Chromium, accessibility, the demo people, signing in, the rights pages.

The pages are read as a person reads them: by role and label, in the browser's language (`LOCALES`), with
`<html lang>` showing the language. Signing in goes through the real flow: ask for a link, read the mail at
the suite's SMTP server (the `inbox` fixture), open its link and press the button. Wording that the sign-in
flow shows is written out in both languages below; the rights pages' wording comes from the live app's
compiled catalogue (`say`), so that the tests hold while the Dutch catalogue is being filled. Dates are
written as the pages write them with `long_date` (tests/support/pages.py). Fixtures stay in
tests/browser/conftest.py.
"""

from __future__ import annotations

import datetime as dt
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from email.message import EmailMessage
from typing import Any

from axe_playwright_python.sync_playwright import Axe
from flask import Flask
from playwright.sync_api import Locator, Page, expect
from sqlalchemy import update

from portal.models import AuthSession
from tests.conftest import Inbox
from tests.support import people
from tests.support.pages import in_language

NewPage = Callable[..., Page]
LOCALES = {"nl": "nl-BE", "en": "en-GB"}
WCAG_21_AA_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]


# --- the page ----------------------------------------------------------------------------------------------------


def expect_language(page: Page, language: str) -> None:
    expect(page.locator("html")).to_have_attribute("lang", language)


def heading_1(page: Page) -> Locator:
    return page.get_by_role("heading", level=1)


def check_accessibility(page: Page, where: str) -> None:
    results = Axe().run(
        page, options={"runOnly": {"type": "tag", "values": WCAG_21_AA_TAGS}, "resultTypes": ["violations"]}
    )
    violations = results.response["violations"]
    assert not violations, describe_violations(where, violations)


def describe_violations(where: str, violations: list[dict[str, Any]]) -> str:
    lines = [f"{len(violations)} WCAG 2.1 A/AA violation(s) on {where}:"]
    for violation in violations:
        lines.append(f"- {violation['id']} ({violation['impact']}): {violation['help']} <{violation['helpUrl']}>")
        for node in violation["nodes"]:
            lines.append(f"    at {', '.join(map(str, node['target']))}: {node['html']}")
            lines.extend(f"      {summary}" for summary in node.get("failureSummary", "").splitlines())
    return "\n".join(lines)


# --- the demo people ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Person:
    email: str
    language: str  # the language stored for them: their mails are in it, whatever the page's language
    relations: dict[str, tuple[str, ...]]  # the names of their relations on /me, per page language


# Demo people of portal/demo/subjects.json, with their relations' names from portal/policy/register.toml.
AN = Person(people.AN, "nl", {
    "nl": ("Klant", "Websitebezoeker of nieuwsbriefabonnee"),
    "en": ("Customer", "Website visitor or newsletter subscriber"),
})
HANNE = Person(people.HANNE, "en", {
    "nl": ("Deelnemer aan een activiteit", "Klant"), "en": ("Participant in an activity", "Customer")})


# --- signing in --------------------------------------------------------------------------------------------------


# What a person reads, in the two languages; the Dutch comes from translations/nl/LC_MESSAGES/messages.po.
MAIN_NAV = {"nl": "Hoofdmenu", "en": "Main"}
SIGN_IN = {"nl": "Aanmelden", "en": "Sign in"}  # the nav link, and the button on the link's page
MY_DATA = {"nl": "Mijn gegevens", "en": "My data"}
SIGN_OUT = {"nl": "Afmelden", "en": "Sign out"}
SIGN_IN_H1 = {"nl": "Aanmelden met uw e-mailadres", "en": "Sign in with your e-mail address"}
EMAIL_LABEL = {"nl": "E-mailadres", "en": "E-mail address"}
SEND_LINK = {"nl": "Stuur mij een aanmeldlink", "en": "Send me a sign-in link"}
CHECK_MAIL_H1 = {"nl": "Kijk uw mailbox na", "en": "Check your mail"}
SENT_TO = {"nl": "Wij hebben een aanmeldlink gestuurd naar {email}.", "en": "We have sent a sign-in link to {email}."}
CODE_LABEL = {"nl": "Code uit de e-mail", "en": "Code from the mail"}
SIGN_IN_WITH_CODE = {"nl": "Aanmelden met de code", "en": "Sign in with the code"}
OPEN_LINK_H1 = {"nl": "Aanmelden bij het privacyportaal", "en": "Sign in to the privacy portal"}
ME_H1 = {"nl": "Uw gegevens bij We Are", "en": "Your data at We Are"}
SIGNED_IN_AS = {"nl": "U bent aangemeld als {email}.", "en": "You are signed in as {email}."}
NO_DATA = {"nl": "Onder dit e-mailadres houden wij geen persoonsgegevens bij",
           "en": "We hold no personal data under this address"}
SIGN_IN_FIRST = {"nl": "Meld u aan om deze pagina te bekijken.", "en": "Sign in to see this page."}
SESSION_ENDED = {"nl": "Uw sessie is beëindigd:", "en": "Your session has ended:"}
CONFIRM_H1 = {"nl": "Bevestig dat u het bent", "en": "Confirm it is you"}


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


# --- the rights pages, in the live app's wording -----------------------------------------------------------------


def say(app: Flask, language: str, msgid: str, **variables: object) -> str:
    return in_language(app, language, msgid, **variables)


def register_of(app: Flask):  # type: ignore[no-untyped-def]
    return app.extensions["portal.register"]


def go_to_rights(page: Page, app: Flask, language: str) -> None:
    """From /me, the button that leads to the rights."""
    page.get_by_role("main").get_by_role("link", name=say(app, language, "Exercise your rights"), exact=True).click()
    expect(page).to_have_url(re.compile(r"/me/rights$"))
    expect_language(page, language)
    expect(heading_1(page)).to_have_text(say(app, language, "Your rights"))


def ask_for(page: Page, app: Flask, language: str, right: str) -> None:
    """On /me/rights: "Ask for this" next to a right answered by the data protection manager."""
    name = register_of(app).rights[right].name.in_language(language)
    offer = page.locator("ul.offers > li").filter(has=page.locator("strong", has_text=re.compile(f"^{name}$")))
    offer.get_by_role("link", name=say(app, language, "Ask for this"), exact=True).click()
    expect(heading_1(page)).to_have_text(name)


def to_my_data(page: Page, app: Flask, language: str) -> None:
    page.get_by_role("navigation", name=say(app, language, "Main")).get_by_role(
        "link", name=say(app, language, "My data"), exact=True).click()
    expect(page).to_have_url(re.compile(r"/me$"))


def request_card(page: Page, app: Flask, language: str, right: str) -> Locator:
    """The request about `right` on /me/requests (the newest such)."""
    name = register_of(app).rights[right].name.in_language(language) if right in register_of(app).rights else right
    return page.locator("section.request").filter(
        has=page.get_by_role("heading", level=2, name=re.compile(f"^{re.escape(name)}"))).first


def expect_flash(page: Page, app: Flask, language: str, msgid: str) -> None:
    expect(page.get_by_role("main").get_by_role("status")).to_contain_text(say(app, language, msgid))
