"""Exercising rights as a person does it in Chromium, in Dutch and English, every page checked with axe.

A newsletter subscriber withdraws her consent and sees the newsletter stop on /me at once; a participant
objects to the surveys and finds her request on the status page; a customer proposes one new value and
sees the old and the new side by side; a customer objects to direct marketing with one click and lifts it
again. The live server serves the demo people to the whole browser package, so each test puts their
consents back and removes the requests and objections it made (`clean_slate`).

Wording is taken from the live app's compiled catalogue (`say`), so these tests hold while the Dutch
catalogue is being filled; `<html lang>` and Babel's month names show the language independently of it.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from flask import Flask
from playwright.sync_api import Locator, Page, expect
from sqlalchemy import delete, select

from portal.models import Consent, MarketingObjection, RequestedChange, RequestEvent, RightsRequest
from portal.policy.deadlines import answer_due
from tests.conftest import Inbox
from tests.support import people
from tests.support.browser import (
    AN,
    HANNE,
    LOCALES,
    NewPage,
    Person,
    ask_for,
    check_accessibility,
    expect_flash,
    expect_language,
    go_to_rights,
    heading_1,
    mail_to,
    register_of,
    request_card,
    say,
    sign_in,
    to_my_data,
)
from tests.support.pages import long_date

LANGUAGES = ["nl", "en"]
EVA = Person(people.EVA, "nl", {
    "nl": ("Deelnemer aan een activiteit",), "en": ("Participant in an activity",)})
REQUEST_FORMS = ["access", "erasure", "restriction", "objection", "portability"]


@pytest.fixture
def clean_slate(live_app: Flask) -> Iterator[None]:
    """After the test: the demo people's consents as they were, and no request or objection left."""
    database = live_app.extensions["portal.db"]
    with database.session() as session:
        before = {consent.id: consent.withdrawn for consent in session.scalars(select(Consent))}
    yield
    with database.session() as session:
        for consent in session.scalars(select(Consent)):
            if consent.id not in before:
                session.delete(consent)
            else:
                consent.withdrawn = before[consent.id]
        for model in (RequestEvent, RequestedChange, RightsRequest, MarketingObjection):
            session.execute(delete(model))
        session.commit()


def purpose_on_me(page: Page, app: Flask, language: str, purpose_id: str) -> Locator:
    description = register_of(app).purposes[purpose_id].description.in_language(language)
    return page.locator("details.purpose").filter(
        has=page.locator("summary", has_text=description)).locator("summary")


# --- a newsletter subscriber withdraws her consent -------------------------------------------------------------


@pytest.mark.clause("2.4.withdrawal")
@pytest.mark.parametrize("language", LANGUAGES)
def test_a_newsletter_subscriber_withdraws_her_consent_and_the_newsletter_stops_at_once(
    new_page: NewPage, inbox: Inbox, live_server: str, live_app: Flask, artifacts: Path, clean_slate: None,
    language: str,
) -> None:
    page = new_page(locale=LOCALES[language])
    sign_in(page, inbox, live_server, language, AN)
    newsletter = purpose_on_me(page, live_app, language, "visitor.2")
    expect(newsletter).not_to_contain_text(say(live_app, language, "stopped: consent withdrawn"))

    go_to_rights(page, live_app, language)
    check_accessibility(page, f"/me/rights ({language})")
    page.screenshot(path=str(artifacts / f"rights-{language}.png"), full_page=True)
    description = register_of(live_app).purposes["visitor.2"].description.in_language(language)
    consent = page.locator("ul.actions > li").filter(has_text=description)
    consent.get_by_role("button", name=say(live_app, language, "Withdraw this consent"), exact=True).click()

    # One click: it is done, and recorded among the requests.
    expect(page).to_have_url(f"{live_server}/me/requests")
    expect_flash(page, live_app, language, "Your consent is withdrawn. We stopped this purpose today.")
    card = request_card(page, live_app, language, "withdrawal")
    expect(card.locator(".badge")).to_have_text(say(live_app, language, "completed"))

    to_my_data(page, live_app, language)
    newsletter = purpose_on_me(page, live_app, language, "visitor.2")
    expect(newsletter).to_contain_text(say(live_app, language, "stopped: consent withdrawn"))
    newsletter.click()
    expect(page.locator("details.purpose[open]")).to_contain_text(
        say(live_app, language, "withdrawn on %(date)s", date=long_date(dt.date.today(), language)))

    mail = mail_to(inbox, AN.email, 2)  # after the sign-in mail: the confirmation, in An's Dutch
    right = register_of(live_app).rights["withdrawal"].name.in_language(AN.language)
    assert mail["Subject"] == say(live_app, AN.language, "Your request: %(right)s", right=right)


