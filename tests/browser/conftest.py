"""Fixtures for the browser tests: the portal served on a real socket, and Debian's Chromium driving it.

The portal runs in a thread of this process with `werkzeug.serving.make_server`, on the run's migrated
database (SQLite, or PostgreSQL with `PORTAL_TEST_DATABASE_URL`), with the demo people loaded. It sends
its mail over real SMTP to the suite's aiosmtpd server (the `inbox` fixture shows what arrived), and the
links in that mail point at the live server itself, so a test opens them in the browser as they are.
Each test starts with the abuse limits reset (`live_app`), so tests never use up each other's allowance
of sign-in links from 127.0.0.1. Chromium is launched from /usr/bin/chromium (Playwright cannot download
its own browsers on our machines); when it is missing the run fails, it never skips: `make chromium`
installs it.

Every test in this folder is marked `browser`. Screenshots for a person to look at go to
tests/artifacts/ (git-ignored), and a failing test leaves a screenshot of its page there as well.
"""

from __future__ import annotations

import contextlib
import os
import re
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from playwright.sync_api import Browser, BrowserContext, Page, Playwright, sync_playwright
from playwright.sync_api import Error as PlaywrightError
from werkzeug.serving import make_server

from tests.conftest import REPO_ROOT, SmtpServer, close_app, make_app
from tests.support.browser import NewPage

CHROMIUM = Path("/usr/bin/chromium")
# Without the background-networking flags Chromium keeps trying to reach the (closed) network, which
# would also spoil the "no request leaves 127.0.0.1" test.
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
DEFAULT_LOCALE = "nl-BE"
ARTIFACTS = REPO_ROOT / "tests" / "artifacts"
HERE = Path(__file__).resolve().parent


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    # This hook sees the items of the whole session: mark only those collected from this folder.
    for item in items:
        if HERE in Path(item.path).resolve().parents:
            item.add_marker(pytest.mark.browser)


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[Any]:
    # Keep each phase's report on the item so that the page fixture can tell whether the test failed.
    report = yield
    setattr(item, f"report_{report.when}", report)
    return report


class LiveServer:
    """The portal on a real socket: its `url` ("http://127.0.0.1:PORT") and the `app` object behind it."""

    def __init__(self, url: str, app: Flask) -> None:
        self.url = url
        self.app = app


class _Deferred:
    """The server's WSGI app until the real one exists: the port must be known to build it (its BASE_URL)."""

    def __init__(self) -> None:
        self.app: Flask | None = None

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        assert self.app is not None, "the live server was asked before its app was built"
        return self.app(environ, start_response)


@pytest.fixture(scope="package")
def live(migrated_database: str, smtp_server: SmtpServer) -> Iterator[LiveServer]:
    """The portal serving the demo people and sending mail to the suite's SMTP server.

    Package-scoped rather than session-scoped: the server starts once for all browser tests, and
    its teardown (which stops the mail thread and empties the shared database again) runs right after
    the last of them, so the demo people do not leak into the integration tests that run later in the
    same session.
    """
    # Port 0: the operating system picks a free port and the server keeps it bound, so no race. The
    # app is built afterwards, with that port in its BASE_URL, so that the links in its mails work.
    deferred = _Deferred()
    server = make_server("127.0.0.1", 0, deferred, threaded=True)
    url = f"http://127.0.0.1:{server.server_port}"
    app = make_app(migrated_database, SMTP_URL=smtp_server.url, BASE_URL=url)
    deferred.app = app
    seeded = app.test_cli_runner().invoke(args=["seed-demo"])
    assert seeded.exit_code == 0, f"seed-demo failed ({seeded.exit_code}):\n{seeded.output}"

    thread = threading.Thread(target=server.serve_forever, name="portal-live-server", daemon=True)
    thread.start()
    try:
        yield LiveServer(url, app)
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)
        close_app(app)


