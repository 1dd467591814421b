"""Running the portal in production: the health check, the request log, HSTS and the settings production refuses.

What an operator relies on: `/healthz` says whether the database answers (and only that), the request log is
one JSON line per request that a log pipeline can keep without keeping anyone's address, token or code, HSTS
is sent exactly when the portal is served over https, and a production start-up with a risky setting stops
with a message that names the variable to fix.
"""

from __future__ import annotations

import base64
import html
import io
import json
import logging
import os
import re
from collections.abc import Iterator
from urllib.parse import quote

import pytest

from portal import create_app, i18n
from portal.config import ConfigError
from portal.operations import HSTS, request_log
from portal.policy.register import default_register
from tests.conftest import TEST_SECRET, close_app, free_port, make_app
from tests.support.mails import code_in, link_in, wait_for_mail
from tests.support.pages import ask_for_link, browser, in_language, page_text, press_button, type_code

PERSON = "lies.operations@example.com"
OTHER = "tom.operations@example.org"
LOG_FIELDS = {"time", "method", "route", "endpoint", "status", "duration_ms"}
TIME = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")


def closed_port_database() -> str:
    """A PostgreSQL URL where nobody listens: every connection is refused at once."""
    return f"postgresql+psycopg://postgres@127.0.0.1:{free_port()}/portal"


@pytest.fixture
def unreachable_app(smtp_server, inbox) -> Iterator:
    app = make_app(closed_port_database(), SMTP_URL=smtp_server.url)
    yield app
    app.extensions["portal.mail"].stop()
    app.extensions["portal.db"].dispose()


# --- /healthz -----------------------------------------------------------------------------------------------


def test_healthz_answers_200_while_the_database_answers(app):
    answer = app.test_client().get("/healthz")
    assert answer.status_code == 200
    assert answer.is_json and answer.get_json() == {"status": "ok", "database": "up"}
    assert answer.headers["Cache-Control"] == "no-store"  # a balancer must never see a cached "ok"


def test_healthz_answers_503_json_when_the_database_is_unreachable(unreachable_app):
    answer = unreachable_app.test_client().get("/healthz")
    assert answer.status_code == 503
    assert answer.is_json and answer.get_json() == {"status": "unavailable", "database": "down"}
    body = answer.get_data(as_text=True)
    # What is wrong goes to the operator's log, not to whoever can reach the health check.
    assert "psycopg" not in body and "refused" not in body.lower() and "127.0.0.1" not in body


def test_a_page_that_needs_the_unreachable_database_answers_the_localised_503(unreachable_app):
    for language in ("nl", "en"):
        client = browser(unreachable_app, language)
        form = client.get("/sign-in")  # the form itself needs no database
        assert form.status_code == 200
        answer = ask_for_link(client, PERSON)
        assert answer.status_code == 503
        assert answer.headers["Retry-After"] == "60"
        text = page_text(answer)
        assert f'<html lang="{language}"' in answer.get_data(as_text=True)
        assert {"nl": "Fout 503", "en": "Error 503"}[language] in text
        assert {"nl": "Ga naar de startpagina", "en": "Go to the home page"}[language] in text
        assert "Traceback" not in text and "OperationalError" not in text and "psycopg" not in text
    english = page_text(answer)
    assert "The portal is briefly unavailable" in english
    assert "Nothing you sent was saved half-way" in english


def test_the_503_page_explains_itself_in_dutch(unreachable_app):
    answer = ask_for_link(browser(unreachable_app, "nl"), PERSON)
    assert answer.status_code == 503
    text = page_text(answer)
    title = "The portal is briefly unavailable"
    assert in_language(unreachable_app, "nl", title) != title, "no Dutch for the 503 title in the catalogue"
    assert title not in text and "We cannot reach our database" not in text
    assert "Het portaal is even niet beschikbaar" in text
    assert "Niets van wat u stuurde, werd half bewaard" in text


# --- the request log ----------------------------------------------------------------------------------------


@pytest.fixture
def logged_app(migrated_database, smtp_server, inbox) -> Iterator[tuple[object, io.StringIO]]:
    """An app with PORTAL_REQUEST_LOG=1, and what its request log writes (the handler's stream, swapped)."""
    app = make_app(migrated_database, SMTP_URL=smtp_server.url, REQUEST_LOG="1")
    # The portal's own handler (pytest adds capturing handlers of its own beside it).
    handlers = [handler for handler in request_log.handlers if type(handler) is logging.StreamHandler]
    assert len(handlers) == 1, request_log.handlers
    assert request_log.propagate is False  # written once, as JSON, not again through the root logger
    stream = io.StringIO()
    original = handlers[0].setStream(stream)
    try:
        yield app, stream
    finally:
        handlers[0].setStream(original)
        close_app(app)


