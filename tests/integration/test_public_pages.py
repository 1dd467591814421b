"""The public pages through the app: both languages, the statement from the register, safe headers."""

from __future__ import annotations

import re

import pytest

PAGES = ["/", "/statement"]


def html_lang(response) -> str:
    return re.search(r'<html lang="([a-z]+)"', response.get_data(as_text=True)).group(1)


@pytest.mark.parametrize("path", PAGES)
def test_pages_default_to_dutch(client, path):
    response = client.get(path)
    assert response.status_code == 200
    assert html_lang(response) == "nl"


@pytest.mark.clause("2.1.controller", "2.4.channels", "2.5.contact", "2.5.complaint")
def test_home_in_dutch_and_english(client):
    dutch = client.get("/", headers={"Accept-Language": "nl-BE,nl;q=0.9"}).get_data(as_text=True)
    assert "Uw persoonsgegevens bij We Are" in dutch
    assert "privacy@we-are.be" in dutch and "Gegevensbeschermingsautoriteit" in dutch
    english = client.get("/", headers={"Accept-Language": "en-GB,en;q=0.8"}).get_data(as_text=True)
    assert "Your personal data at We Are" in english
    assert "Drukpersstraat 35" in english and "+32 2 247 48 00" in english


@pytest.mark.clause("1.care", "1.commitment", "1.contents", "1.scope", "2.1.responsibility", "2.3.processors",
                    "2.3.authorities", "2.3.eea", "2.4.intro", "3.intro", "3.1.minimisation", "3.2.minimisation",
                    "3.3.minimisation", "3.4.minimisation", "3.5.minimisation", "4.changes", "4.date")
def test_the_statement_page_is_rendered_from_the_register(client, register):
    page = client.get("/statement").get_data(as_text=True)
    for clause_id in register.clauses:
        assert f'id="{clause_id}"' in page
    for purpose in register.purposes.values():
        assert purpose.description.nl.replace("’", "&#39;")[:40] in page.replace("’", "&#39;")
    assert "20 juni 2023" in page
    assert "doeleinden I, II, III en IV hierboven" in page  # the legal bases of 3.1, derived from the purposes
    assert "u als klant nog beter van dienst te zijn" in page  # the legitimate interest of customer.5


@pytest.mark.clause("4.date")
def test_the_statement_in_english_says_it_is_a_translation(client, register):
    page = client.get("/statement", headers={"Accept-Language": "en"}).get_data(as_text=True)
    assert html_lang_of(page) == "en"
    assert register.statement.translation_note.en in page
    assert "20 June 2023" in page
    assert "purposes I, II, III and IV above" in page
    assert register.purposes["participant.4"].description.en[:40] in page


def html_lang_of(page: str) -> str:
    return re.search(r'<html lang="([a-z]+)"', page).group(1)


def test_language_switch_keeps_the_choice_and_returns_to_the_page(client):
    response = client.get("/language/en?next=/statement")
    assert response.status_code == 303
    assert response.headers["Location"] == "/statement"
    cookie = response.headers["Set-Cookie"]
    assert "portal_lang=en" in cookie and "HttpOnly" in cookie and "SameSite=Lax" in cookie
    # The cookie wins over the browser's Accept-Language.
    page = client.get("/statement", headers={"Accept-Language": "nl"})
    assert html_lang(page) == "en"
    client.get("/language/nl?next=/")
    assert html_lang(client.get("/", headers={"Accept-Language": "en"})) == "nl"


@pytest.mark.parametrize(
    "target", ["https://evil.example/", "//evil.example/x", "/\\evil.example", "javascript:alert(1)"])
def test_language_switch_never_redirects_off_site(client, target):
    response = client.get("/language/en", query_string={"next": target})
    assert response.headers["Location"] == "/"


def test_unknown_language_is_a_localised_404(client):
    response = client.get("/language/fr", headers={"Accept-Language": "nl"})
    assert response.status_code == 404
    assert "Pagina niet gevonden" in response.get_data(as_text=True)


