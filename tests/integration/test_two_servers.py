"""Two server processes behind one address, as in docs/deployment.md: gunicorn with gunicorn.conf.py, twice.

Both share the test database, one Redis database for the abuse limits and the test SMTP server, and the same
secret key. What a person notices: they ask for a link on one server, type the code on the other, and every
page works on either, with no sticky sessions. What an auditor notices: the per-address limit on links holds
across both processes, because they count in Redis together.
"""

from __future__ import annotations

import base64
import html
import http.cookiejar
import json
import os
import re
import secrets
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from email.message import Message
from pathlib import Path
from urllib.parse import urlencode

import pytest
import redis

from portal.policy.register import default_register
from tests.conftest import REPO_ROOT, TEST_SECRET, close_app, free_port, make_app
from tests.support.mails import code_in, wait_for_mail

REDIS_URL = "redis://127.0.0.1:6379/11"  # a database of the shared Redis that only this module uses
PERSON = "sara.twoservers@example.com"
LIMITED = "wim.twoservers@example.org"
CSRF = re.compile(r'name="csrf_token" type="hidden" value="([^"]+)"')
GUNICORN = Path(sys.prefix) / "bin" / "gunicorn"


@dataclass
class Answer:
    status: int
    headers: Message
    text: str


class _KeepRedirects(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, req, fp, code, msg, headers, newurl):  # noqa: ANN001 - urllib's signature
        return None  # a 303 is an answer to look at, as in the app's own tests


class Browser:
    """Cookies and a language, as a browser keeps them: one origin in front, whichever server answers."""

    def __init__(self, language: str = "en") -> None:
        self.cookies = http.cookiejar.CookieJar()
        self.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(self.cookies), _KeepRedirects)
        self.language = language

    def open(self, server: str, path: str, form: dict[str, str] | None = None) -> Answer:
        request = urllib.request.Request(server + path, data=urlencode(form).encode() if form is not None else None,
                                         headers={"Accept-Language": self.language})
        try:
            with self.opener.open(request, timeout=30) as response:
                return Answer(response.status, response.headers, response.read().decode())
        except urllib.error.HTTPError as error:
            with error:
                return Answer(error.code, error.headers, error.read().decode())

    def submit(self, server: str, page: str, action: str, **fields: str) -> Answer:
        """Open `page` on `server`, and post its form to `action` there with its CSRF token."""
        opened = self.open(server, page)
        assert opened.status == 200, opened.text[:500]
        token = CSRF.search(opened.text)
        assert token, opened.text[:500]
        return self.open(server, action, {"csrf_token": html.unescape(token.group(1)), **fields})


class Servers:
    def __init__(self, log_dir: Path) -> None:
        self.log_dir = log_dir
        self.processes: list[subprocess.Popen] = []
        self.urls: list[str] = []
        self.logs: list[Path] = []

    def start(self, count: int, environment: dict[str, str]) -> None:
        if not GUNICORN.exists():
            pytest.fail(f"gunicorn is not installed at {GUNICORN}: `make install`", pytrace=False)
        for number in range(count):
            port = free_port()
            log = self.log_dir / f"gunicorn-{number}.log"
            with open(log, "wb") as output:
                self.processes.append(subprocess.Popen(
                    [str(GUNICORN), "-c", "gunicorn.conf.py", "wsgi:app"], cwd=REPO_ROOT, stdin=subprocess.DEVNULL,
                    stdout=output, stderr=subprocess.STDOUT,
                    env={**environment, "GUNICORN_BIND": f"127.0.0.1:{port}", "GUNICORN_WORKERS": "1"},
                ))
            self.urls.append(f"http://127.0.0.1:{port}")
            self.logs.append(log)
        for process, url, log in zip(self.processes, self.urls, self.logs, strict=True):
            self._wait_until_healthy(process, url, log)

    @staticmethod
    def _wait_until_healthy(process: subprocess.Popen, url: str, log: Path) -> None:
        deadline = time.monotonic() + 60
        while True:
            if process.poll() is not None:
                pytest.fail(f"gunicorn at {url} exited with {process.returncode}:\n{log.read_text()[-3000:]}",
                            pytrace=False)
            try:
                with urllib.request.urlopen(url + "/healthz", timeout=5) as answer:
                    if answer.status == 200 and json.load(answer) == {"status": "ok", "database": "up"}:
                        return
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"gunicorn at {url} never became healthy:\n{log.read_text()[-3000:]}", pytrace=False)
            time.sleep(0.1)

    def stop(self) -> None:
        for process in self.processes:
            if process.poll() is None:
                process.terminate()
        for process in self.processes:
            try:
                process.wait(timeout=40)  # gunicorn's graceful_timeout is 30 s
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=10)