def log_lines(stream: io.StringIO) -> list[dict]:
    lines = stream.getvalue().splitlines()
    assert lines and all(line.startswith("{") and line.endswith("}") for line in lines), lines
    return [json.loads(line) for line in lines]


def test_the_request_log_is_one_json_line_per_request_without_anything_personal(logged_app, inbox):
    app, stream = logged_app
    marker = "campaign-7f3a9c"  # only ever in query strings
    client = browser(app, "nl")
    answers = []

    def get(path: str, **kwargs):
        answers.append(client.get(path, **kwargs))
        return answers[-1]

    # Sign in through the mail's link, with a next page and a query string on the way.
    get(f"/sign-in?next=/me/rights&ref={marker}")
    before = len(stream.getvalue().splitlines())
    answers.append(ask_for_link(client, PERSON, next_path=f"/me/rights?ref={marker}"))  # GET form + POST
    assert answers[-1].status_code == 303
    message = wait_for_mail(inbox, PERSON)
    link, code = link_in(message), code_in(message)
    token = link.rsplit("/", 1)[1]
    answers.append(press_button(client, link))  # GET the link's page + POST its button
    assert answers[-1].status_code == 303
    get(f"/me?ref={marker}")
    get("/me/rights")
    get(f"/language/en?next=/me&ref={marker}")
    get(f"/people/{quote(PERSON)}?email={quote(PERSON)}")  # a path that matches no route
    get(f"/sign-in/{token}")  # the spent link: 410
    get("/healthz")
    # And a second person, who types the code instead.
    other = browser(app, "en")
    ask_for_link(other, OTHER)
    other_code = code_in(wait_for_mail(inbox, OTHER))
    assert type_code(other, other_code).status_code == 303
    assert other.get("/me").status_code == 200

    entries = log_lines(stream)
    steps = [(entry["method"], entry["route"], entry["status"]) for entry in entries]
    assert steps[:1] == [("GET", "/sign-in", 200)]
    assert steps[before:] == [
        ("GET", "/sign-in", 200), ("POST", "/sign-in", 303),
        ("GET", "/sign-in/<token>", 200), ("POST", "/sign-in/<token>", 303),
        ("GET", "/me", 200), ("GET", "/me/rights", 200), ("GET", "/language/<code>", 303),
        ("GET", "(no route)", 404), ("GET", "/sign-in/<token>", 410), ("GET", "/healthz", 200),
        ("GET", "/sign-in", 200), ("POST", "/sign-in", 303),
        ("GET", "/sign-in/check-mail", 200), ("POST", "/sign-in/code", 303), ("GET", "/me", 200),
    ]
    assert len(entries) == 1 + len(steps[before:])  # one line per request, no more, no less
    for entry in entries:
        assert set(entry) == LOG_FIELDS, entry
        assert TIME.match(entry["time"]), entry
        assert isinstance(entry["duration_ms"], int | float) and 0 <= entry["duration_ms"] < 60_000, entry
    assert {entry["endpoint"] for entry in entries} >= {"auth.sign_in", "auth.open_link", "auth.use_link",
                                                        "auth.enter_code", "account.overview", "operations.healthz"}
    [unmatched] = [entry for entry in entries if entry["route"] == "(no route)"]
    assert unmatched["endpoint"] is None

    written = stream.getvalue()
    secrets_seen = {
        "the e-mail address": [PERSON, OTHER, quote(PERSON), PERSON.split("@")[0], OTHER.split("@")[0]],
        "the link's token": [token],
        "the code": [code, code.replace(" ", ""), other_code, other_code.replace(" ", "")],
        "the query string": [marker, "?", "ref=", "next="],
    }
    for what, values in secrets_seen.items():
        for value in values:
            assert value not in written, f"{what} ({value!r}) is in the request log"


def test_a_request_refused_before_its_view_is_logged_with_its_duration(logged_app):
    app, stream = logged_app
    client = browser(app, "en")
    client.get("/sign-in")
    refused = client.post("/sign-in", data={"email": PERSON, "csrf_token": "not-the-token"})
    assert refused.status_code == 400
    entries = log_lines(stream)
    assert [(entry["method"], entry["route"], entry["status"]) for entry in entries] == [
        ("GET", "/sign-in", 200), ("POST", "/sign-in", 400)]
    assert all(isinstance(entry["duration_ms"], int | float) for entry in entries), entries