@pytest.mark.parametrize(("language", "title"), [("nl", "Pagina niet gevonden"), ("en", "Page not found")])
def test_404_page_is_localised(client, language, title):
    response = client.get("/no-such-page", headers={"Accept-Language": language})
    assert response.status_code == 404
    page = response.get_data(as_text=True)
    assert title in page and html_lang_of(page) == language


def test_405_page(client):
    response = client.post("/statement", headers={"Accept-Language": "en"})
    assert response.status_code in (400, 405)  # CSRF protection answers a bare POST before routing does
    assert "Traceback" not in response.get_data(as_text=True)


def test_500_page_is_localised_and_shows_no_trace(app, caplog):
    app.testing = False  # let the error handler answer instead of re-raising into the test

    @app.get("/boom")
    def boom():
        raise RuntimeError("secret internal detail")

    for language, title in (("nl", "Er is bij ons iets misgelopen"), ("en", "Something went wrong on our side")):
        response = app.test_client().get("/boom", headers={"Accept-Language": language})
        page = response.get_data(as_text=True)
        assert response.status_code == 500
        assert title in page
        assert "secret internal detail" not in page and "Traceback" not in page
    assert "secret internal detail" in caplog.text  # logged with its trace for us, not shown


@pytest.mark.parametrize(("status", "dutch"), [(400, "Wij konden dit verzoek niet begrijpen"),
                                               (403, "U hebt geen toegang tot deze pagina"),
                                               (429, "Te veel pogingen")])
def test_other_error_pages_are_localised(app, status, dutch):
    from flask import abort

    @app.get(f"/fail-{status}")
    def fail():
        abort(status)

    response = app.test_client().get(f"/fail-{status}", headers={"Accept-Language": "nl"})
    assert response.status_code == status
    assert dutch in response.get_data(as_text=True)


def test_csrf_failure_is_a_clear_page(app):
    app.config["WTF_CSRF_ENABLED"] = True

    @app.post("/form")
    def form():
        return "accepted"

    response = app.test_client().post("/form", data={"x": "1"}, headers={"Accept-Language": "en"})
    assert response.status_code == 400
    assert "This form has expired" in response.get_data(as_text=True)


@pytest.mark.parametrize("path", PAGES + ["/no-such-page"])
def test_security_headers_on_every_page(client, path):
    headers = client.get(path).headers
    csp = headers["Content-Security-Policy"]
    assert "unsafe-inline" not in csp and "unsafe-eval" not in csp
    assert "frame-ancestors 'none'" in csp and "default-src 'none'" in csp
    assert headers["Referrer-Policy"] == "same-origin"  # other sites never see our addresses
    assert headers["X-Content-Type-Options"] == "nosniff"


@pytest.mark.parametrize("path", PAGES + ["/no-such-page"])
def test_no_third_party_assets_and_no_inline_code(client, path):
    page = client.get(path).get_data(as_text=True)
    for url in re.findall(r'(?:src|href)="([^"]+)"', page):
        assert url.startswith(("/", "#", "mailto:", "tel:", "https://www.gegevensbeschermingsautoriteit.be/")), url
    assert "<script" not in page and " style=" not in page and "<style" not in page


@pytest.mark.parametrize("path", ["/static/portal.css", "/static/favicon.svg"])
def test_static_files_are_served(client, path):
    with client.get(path) as response:  # closes the file the response streams from
        assert response.status_code == 200
        assert response.headers["X-Content-Type-Options"] == "nosniff"



@pytest.mark.clause("3.1.minimisation", "3.2.minimisation", "3.3.minimisation", "3.4.minimisation", "3.5.minimisation",
                    "3.5.retention")
def test_the_statement_page_says_where_the_portal_reads_beyond_the_letter(client, register):
    page = client.get("/statement").get_data(as_text=True)
    assert "Hoe dit portaal de verklaring toepast" in page
    participant_rule = register.retention["participant"]
    assert participant_rule.interpretation.nl.replace('"', "&#34;") in page
    for interpretation in register.interpretations:
        assert interpretation.text.nl.replace('"', "&#34;") in page
