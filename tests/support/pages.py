"""What the integration tests share to use the portal through Flask's test client: browsers, pages, forms, wording.

A browser here is a test client that chose its language (the language switch's cookie), signed in by the real
mail flow or not. Pages are read as a person reads them (their text, `<html lang>`, dates written out with
`long_date`, which the browser tests use as well), forms are submitted with their own hidden fields (CSRF
token, key), and wording is asserted through the compiled catalogue (`in_language`), so that tests hold while
the Dutch catalogue is being translated. The mails those pages send are read with tests/support/mails.py.
"""

from __future__ import annotations

import datetime as dt
import html
import re
from dataclasses import dataclass, field
from html.parser import HTMLParser
from typing import Any
from urllib.parse import urlencode

from babel.dates import format_date
from flask_babel import force_locale, gettext, ngettext

from portal import i18n
from tests.conftest import csrf_token_from, sign_in

CSRF = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"')
HIDDEN_NEXT = re.compile(r'name="next" type="hidden" value="([^"]*)"')
HTML_LANG = re.compile(r'<html lang="([a-z]+)"')


# --- browsers: test clients that chose a language, signed in or not ----------------------------------------------


def browser(app, language: str = "en", remote_addr: str | None = None):
    """A test client that chose `language` with the language switch (its cookie)."""
    client = app.test_client()
    client.set_cookie(i18n.COOKIE, language)
    if remote_addr:
        client.environ_base["REMOTE_ADDR"] = remote_addr
    return client


def signed_in(app, inbox, email: str, language: str = "en"):
    """A client that chose `language` with the language switch and signed in as `email` by the mail flow."""
    client = app.test_client()
    client.set_cookie(i18n.COOKIE, language)
    sign_in(client, inbox, email)
    return client


def browser_in(app, inbox, email: str, language: str = "en"):
    """A browser that chose `language` with the language switch and signed in as `email` by the mail flow."""
    client = app.test_client()
    chosen = client.get(f"/language/{language}")
    assert chosen.status_code == 303
    sign_in(client, inbox, email)
    return client


def ask_for_link(client, address: str, *, next_path: str | None = None):
    """Fill in the sign-in form as a person does: open the page, type the address, press the button."""
    form_page = client.get("/sign-in" + (f"?{urlencode({'next': next_path})}" if next_path is not None else ""))
    assert form_page.status_code == 200
    data = {"csrf_token": csrf_token(form_page), "email": address}
    hidden_next = HIDDEN_NEXT.search(form_page.get_data(as_text=True))
    if hidden_next:
        data["next"] = html.unescape(hidden_next.group(1))
    return client.post("/sign-in", data=data)


def press_button(client, path: str):
    """Open the page at `path` and press its (only) button, e.g. "Sign in" on a link's page."""
    page = client.get(path)
    assert page.status_code == 200, page_text(page)[:500]
    return client.post(path, data={"csrf_token": csrf_token(page)})


def type_code(client, code: str):
    page = client.get("/sign-in/check-mail")
    return client.post("/sign-in/code", data={"csrf_token": csrf_token(page), "code": code})


# --- pages as a person reads them --------------------------------------------------------------------------------


def page_text(response) -> str:
    return html.unescape(response.get_data(as_text=True))


def html_lang(response) -> str:
    match = HTML_LANG.search(response.get_data(as_text=True))
    assert match, response.get_data(as_text=True)[:300]
    return match.group(1)


def csrf_token(response) -> str:
    match = CSRF.search(response.get_data(as_text=True))
    assert match, "no form with a CSRF token on this page"
    return match.group(1)


def without_tokens(response) -> str:
    """The page with its CSRF tokens and any sign-in token in a URL blanked out."""
    page = re.sub(r'(name="csrf_token"[^>]*value=")[^"]+', r"\1CSRF", response.get_data(as_text=True))
    return re.sub(r"/sign-in/[A-Za-z0-9_-]{20,}", "/sign-in/TOKEN", page)


def get_ok(client, url: str):
    """A page the person can open: 200, not an error page."""
    response = client.get(url)
    assert response.status_code == 200, f"{url} answered {response.status_code}"
    return response


def long_date(day: dt.date, language: str) -> str:
    """A date as the pages write it ("d MMMM y"), in the page's language: Babel's, not the catalogue's."""
    return format_date(day, "d MMMM y", locale=i18n.BABEL_LOCALES[language])