def test_the_request_log_is_off_unless_asked_for_outside_production(migrated_database, smtp_server, inbox):
    app = make_app(migrated_database, SMTP_URL=smtp_server.url)
    assert app.extensions["portal.settings"].request_log is False
    records: list[logging.LogRecord] = []
    handler = logging.Handler()
    handler.emit = records.append  # type: ignore[method-assign]
    request_log.addHandler(handler)
    level = request_log.level
    request_log.setLevel(logging.INFO)
    try:
        assert app.test_client().get("/healthz").status_code == 200
    finally:
        request_log.removeHandler(handler)
        request_log.setLevel(level)
        close_app(app)
    assert records == []


# --- HSTS ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/", "/healthz", "/sign-in", "/no-such-page"])
def test_hsts_is_sent_when_the_portal_is_served_over_https(migrated_database, smtp_server, inbox, path):
    app = make_app(migrated_database, SMTP_URL=smtp_server.url, BASE_URL="https://privacy.example.org")
    try:
        answer = app.test_client().get(path, base_url="https://privacy.example.org")
        assert answer.headers.get("Strict-Transport-Security") == HSTS == "max-age=31536000; includeSubDomains"
        assert answer.headers.getlist("Strict-Transport-Security") == [HSTS]  # once
        if path == "/sign-in":  # and its cookies are https-only, bound to the host
            cookie = answer.headers["Set-Cookie"]
            assert cookie.startswith("__Host-portal=") and "Secure" in cookie and "HttpOnly" in cookie
    finally:
        close_app(app)


@pytest.mark.parametrize("path", ["/", "/healthz", "/sign-in", "/no-such-page"])
def test_no_hsts_over_http(app, path):
    answer = app.test_client().get(path)
    assert "Strict-Transport-Security" not in answer.headers


@pytest.mark.parametrize("served", ["https", "behind a TLS proxy"])
def test_a_browser_over_https_can_post_the_sign_in_form(migrated_database, smtp_server, inbox, served):
    """A browser sends a Referer on a same-origin form post only when the page's Referrer-Policy allows it.

    Served either over https directly, or as docs/deployment.md says: a TLS-terminating proxy in front, which
    forwards plain http with X-Forwarded-Proto, and PORTAL_TRUSTED_PROXIES=1.
    """
    origin = "https://privacy.example.org"
    if served == "https":
        app = make_app(migrated_database, SMTP_URL=smtp_server.url, BASE_URL=origin)
        where: dict = {"base_url": origin}
    else:
        app = make_app(migrated_database, SMTP_URL=smtp_server.url, BASE_URL=origin, TRUSTED_PROXIES=1)
        where = {"base_url": "http://127.0.0.1:8000", "headers": {
            "X-Forwarded-Proto": "https", "X-Forwarded-Host": "privacy.example.org", "X-Forwarded-For": "198.51.100.4"}}
    try:
        client = app.test_client()
        form = client.get("/sign-in", **where)
        assert form.status_code == 200
        policy = form.headers["Referrer-Policy"]
        token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', form.get_data(as_text=True)).group(1)
        headers = {**where.get("headers", {}), **({} if policy == "no-referrer" else {"Referer": f"{origin}/sign-in"})}
        answer = client.post("/sign-in", data={"email": PERSON, "csrf_token": html.unescape(token)},
                             base_url=where["base_url"], headers=headers)
        assert answer.status_code == 303, page_text(answer)[:300]
    finally:
        close_app(app)


# --- what production refuses --------------------------------------------------------------------------------

PRODUCTION = {
    "ENV": "production",
    "SECRET_KEY": TEST_SECRET,
    "DATABASE_URL": "postgresql+psycopg://portal@db.internal:5432/portal",
    "BASE_URL": "https://privacy.example.org",
    "SMTP_URL": "smtp://mail.internal:587?starttls=true",
    # Production signs every webhook: a secret for each system of the register that hears by one.
    **{system.secret_variable.removeprefix("PORTAL_"): "whsec_" + base64.b64encode(bytes(range(32))).decode()
       for system in default_register().systems.values() if system.notice.delivery == "webhook"},
}


@pytest.fixture
def no_portal_environment(monkeypatch):
    """Only the settings a test passes count: none from the environment this suite happens to run in."""
    for name in list(os.environ):
        if name.startswith("PORTAL_"):
            monkeypatch.delenv(name)


def start(**settings: object):
    app = create_app({**PRODUCTION, **settings})
    app.extensions["portal.db"].dispose()
    return app