@pytest.fixture
def shared_redis() -> Iterator[redis.Redis]:
    client = redis.Redis.from_url(REDIS_URL, socket_timeout=5)
    try:
        client.flushdb()
    except redis.RedisError as exc:
        client.close()
        pytest.fail(f"Redis does not answer at {REDIS_URL} ({exc}); `make test` starts it", pytrace=False)
    yield client
    client.flushdb()
    client.close()


@pytest.fixture(scope="module")
def servers(migrated_database, smtp_server, tmp_path_factory) -> Iterator[Servers]:
    environment = {name: value for name, value in os.environ.items() if not name.startswith(("PORTAL_", "GUNICORN_"))}
    environment.update({
        # Production, as `make serve` runs it; plain http on loopback, and SQLite when the suite runs on it.
        "PORTAL_ENV": "production",
        "PORTAL_ALLOW_HTTP": "1",
        "PORTAL_DATABASE_URL": migrated_database,
        "PORTAL_SECRET_KEY": TEST_SECRET,
        "PORTAL_SMTP_URL": smtp_server.url,
        "PORTAL_RATELIMIT_STORAGE_URI": REDIS_URL,
        "PYTHONUNBUFFERED": "1",
    })
    if migrated_database.startswith("sqlite"):
        environment["PORTAL_ALLOW_SQLITE"] = "1"
    # Production signs every webhook: each webhook system of the register gets a secret (none is posted here).
    for system in default_register().systems.values():
        if system.notice.delivery == "webhook":
            environment[system.secret_variable] = "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()
    started = Servers(tmp_path_factory.mktemp("gunicorn"))
    try:
        started.start(2, environment)
        yield started
    finally:
        started.stop()
        close_app(make_app(migrated_database))  # empties the database for the tests after these


@pytest.fixture
def two_servers(servers, inbox, shared_redis) -> Servers:
    """Both servers, with no counters in Redis and an empty inbox at the start of each test."""
    return servers


def test_a_person_starts_on_one_server_and_continues_on_the_other(two_servers, inbox, shared_redis):
    a, b = two_servers.urls
    browser = Browser("nl")
    asked = browser.submit(a, "/sign-in", "/sign-in", email=PERSON, next="")
    assert asked.status == 303 and asked.headers["Location"] == "/sign-in/check-mail"
    code = code_in(wait_for_mail(inbox, PERSON))  # sent by server A's own sender after its commit

    # Server B knows the attempt from the signed cookie alone, and the code from the shared database.
    check_mail = browser.open(b, "/sign-in/check-mail")
    assert check_mail.status == 200 and PERSON in html.unescape(check_mail.text)
    signed_in = browser.submit(b, "/sign-in/check-mail", "/sign-in/code", code=code)
    assert signed_in.status == 303 and signed_in.headers["Location"] == "/me", signed_in.text[:500]

    for server in (a, b, a, b):
        page = browser.open(server, "/me")
        assert page.status == 200, (server, page.status, page.text[:300])
        assert '<html lang="nl"' in page.text and PERSON in html.unescape(page.text)
    assert browser.open(b, "/me/rights").status == 200
    assert Browser("nl").open(a, "/me").status == 302  # and nobody else is signed in by it

    # Both processes wrote their JSON request lines, with the route and never the address or the code.
    for log in two_servers.logs:
        lines = [json.loads(line) for line in log.read_text().splitlines() if line.startswith("{")]
        assert any(line["route"] == "/me" and line["status"] == 200 for line in lines), log.read_text()[-2000:]
        assert PERSON not in log.read_text() and code not in log.read_text()
        assert code.replace(" ", "") not in log.read_text()


def test_the_link_limit_for_an_address_holds_across_both_servers(two_servers, inbox, shared_redis):
    a, b = two_servers.urls
    for number, server in enumerate((a, b, a)):
        asked = Browser("en").submit(server, "/sign-in", "/sign-in", email=LIMITED, next="")
        assert asked.status == 303, (number, asked.status, asked.text[:300])
    for server in (b, a):
        refused = Browser("en").submit(server, "/sign-in", "/sign-in", email=LIMITED, next="")
        assert refused.status == 429, (server, refused.status)
        assert 14 * 60 < int(refused.headers["Retry-After"]) <= 15 * 60
        assert "Too many attempts" in html.unescape(refused.text)
    counted = [key.decode() for key in shared_redis.keys("*") if LIMITED.encode() in key]
    assert counted, "the servers did not count in the shared Redis"
    wait_for_mail(inbox, LIMITED, 3)
    time.sleep(0.5)
    assert len([message for message in inbox.messages if message["To"] == LIMITED]) == 3  # the refused sent none
    # Another address is not affected, on either server.
    assert Browser("en").submit(b, "/sign-in", "/sign-in", email=PERSON, next="").status == 303
