"""The public pages as a person meets them in Chromium: language, the statement, accessibility, privacy."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import Page, expect

from tests.support.browser import LOCALES, WCAG_21_AA_TAGS, NewPage, describe_violations, expect_language, heading_1

HOME_H1 = {"nl": "Uw persoonsgegevens bij We Are", "en": "Your personal data at We Are"}
STATEMENT_H1 = {"nl": "Privacyverklaring We Are Technology BV", "en": "Privacy statement of We Are Technology BV"}
NOT_FOUND_H1 = {"nl": "Pagina niet gevonden", "en": "Page not found"}


def test_home_is_dutch_for_a_dutch_browser(page: Page) -> None:
    response = page.goto("/")

    assert response is not None and response.status == 200
    assert response.request.header_value("accept-language") == "nl-BE"
    expect_language(page, "nl")
    expect(heading_1(page)).to_have_text(HOME_H1["nl"])
    expect(page).to_have_title(re.compile(r"^Uw persoonsgegevens · Privacyportaal"))


def test_home_is_english_for_an_english_browser(new_page: NewPage) -> None:
    page = new_page(locale="en-GB")
    response = page.goto("/")

    assert response is not None and response.status == 200
    # The language comes from Accept-Language alone: nothing was chosen, so no cookie is set.
    assert response.request.header_value("accept-language") == "en-GB"
    assert page.context.cookies() == []
    expect_language(page, "en")
    expect(heading_1(page)).to_have_text(HOME_H1["en"])


def test_language_switch_keeps_the_page_and_the_choice(page: Page, live_server: str) -> None:
    page.goto("/")
    expect_language(page, "nl")

    page.get_by_role("navigation", name="Taal").get_by_role("link", name="English", exact=True).click()
    expect(page).to_have_url(f"{live_server}/")
    expect(page.locator("html[lang=en]")).to_have_count(1)
    expect(heading_1(page)).to_have_text(HOME_H1["en"])

    # The choice is kept in a cookie and beats the browser's Dutch Accept-Language.
    page.reload()
    expect_language(page, "en")
    assert {cookie["name"]: cookie["value"] for cookie in page.context.cookies()}.get("portal_lang") == "en"

    page.get_by_role("navigation", name="Main").get_by_role("link", name="Privacy statement", exact=True).click()
    expect(page).to_have_url(f"{live_server}/statement")
    expect_language(page, "en")
    expect(heading_1(page)).to_have_text(STATEMENT_H1["en"])

    page.get_by_role("navigation", name="Language").get_by_role("link", name="Nederlands", exact=True).click()
    expect(page).to_have_url(f"{live_server}/statement")
    expect_language(page, "nl")
    expect(heading_1(page)).to_have_text(STATEMENT_H1["nl"])


def test_statement_is_reached_from_home_and_navigable(page: Page, live_server: str) -> None:
    page.goto("/")
    page.get_by_role("navigation", name="Hoofdmenu").get_by_role("link", name="Privacyverklaring", exact=True).click()

    expect(page).to_have_url(f"{live_server}/statement")
    expect(heading_1(page)).to_have_text(STATEMENT_H1["nl"])
    expect(page.get_by_role("heading", name="2.4. Welke rechten heeft u als betrokkene?")).to_be_visible()
    expect(page.get_by_role("heading", name="3.1. U bent een klant van We Are?")).to_be_visible()

    customers = page.get_by_role("region", name="3.1. U bent een klant van We Are?")
    purposes = customers.locator("ol.numerals > li")
    expect(purposes.locator(".numeral")).to_have_text(["I.", "II.", "III.", "IV.", "V."])
    expect(purposes.first).to_have_text(re.compile(r"^I\.\s+om u op uw verzoek"))

    page.get_by_role("navigation", name="Inhoudstafel").get_by_role("link", name=re.compile(r"^3\.4\. ")).click()
    expect(page).to_have_url(f"{live_server}/statement#section-3.4")
    expect(page.locator(":target")).to_have_attribute("id", "section-3.4")
    expect(page.get_by_role("heading", name=re.compile(r"^3\.4\. "))).to_be_in_viewport()


def test_every_link_within_the_statement_arrives(page: Page) -> None:
    page.goto("/statement")

    links = page.get_by_role("main").locator("a[href^='#']")
    expect(links.first).to_be_attached()
    dead = links.evaluate_all(
        "links => links.map(a => a.getAttribute('href')).filter(href => !document.getElementById(href.slice(1)))"
    )
    assert dead == [], f"links within the statement that lead nowhere: {dead}"


PAGES = {
    "home": ("/", 200, HOME_H1),
    "statement": ("/statement", 200, STATEMENT_H1),
    "not-found": ("/does-not-exist", 404, NOT_FOUND_H1),
}


@pytest.mark.parametrize("language", ["nl", "en"])
@pytest.mark.parametrize("name", list(PAGES))
def test_page_has_no_wcag_21_aa_violations(new_page: NewPage, artifacts: Path, name: str, language: str) -> None:
    """axe-core finds nothing against WCAG 2.1 A/AA. Each checked page is also saved for a person to look at."""
    path, status, h1 = PAGES[name]
    page = new_page(locale=LOCALES[language])
    response = page.goto(path)
    assert response is not None and response.status == status
    expect_language(page, language)
    expect(heading_1(page)).to_have_text(h1[language])
    page.screenshot(path=artifacts / f"{name}-{language}.png", full_page=True)

    results = Axe().run(
        page, options={"runOnly": {"type": "tag", "values": WCAG_21_AA_TAGS}, "resultTypes": ["violations"]}
    )

    violations = results.response["violations"]
    assert not violations, describe_violations(f"{path} ({language})", violations)


def test_pages_work_without_javascript(new_page: NewPage, live_server: str) -> None:
    page = new_page(java_script_enabled=False)
    page.goto("/")
    expect_language(page, "nl")

    page.get_by_role("navigation", name="Taal").get_by_role("link", name="English", exact=True).click()
    expect_language(page, "en")
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Privacy statement", exact=True).click()
    expect(page).to_have_url(f"{live_server}/statement")
    expect(heading_1(page)).to_have_text(STATEMENT_H1["en"])
    expect(page.get_by_role("heading", name=re.compile(r"^3\.1\. "))).to_be_visible()

    page.get_by_role("navigation", name="Language").get_by_role("link", name="Nederlands", exact=True).click()
    expect(heading_1(page)).to_have_text(STATEMENT_H1["nl"])
    page.get_by_role("navigation", name="Inhoudstafel").get_by_role("link", name=re.compile(r"^3\.4\. ")).click()
    expect(page).to_have_url(f"{live_server}/statement#section-3.4")


def test_no_request_leaves_the_portal(page: Page, live_server: str) -> None:
    requested: list[str] = []
    page.on("request", lambda request: requested.append(request.url))

    page.goto("/", wait_until="networkidle")
    page.goto("/statement", wait_until="networkidle")

    assert f"{live_server}/static/portal.css" in requested
    elsewhere = [url for url in requested if not url.startswith(f"{live_server}/")]
    assert elsewhere == [], f"requests to another origin than {live_server}: {elsewhere}"