@pytest.mark.parametrize(("settings", "variable", "advice"), [
    ({"DATABASE_URL": "sqlite:////srv/portal/portal.sqlite3"}, "PORTAL_DATABASE_URL", "PORTAL_ALLOW_SQLITE=1"),
    ({"DATABASE_URL": "sqlite:////srv/portal/portal.sqlite3", "ALLOW_SQLITE": "0"}, "PORTAL_DATABASE_URL",
     "PORTAL_ALLOW_SQLITE=1"),
    ({"BASE_URL": "http://privacy.example.org"}, "PORTAL_BASE_URL", "PORTAL_ALLOW_HTTP=1"),
    ({"BASE_URL": "http://privacy.example.org", "ALLOW_HTTP": "no"}, "PORTAL_BASE_URL", "PORTAL_ALLOW_HTTP=1"),
    ({"SMTP_URL": None}, "PORTAL_SMTP_URL", "SMTP"),
    ({"SMTP_URL": ""}, "PORTAL_SMTP_URL", "SMTP"),
    ({"SECRET_KEY": None}, "PORTAL_SECRET_KEY", "secrets.token_hex"),
])
def test_production_refuses_to_start_and_names_the_variable(no_portal_environment, settings, variable, advice):
    with pytest.raises(ConfigError) as refused:
        start(**settings)
    message = str(refused.value)
    assert message.startswith(variable), message
    assert advice in message


def test_production_refuses_the_same_settings_from_the_environment(no_portal_environment, monkeypatch):
    """What `make serve` does: every setting from PORTAL_* variables."""
    for key, value in {**PRODUCTION, "DATABASE_URL": "sqlite:////srv/portal/portal.sqlite3"}.items():
        monkeypatch.setenv(f"PORTAL_{key}", value)
    with pytest.raises(ConfigError, match="^PORTAL_DATABASE_URL points at SQLite"):
        create_app()
    monkeypatch.setenv("PORTAL_ALLOW_SQLITE", "1")
    monkeypatch.setenv("PORTAL_BASE_URL", "http://10.0.0.5:8000")
    with pytest.raises(ConfigError, match="^PORTAL_BASE_URL is http"):
        create_app()
    monkeypatch.setenv("PORTAL_ALLOW_HTTP", "1")
    monkeypatch.delenv("PORTAL_SMTP_URL")
    with pytest.raises(ConfigError, match="^PORTAL_SMTP_URL is not set"):
        create_app()
    monkeypatch.setenv("PORTAL_SMTP_URL", "smtp://mail.internal:25")
    app = create_app()
    app.extensions["portal.db"].dispose()
    assert app.extensions["portal.settings"].is_production


def test_production_starts_with_postgresql_https_and_smtp(no_portal_environment):
    app = start()
    settings = app.extensions["portal.settings"]
    assert settings.is_production and settings.request_log  # the request log is on in production
    assert app.config["SESSION_COOKIE_SECURE"] is True and app.config["SESSION_COOKIE_NAME"] == "__Host-portal"
    answer = app.test_client().get("/", base_url="https://privacy.example.org")
    assert answer.status_code == 200 and answer.headers["Strict-Transport-Security"] == HSTS


@pytest.mark.parametrize("flag", ["1", "true", "yes"])
def test_production_accepts_sqlite_and_http_when_told_so(no_portal_environment, tmp_path, flag):
    app = start(DATABASE_URL=f"sqlite:///{tmp_path / 'trial.sqlite3'}", ALLOW_SQLITE=flag,
                BASE_URL="http://10.0.0.5:8000", ALLOW_HTTP=flag)
    settings = app.extensions["portal.settings"]
    assert settings.is_production and settings.database_url.startswith("sqlite")
    assert settings.base_url == "http://10.0.0.5:8000"
    assert app.config["SESSION_COOKIE_SECURE"] is False
    answer = app.test_client().get("/")
    assert answer.status_code == 200 and "Strict-Transport-Security" not in answer.headers


def test_the_error_pages_of_a_production_app_carry_no_trace(no_portal_environment):
    app = start(DATABASE_URL=closed_port_database())
    client = app.test_client()
    client.set_cookie(i18n.COOKIE, "en")
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"',
                      client.get("/sign-in", base_url="https://privacy.example.org").get_data(as_text=True))
    answer = client.post("/sign-in", data={"email": PERSON, "csrf_token": html.unescape(token.group(1))},
                         base_url="https://privacy.example.org",
                         headers={"Referer": "https://privacy.example.org/sign-in"})
    assert answer.status_code == 503 and answer.headers["Retry-After"] == "60"
    assert answer.headers["Strict-Transport-Security"] == HSTS
    assert "Traceback" not in answer.get_data(as_text=True)
    app.extensions["portal.db"].dispose()