# --- a participant objects to the surveys --------------------------------------------------------------------


@pytest.mark.clause("2.4.objection", "2.4.response_time")
@pytest.mark.parametrize("language", LANGUAGES)
def test_a_participant_objects_to_surveys_and_finds_it_on_the_status_page(
    new_page: NewPage, inbox: Inbox, live_server: str, live_app: Flask, artifacts: Path, clean_slate: None,
    language: str,
) -> None:
    page = new_page(locale=LOCALES[language])
    sign_in(page, inbox, live_server, language, EVA)
    go_to_rights(page, live_app, language)
    ask_for(page, live_app, language, "objection")
    expect(page).to_have_url(f"{live_server}/me/rights/objection")
    check_accessibility(page, f"/me/rights/objection ({language})")

    scope = page.get_by_label(say(live_app, language, "What it is about"), exact=True)
    surveys = register_of(live_app).purposes["participant.2"].description.in_language(language)
    expect(scope.locator("option")).to_have_count(2)  # her two purposes on legitimate interest
    expect(scope.locator('option[value="purpose:participant.2"]')).to_contain_text(surveys)
    scope.select_option("purpose:participant.2")
    page.get_by_role("button", name=say(live_app, language, "Send my request"), exact=True).click()

    expect(page).to_have_url(f"{live_server}/me/requests")
    expect_flash(page, live_app, language,
                 "We received your request. You will find it below, with the date of our answer.")
    card = request_card(page, live_app, language, "objection")
    expect(card.locator(".badge")).to_have_text(say(live_app, language, "received"))
    due = answer_due(dt.date.today(), response_time=register_of(live_app).handling.response_time)
    expect(card).to_contain_text(say(live_app, language, "Our answer at the latest on %(date)s",
                                     date=long_date(due, language)))
    expect(card.locator("ol.history > li")).to_have_count(1)
    check_accessibility(page, f"/me/requests with an objection ({language})")
    page.screenshot(path=str(artifacts / f"requests-objection-{language}.png"), full_page=True)
    # What she objected to is on the page: the surveys.
    expect(card).to_contain_text(surveys)


# --- a customer proposes one new value -----------------------------------------------------------------------


@pytest.mark.clause("2.4.rectification")
@pytest.mark.parametrize("language", LANGUAGES)
def test_a_customer_asks_to_rectify_one_value_and_sees_old_and_new_side_by_side(
    new_page: NewPage, inbox: Inbox, live_server: str, live_app: Flask, artifacts: Path, clean_slate: None,
    language: str,
) -> None:
    page = new_page(locale=LOCALES[language])
    sign_in(page, inbox, live_server, language, AN)
    go_to_rights(page, live_app, language)
    ask_for(page, live_app, language, "rectification")
    expect(page).to_have_url(f"{live_server}/me/rights/rectification")
    check_accessibility(page, f"/me/rights/rectification ({language})")

    first = page.locator("fieldset.rectify .field").first
    field_name, old = first.locator("label").inner_text().split(": ", 1)
    first.get_by_role("textbox").fill("Veldstraat 1, 9000 Gent")
    page.get_by_role("button", name=say(live_app, language, "Send my request"), exact=True).click()

    expect(page).to_have_url(f"{live_server}/me/requests")
    card = request_card(page, live_app, language, "rectification")
    table = card.get_by_role("table")
    expect(table.locator("thead th")).to_have_text(
        [say(live_app, language, heading) for heading in ("What", "As we hold it", "As you propose")])
    expect(table.locator("tbody tr")).to_have_count(1)
    expect(table.locator("tbody tr td")).to_have_text([field_name, old, "Veldstraat 1, 9000 Gent"])
    check_accessibility(page, f"/me/requests ({language})")
    page.screenshot(path=str(artifacts / f"requests-{language}.png"), full_page=True)


# --- objecting to direct marketing in one click -------------------------------------------------------------------