def request_cards(response) -> list[str]:
    """The text of each request on /me/requests, newest first."""
    cards = re.findall(r'<section class="card request"[^>]*>(.*?)</section>', response.get_data(as_text=True),
                       re.DOTALL)
    return [html.unescape(re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", card))).strip() for card in cards]


def rectifiable(response) -> dict[str, tuple[str, str]]:
    """The items on the rectification page: input name -> (field, value as we hold it)."""
    found = re.findall(r'<label for="(new-\d+)">(.*?): <span class="value">(.*?)</span></label>',
                       response.get_data(as_text=True))
    return {name: (html.unescape(f), html.unescape(v)) for name, f, v in found}


# --- wording, as the app's compiled catalogue renders it ---------------------------------------------------------


def in_language(app, language: str, msgid: str, **variables: Any) -> str:
    """`msgid` as the app's compiled catalogue renders it in `language`."""
    with app.test_request_context(), force_locale(i18n.BABEL_LOCALES[language]):
        return gettext(msgid, **variables)


def in_language_plural(app, language: str, singular: str, plural: str, num: int) -> str:
    with app.test_request_context(), force_locale(i18n.BABEL_LOCALES[language]):
        return ngettext(singular, plural, num)


# --- forms, submitted as a browser submits them ------------------------------------------------------------------


@dataclass
class Form:
    """One <form> as a browser would submit it: its action, its fields with their values, its choices."""

    action: str
    values: dict[str, str] = field(default_factory=dict)  # <input> and <textarea>, by name
    choices: dict[str, list[str]] = field(default_factory=dict)  # <select>: the values of its options
    buttons: list[str] = field(default_factory=list)
    typed: set[str] = field(default_factory=set)  # names of the fields a person types or chooses in


class FormParser(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.forms: list[Form] = []
        self._form: Form | None = None
        self._select: str | None = None
        self._textarea: str | None = None
        self._button: list[str] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = {name: value or "" for name, value in attrs}
        if tag == "form":
            self._form = Form(action=attributes.get("action", ""))
            self.forms.append(self._form)
        elif self._form is None:
            return
        elif tag == "input" and "name" in attributes:
            self._form.values[attributes["name"]] = attributes.get("value", "")
            if attributes.get("type", "text") != "hidden":
                self._form.typed.add(attributes["name"])
        elif tag == "select":
            self._select = attributes["name"]
            self._form.choices[self._select] = []
            self._form.typed.add(self._select)
        elif tag == "option" and self._select is not None:
            self._form.choices[self._select].append(attributes.get("value", ""))
            if len(self._form.choices[self._select]) == 1 or "selected" in attributes:
                self._form.values[self._select] = attributes.get("value", "")  # what a browser sends
        elif tag == "textarea":
            self._textarea = attributes["name"]
            self._form.values[self._textarea] = ""
            self._form.typed.add(self._textarea)
        elif tag == "button":
            self._button = []

    def handle_data(self, data: str) -> None:
        if self._form is not None and self._textarea is not None:
            self._form.values[self._textarea] += data
        if self._button is not None:
            self._button.append(data)

    def handle_endtag(self, tag: str) -> None:
        if tag == "form":
            self._form = None
        elif tag == "select":
            self._select = None
        elif tag == "textarea":
            self._textarea = None
        elif tag == "button" and self._button is not None and self._form is not None:
            self._form.buttons.append("".join(self._button).strip())
            self._button = None


def forms_on(response) -> list[Form]:
    parser = FormParser()
    parser.feed(response.get_data(as_text=True))
    return parser.forms


def form_to(response, action: str) -> Form:
    """The one form of the page that posts to `action` ("" for a form that posts to its own page)."""
    found = [f for f in forms_on(response) if f.action == action]
    assert len(found) == 1, f"expected one form to {action!r}, found {[f.action for f in forms_on(response)]}"
    return found[0]


def submit(client, response, action: str, url: str | None = None, **typed: str):
    """Press the button of the form to `action` with its own hidden fields (CSRF token, key) and `typed`."""
    form = form_to(response, action)
    data = {**form.values, **typed}
    return client.post(url or action or response.request.path, data=data)


# --- downloads ---------------------------------------------------------------------------------------------------


def download(client, kind: str, fmt: str, **extra: str):
    """Press a download button on /me/downloads: a form post with the page's CSRF token."""
    page = client.get("/me/downloads")
    assert page.status_code == 200, page.status_code
    return client.post(f"/me/downloads/{kind}.{fmt}", data={"csrf_token": csrf_token_from(page.get_data(as_text=True)),
                                                           **extra})


def fetch(client, kind: str, fmt: str, **extra: str) -> tuple[bytes, dict[str, str]]:
    with download(client, kind, fmt, **extra) as response:
        assert response.status_code == 200, response.status_code
        return response.get_data(), dict(response.headers)
