"""The overview as each demo person sees it in Chromium, in Dutch and English, checked with axe.

One person per relation (and the interesting combinations): the page shows their relations, the data
held, the purposes with retention and rights, and a timeline with its text; nobody else's data.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from flask import Flask
from playwright.sync_api import expect

from tests.conftest import Inbox
from tests.support import people
from tests.support.browser import NewPage, Person, check_accessibility, sign_in

LANGUAGES = ["nl", "en"]
# Demo people of portal/demo/subjects.json, one or more per relation, with a value only they hold.
PEOPLE = {
    "customer": (Person(people.GERT, "nl", {"nl": ("Klant",), "en": ("Customer",)}),
                 "Final invoice 2016-0311"),
    "supplier": (Person(people.BRAM, "nl", {
        "nl": ("Leverancier of onderaannemer",), "en": ("Supplier or subcontractor",)}), "BE71 0961 2345 6769"),
    "visitor": (Person(people.FRANK, "en", {
        "nl": ("Websitebezoeker of nieuwsbriefabonnee",), "en": ("Website visitor or newsletter subscriber",)}),
        "203.0.113.42"),
    "applicant": (Person(people.CHLOE, "en", {
        "nl": ("(Potentiële) sollicitant",), "en": ("(Prospective) applicant",)}), "Rue Haute 12, 1000 Brussels"),
    "participant": (Person(people.EVA, "nl", {
        "nl": ("Deelnemer aan een activiteit",), "en": ("Participant in an activity",)}), "Vegetarian"),
    "customer_and_participant": (Person(people.HANNE, "en", {
        "nl": ("Deelnemer aan een activiteit", "Klant"), "en": ("Participant in an activity", "Customer")}),
        "How do you test accessibility in a design system?"),
}
# Values of other people, by owner: none may appear on anyone else's overview.
OTHERS_VALUES = {"BE68 5390 0754 7034": people.AN, "Korenlei 7, 9000 Gent": people.AN, "Stad Gent": people.EVA,
                 "BE71 0961 2345 6769": people.BRAM}
HOW_LONG = {"nl": "Hoe lang", "en": "How long"}
LEGAL_BASIS = {"nl": "Rechtsgrond", "en": "Legal basis"}
TIMELINE = {"nl": "In één oogopslag", "en": "At a glance"}


@pytest.mark.clause("2.4.access", "3.1.data", "3.2.data", "3.3.data", "3.4.data", "3.5.data")
@pytest.mark.parametrize("language", LANGUAGES)
@pytest.mark.parametrize("who", list(PEOPLE))
def test_each_relation_as_its_person_sees_it(
    new_page: NewPage, inbox: Inbox, live_server: str, live_app: Flask, artifacts: Path, who: str, language: str,
) -> None:
    person, own_value = PEOPLE[who]
    page = new_page(locale={"nl": "nl-BE", "en": "en-GB"}[language])
    sign_in(page, inbox, live_server, language, person)
    main = page.get_by_role("main")
    expect(main).to_contain_text(own_value)
    for value, owner in OTHERS_VALUES.items():
        if owner != person.email:
            expect(main).not_to_contain_text(value)
    # The picture has a text alternative that names every relation.
    expect(page.get_by_role("img", name=TIMELINE[language])).to_be_visible()
    for name in person.relations[language]:
        expect(page.locator("#timeline-text")).to_contain_text(name)
    # A purpose opens (no JavaScript needed: <details>) on its legal basis, retention and rights.
    first_purpose = page.locator("details.purpose").first
    first_purpose.locator("summary").click()
    expect(first_purpose).to_contain_text(LEGAL_BASIS[language])
    expect(first_purpose).to_contain_text(HOW_LONG[language])
    expect(first_purpose.locator("li.right")).to_have_count(8)
    check_accessibility(page, f"/me of the {who} ({language})")
    page.screenshot(path=str(artifacts / f"overview-{who}-{language}.png"), full_page=True)


@pytest.mark.parametrize("language", LANGUAGES)
def test_the_overview_works_without_javascript(
    new_page: NewPage, inbox: Inbox, live_server: str, live_app: Flask, language: str,
) -> None:
    person, own_value = PEOPLE["participant"]
    page = new_page(locale={"nl": "nl-BE", "en": "en-GB"}[language], java_script_enabled=False)
    sign_in(page, inbox, live_server, language, person)
    expect(page.get_by_role("main")).to_contain_text(own_value)
    page.locator("details.purpose summary").first.click()
    expect(page.locator("details.purpose").first).to_have_attribute("open", "")
