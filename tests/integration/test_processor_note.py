"""Statement 2.1 on the pages: who the controller is, and where We Are is only a processor.

We Are builds applications for its clients; for the personal data in those applications the client is the
controller and We Are its processor (clause 2.1.processor). Someone who arrives about such an application
must read, on the home page and on the overview of an address we hold nothing under, that the client is the
controller, that they should contact that client, and that we still help them (they are not turned away).
Everywhere the portal names We Are itself as the controller, with the address to write to (2.1.controller,
2.4.channels, 2.5.contact).

Dutch is checked on its own words: that the note reads in Dutch is part of what is proven.
"""

from __future__ import annotations

import html
import re

import pytest

from tests.support.pages import browser_in

LANGUAGES = ["nl", "en"]
# The note's three points, in the words of each page and language.
HOME_NOTE = {
    "nl": {"heading": "Komt u hier voor een app die wij voor een ander bedrijf hebben ontwikkeld?",
           "controller": "is die klant de verwerkingsverantwoordelijke en zijn wij de verwerker",
           "contact": "Neem dan contact op met dat bedrijf en lees zijn privacyverklaring",
           "not_turned_away": "U kunt ons ook altijd schrijven: wij helpen u dan het juiste adres te vinden."},
    "en": {"heading": "Came here about an app we built for another company?",
           "controller": "that client is the controller and we are its processor",
           "contact": "Please contact that company and read its privacy statement",
           "not_turned_away": "you may still write to us and we will help you find the right address."},
}
NO_DATA_NOTE = {
    "nl": {"heading": "Onder dit e-mailadres houden wij geen persoonsgegevens bij",
           "controller": "Voor die gegevens is dat bedrijf de verwerkingsverantwoordelijke",
           "contact": "neem eerst met dat bedrijf contact op",
           "not_turned_away": "Wij helpen u graag het juiste adres te vinden."},
    "en": {"heading": "We hold no personal data under this address",
           "controller": "For those data that company is the controller",
           "contact": "please contact it first",
           "not_turned_away": "We will gladly help you find the right address."},
}
CONTROLLER_EMAIL = "privacy@we-are.be"


def text_of(fragment: str) -> str:
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", fragment)).split())


def card(page: str, heading_id: str) -> str:
    """The text of the card headed by `heading_id`."""
    match = re.search(rf'<section class="card[^"]*" aria-labelledby="{heading_id}">(.*?)</section>', page, re.DOTALL)
    assert match, f"no card headed #{heading_id} on the page"
    return text_of(match.group(1))


@pytest.mark.clause("2.1.processor")
@pytest.mark.parametrize("language", LANGUAGES)
def test_the_home_page_says_the_client_is_the_controller_of_its_applications_data(client, register, language):
    page = client.get("/", headers={"Accept-Language": language})
    assert page.status_code == 200
    raw = page.get_data(as_text=True)
    assert f'<html lang="{language}"' in raw
    note = card(raw, "processor")
    for point in HOME_NOTE[language].values():
        assert point in note, f"the note on the home page does not say {point!r}: {note!r}"
    assert register.controller.short_name in note  # the applications We Are develops for its clients
    # Not turned away: the same page says how to write to us, by e-mail and by post.
    channels = card(raw, "channels")
    assert CONTROLLER_EMAIL in channels and register.controller.street in channels


@pytest.mark.clause("2.1.processor", "2.5.contact")
@pytest.mark.parametrize("language", LANGUAGES)
def test_an_address_we_hold_nothing_under_is_pointed_to_the_client_and_not_turned_away(
    app, inbox, demo, language,
):
    client = browser_in(app, inbox, "nobody@example.org", language)
    page = client.get("/me")
    assert page.status_code == 200
    raw = page.get_data(as_text=True)
    assert f'<html lang="{language}"' in raw
    note = card(raw, "nothing-title")
    for point in NO_DATA_NOTE[language].values():
        assert point in note, f"the overview does not say {point!r}: {note!r}"
    assert "nobody@example.org" in note and CONTROLLER_EMAIL in note  # write to us, and we will look
    # The rights stay open to them: access and rectification are offered.
    rights = client.get("/me/rights").get_data(as_text=True)
    assert 'href="/me/rights/access"' in rights and 'href="/me/rights/rectification"' in rights


@pytest.mark.parametrize("language", LANGUAGES)
def test_someone_we_know_is_not_sent_to_another_company(app, inbox, demo, language):
    """The note about other companies' applications is for an address we hold nothing under."""
    client = browser_in(app, inbox, "an.peeters@example.com", language)
    page = client.get("/me").get_data(as_text=True)
    assert NO_DATA_NOTE[language]["controller"] not in text_of(page)
    assert 'aria-labelledby="nothing-title"' not in page


@pytest.mark.clause("2.1.controller", "2.1.responsibility", "2.4.channels", "2.5.contact")
@pytest.mark.parametrize("language", LANGUAGES)
def test_every_page_names_we_are_as_the_controller_and_how_to_write_to_it(client, register, language):
    controller = register.controller
    office = f"{controller.street}, {controller.postcode} {controller.city.in_language(language)}"
    responsible = {"nl": "Wie is verantwoordelijk", "en": "Who is responsible"}[language]
    enterprise = {"nl": "Ondernemingsnummer", "en": "Enterprise number"}[language]
    for path in ("/", "/statement", "/sign-in", "/no-such-page"):
        raw = client.get(path, headers={"Accept-Language": language}).get_data(as_text=True)
        footer = text_of(re.search(r'<footer class="site-footer">(.*?)</footer>', raw, re.DOTALL).group(1))
        assert responsible in footer, path
        assert f"{controller.name.in_language(language)}, {office}" in footer, path
        assert f"{enterprise} {controller.enterprise_number}" in footer, path
        assert CONTROLLER_EMAIL in footer, path
    # The home page gives both ways the statement names: e-mail, and a letter for the data protection manager.
    home = card(client.get("/", headers={"Accept-Language": language}).get_data(as_text=True), "channels")
    for line in (controller.name.in_language(language), controller.postal_attention.in_language(language),
                 controller.street, f"{controller.postcode} {controller.city.in_language(language)}",
                 CONTROLLER_EMAIL):
        assert line in home, line