@pytest.mark.clause("2.4.direct_marketing")
@pytest.mark.parametrize("language", LANGUAGES)
def test_a_customer_objects_to_direct_marketing_in_one_click_and_can_lift_it(
    new_page: NewPage, inbox: Inbox, live_server: str, live_app: Flask, clean_slate: None, language: str,
) -> None:
    page = new_page(locale=LOCALES[language])
    sign_in(page, inbox, live_server, language, HANNE)
    stopped = say(live_app, language, "stopped: you objected to direct marketing")
    go_to_rights(page, live_app, language)
    page.get_by_role("button", name=say(live_app, language, "Object to direct marketing"), exact=True).click()

    expect(page).to_have_url(f"{live_server}/me/requests")
    expect_flash(page, live_app, language, "Done: we no longer use your data for direct marketing, from today.")
    expect(request_card(page, live_app, language, "direct_marketing_objection").locator(".badge")).to_have_text(
        say(live_app, language, "completed"))
    to_my_data(page, live_app, language)
    register = register_of(live_app)
    for kind in ("participant", "customer"):
        for purpose in register.purposes_of(kind):
            summary = purpose_on_me(page, live_app, language, purpose.id)
            if purpose.direct_marketing:  # participant.3 and customer.5
                expect(summary).to_contain_text(stopped)
            else:
                expect(summary).not_to_contain_text(stopped)

    go_to_rights(page, live_app, language)
    page.get_by_role("button", name=say(live_app, language, "Lift my objection"), exact=True).click()
    expect_flash(page, live_app, language, "Your objection to direct marketing is lifted.")
    to_my_data(page, live_app, language)
    expect(page.locator("details.purpose summary", has_text=stopped)).to_have_count(0)
    assert mail_to(inbox, HANNE.email, 3)["To"] == HANNE.email  # sign-in, objection, lift


# --- every form page is accessible, also with an error -------------------------------------------------------


@pytest.mark.parametrize("language", LANGUAGES)
def test_every_request_form_is_accessible_and_keeps_what_was_typed(
    new_page: NewPage, inbox: Inbox, live_server: str, live_app: Flask, clean_slate: None, language: str,
) -> None:
    page = new_page(locale=LOCALES[language])
    sign_in(page, inbox, live_server, language, HANNE)
    register = register_of(live_app)
    for right in REQUEST_FORMS:
        response = page.goto(f"/me/rights/{right}")
        assert response is not None and response.status == 200, right
        expect_language(page, language)
        expect(heading_1(page)).to_have_text(register.rights[right].name.in_language(language))
        check_accessibility(page, f"/me/rights/{right} ({language})")
    page.goto("/me/rights/rectification")
    check_accessibility(page, f"/me/rights/rectification ({language})")

    # The browser stops at 4000 characters; past it (a browser that ignores maxlength), the portal refuses
    # with a message next to the field, and nothing typed is lost.
    page.goto("/me/rights/access")
    typed = "Welke gegevens over mij gaven jullie door? " + "x" * 4000
    details = page.get_by_label(say(live_app, language, "Anything you want to add (optional)"), exact=True)
    expect(details).to_have_attribute("maxlength", "4000")
    details.evaluate("textarea => textarea.removeAttribute('maxlength')")
    details.fill(typed)
    with page.expect_response(re.compile(r"/me/rights/access$")) as answer:
        page.get_by_role("button", name=say(live_app, language, "Send my request"), exact=True).click()
    assert answer.value.status == 400
    expect(page.get_by_role("main")).to_contain_text(
        say(live_app, language, "Please keep it under %(max)d characters.", max=4000))
    expect(details).to_have_value(typed)
    expect(details).to_have_attribute("aria-invalid", "true")
    check_accessibility(page, f"/me/rights/access with an error ({language})")


# --- the other requests: access, erasure, restriction, portability ------------------------------------------


@pytest.mark.clause("2.4.access", "2.4.erasure", "2.4.restriction", "2.4.portability")
@pytest.mark.parametrize("language", LANGUAGES)
@pytest.mark.parametrize("right", ["access", "erasure", "restriction", "portability"])
def test_a_customer_asks_for_each_other_right_and_finds_it_on_the_status_page(
    new_page: NewPage, inbox: Inbox, live_server: str, live_app: Flask, clean_slate: None, language: str,
    right: str,
) -> None:
    page = new_page(locale=LOCALES[language])
    sign_in(page, inbox, live_server, language, HANNE)
    go_to_rights(page, live_app, language)
    ask_for(page, live_app, language, right)
    if right == "erasure":  # says beforehand what would be kept, and until when
        expect(page.get_by_role("main")).to_contain_text(
            say(live_app, language, "What we would erase, and what we must keep"))
    page.get_by_label(say(live_app, language, "Anything you want to add (optional)"), exact=True).fill(
        f"Browser journey: {right}")
    page.get_by_role("button", name=say(live_app, language, "Send my request"), exact=True).click()
    expect(page).to_have_url(f"{live_server}/me/requests")
    card = request_card(page, live_app, language, right)
    expect(card.locator(".badge")).to_have_text(say(live_app, language, "received"))
    expect(card).to_contain_text(f"Browser journey: {right}")
    # The confirming mail reached the SMTP server, in her stored language (English).
    mail = mail_to(inbox, HANNE.email, number=2)  # the first one was the sign-in link
    assert register_of(live_app).rights[right].name.en in mail["Subject"]
