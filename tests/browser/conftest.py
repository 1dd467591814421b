"""Fixtures for the browser tests: the portal served on a real socket, and Debian's Chromium driving it.

The portal runs in a thread of this process with `werkzeug.serving.make_server`, on the run's migrated
database (SQLite, or PostgreSQL with `PORTAL_TEST_DATABASE_URL`), with the demo people loaded. Chromium
is launched from /usr/bin/chromium (Playwright cannot download its own browsers on our machines); when
it is missing the run fails, it never skips: `make chromium` installs it.

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
from playwright.sync_api import Browser, BrowserContext, Page, Playwright, sync_playwright
from playwright.sync_api import Error as PlaywrightError
from werkzeug.serving import make_server

from tests.conftest import REPO_ROOT, empty_database, make_app

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

NewPage = Callable[..., Page]


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


@pytest.fixture(scope="package")
def live_server(migrated_database: str) -> Iterator[str]:
    """Base URL ("http://127.0.0.1:PORT") of the portal, serving the demo people.

    Package-scoped rather than session-scoped: the server starts once for all browser tests, and
    its teardown (which empties the shared database again) runs right after the last of them, so
    the demo people do not leak into the integration tests that run later in the same session.
    """
    app = make_app(migrated_database)
    seeded = app.test_cli_runner().invoke(args=["seed-demo"])
    assert seeded.exit_code == 0, f"seed-demo failed ({seeded.exit_code}):\n{seeded.output}"

    # Port 0: the operating system picks a free port and the server keeps it bound, so no race.
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, name="portal-live-server", daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)
        empty_database(app)
        app.extensions["portal.db"].dispose()


@pytest.fixture(scope="session")
def playwright() -> Iterator[Playwright]:
    with sync_playwright() as driver:
        yield driver


@pytest.fixture(scope="session")
def browser(playwright: Playwright) -> Iterator[Browser]:
    if not (CHROMIUM.is_file() and os.access(CHROMIUM, os.X_OK)):
        pytest.fail(
            f"Chromium is required for the browser tests at {CHROMIUM} and is missing. Install it with "
            "`make chromium` (apt-get install chromium); these tests are never skipped.",
            pytrace=False,
        )
    chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
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
def new_page(request: pytest.FixtureRequest, browser: Browser, live_server: str, artifacts: Path) -> Iterator[NewPage]:
    """Open a page in a fresh browser context: `new_page(locale="en-GB", java_script_enabled=False)`.

    Each context has its own cookies and sends `Accept-Language` from its locale; relative URLs in
    `page.goto("/statement")` resolve against the live server. Contexts are closed after the test;
    when the test failed, a screenshot of each open page is saved to tests/artifacts/ first.
    """
    contexts: list[BrowserContext] = []

    def open_page(locale: str = DEFAULT_LOCALE, **options: Any) -> Page:
        context = browser.new_context(base_url=live_server, locale=locale, **options)
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
