"""Locale choice: explicit choice (cookie) > Accept-Language > Dutch, and <html lang> follows it."""

from __future__ import annotations

import re

import pytest

from portal import i18n


@pytest.mark.parametrize(("cookie", "accept", "expected"), [
    (None, None, "nl"),
    (None, "en-US,en;q=0.9", "en"),
    (None, "en-GB", "en"),
    (None, "fr-BE,fr;q=0.9", "nl"),          # nothing we speak: the statement's own language
    (None, "fr-BE,fr;q=0.9,en;q=0.5", "en"),
    (None, "nl-BE", "nl"),
    ("en", "nl-BE", "en"),                   # the person's choice beats the browser
    ("nl", "en", "nl"),
    ("de", "en", "en"),                      # a cookie we do not support is ignored
])
def test_locale_precedence(client, cookie, accept, expected):
    if cookie:
        client.set_cookie(i18n.COOKIE, cookie)
    headers = {"Accept-Language": accept} if accept else {}
    page = client.get("/", headers=headers).get_data(as_text=True)
    assert re.search(r'<html lang="([a-z]+)"', page).group(1) == expected


def test_language_switch_is_on_every_page_and_marks_the_current_language(client):
    for path in ("/", "/statement", "/missing"):
        page = client.get(path, headers={"Accept-Language": "en"}).get_data(as_text=True)
        assert 'href="/language/nl?next=' in page and 'href="/language/en?next=' in page
        assert re.search(r'lang="en" aria-current="true"', page)
        assert 'hreflang="nl" lang="nl"' in page


def test_the_switch_returns_to_the_same_page_with_its_query(client):
    page = client.get("/statement?x=1").get_data(as_text=True)
    assert 'href="/language/en?next=/statement?x%3D1"' in page


def test_a_missing_catalogue_stops_start_up(tmp_path):
    with pytest.raises(i18n.MissingCatalogue, match="make translations"):
        i18n.check_catalogues(tmp_path)


@pytest.mark.parametrize(("language", "message"), [("nl", "Dit veld is vereist."),
                                                     ("en", "This field is required.")])
def test_the_forms_own_messages_follow_the_page_language(app, language, message):
    from portal.staff.forms import PersonForm

    for _ in range(2):  # the catalogue is kept per language after the first form: the second must not mix them
        with app.test_request_context("/", method="POST", data={"email": ""},
                                      headers={"Cookie": f"{i18n.COOKIE}={language}"}):
            form = PersonForm(meta={"csrf": False})
            assert not form.validate()
            assert form.email.errors == [message]