@pytest.fixture(scope="package")
def live_server(live: LiveServer) -> str:
    """Base URL ("http://127.0.0.1:PORT") of the portal, serving the demo people."""
    return live.url


@pytest.fixture
def live_app(live: LiveServer) -> Flask:
    """The live server's app, with its abuse limits reset for this test.

    The limiter is in memory and lives as long as the server; every request comes from 127.0.0.1,
    so without the reset the tests together would soon exceed the per-client limit of sign-in links.
    """
    live.app.extensions["portal.limits"].reset()
    return live.app


@pytest.fixture(scope="session")
def playwright() -> Iterator[Playwright]:
    with sync_playwright() as driver:
        yield driver


def launch_chromium(playwright: Playwright, **options: Any) -> Browser:
    if not (CHROMIUM.is_file() and os.access(CHROMIUM, os.X_OK)):
        pytest.fail(
            f"Chromium is required for the browser tests at {CHROMIUM} and is missing. Install it with "
            "`make chromium` (apt-get install chromium); these tests are never skipped.",
            pytrace=False,
        )
    return playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, **options)


@pytest.fixture(scope="session")
def browser(playwright: Playwright) -> Iterator[Browser]:
    chromium = launch_chromium(playwright)
    yield chromium
    chromium.close()


@pytest.fixture(scope="session")
def everyday_browser(playwright: Playwright) -> Iterator[Browser]:
    """Chromium with its back-forward cache on, as people use it.

    Playwright turns that cache off by default, so Back always asks the server again; with it on, Back
    shows the earlier page from memory, as it was, unless the page forbade storing it (`no-store`).
    Navigations restored from that cache fire no load event: use `page.go_back(wait_until="commit")`.
    """
    chromium = launch_chromium(playwright, ignore_default_args=["--disable-back-forward-cache"])
    yield chromium
    chromium.close()


@pytest.fixture(scope="session")
def artifacts() -> Path:
    """The folder for screenshots a person should look at (tests/artifacts/, git-ignored).

    Screenshots of failures from an earlier run are removed, so that every one left belongs to this run.
    """
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    for stale in ARTIFACTS.glob("failed-*.png"):
        stale.unlink()
    return ARTIFACTS


@pytest.fixture
def new_page(
    request: pytest.FixtureRequest, browser: Browser, live_server: str, live_app: Flask, artifacts: Path,
) -> Iterator[NewPage]:
    """Open a page in a fresh browser context: `new_page(locale="en-GB", java_script_enabled=False)`.

    Each context has its own cookies and sends `Accept-Language` from its locale; relative URLs in
    `page.goto("/statement")` resolve against the live server. `back_forward_cache=True` opens it in
    `everyday_browser` instead. Contexts are closed after the test; when the test failed, a screenshot
    of each open page is saved to tests/artifacts/ first.
    """
    contexts: list[BrowserContext] = []

    def open_page(locale: str = DEFAULT_LOCALE, back_forward_cache: bool = False, **options: Any) -> Page:
        chromium: Browser = request.getfixturevalue("everyday_browser") if back_forward_cache else browser
        context = chromium.new_context(base_url=live_server, locale=locale, **options)
        contexts.append(context)
        return context.new_page()

    yield open_page

    report = getattr(request.node, "report_call", None)
    failed = report is not None and report.failed
    name = re.sub(r"[^A-Za-z0-9_.-]+", "_", request.node.name)
    for number, context in enumerate(contexts):
        if failed:
            for page_number, page in enumerate(context.pages):
                # A page that cannot be drawn any more must not hide the test's own failure.
                with contextlib.suppress(PlaywrightError):
                    page.screenshot(path=artifacts / f"failed-{name}-{number}-{page_number}.png", full_page=True)
        context.close()


@pytest.fixture
def page(new_page: NewPage) -> Page:
    """A page in a new context with a Dutch (Belgian) browser, the portal's main audience."""
    return new_page()
