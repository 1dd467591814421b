"""Fixtures shared by the whole suite: one migrated database per run, an app, its client and CLI runner.

The database is SQLite in a temporary folder by default. With `PORTAL_TEST_DATABASE_URL` set to a
PostgreSQL server (as `make test` does on its second pass), a fresh database `portal_test_<random>`
is created on that server for the run and dropped afterwards. A server that does not answer fails
the run: a database test never skips.
"""

from __future__ import annotations

import contextlib
import email
import email.policy
import os
import secrets
import socket
import threading
import time
from collections.abc import Iterator
from email.message import EmailMessage
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller
from flask import Flask
from flask.testing import FlaskClient, FlaskCliRunner
from sqlalchemy import create_engine, delete, insert, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

from portal import create_app
from portal.database import Database
from portal.models import AuditHead, Base
from portal.policy.register import Register, default_register
from portal.services.audit import GENESIS
from tests.support.systems import systems_settings

TEST_SECRET = "test-secret-key-" + "x" * 32


def _postgres_database(server_url: str) -> Iterator[str]:
    name = f"portal_test_{secrets.token_hex(6)}"
    admin = create_engine(server_url, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as connection:
            connection.execute(text(f'CREATE DATABASE "{name}"'))
    except Exception as exc:  # noqa: BLE001 - any failure here means the suite cannot run as asked
        pytest.fail(f"PostgreSQL at {server_url} does not answer ({exc}); start it or unset "
                    "PORTAL_TEST_DATABASE_URL", pytrace=False)
    try:
        yield make_url(server_url).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture(scope="session")
def database_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    server_url = os.environ.get("PORTAL_TEST_DATABASE_URL")
    if server_url:
        yield from _postgres_database(server_url)
    else:
        yield f"sqlite:///{tmp_path_factory.mktemp('db') / 'portal.sqlite3'}"


@pytest.fixture(scope="session")
def migrated_database(database_url: str) -> str:
    database = Database(database_url)
    database.migrate()
    database.dispose()
    return database_url


class Inbox:
    """What a real SMTP server on 127.0.0.1 received, parsed back into messages."""

    def __init__(self) -> None:
        self.messages: list[EmailMessage] = []
        self.envelopes: list[tuple[str, list[str]]] = []
        self._changed = threading.Condition()

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 - aiosmtpd's hook name
        message = email.message_from_bytes(envelope.original_content or envelope.content, policy=email.policy.default)
        with self._changed:
            self.messages.append(message)  # type: ignore[arg-type]
            self.envelopes.append((envelope.mail_from, list(envelope.rcpt_tos)))
            self._changed.notify_all()
        return "250 Message accepted for delivery"

    def wait_for(self, count: int = 1, timeout: float = 10) -> list[EmailMessage]:
        """Block until `count` messages arrived (or fail the test); returns them all."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while len(self.messages) < count:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    pytest.fail(f"expected {count} mail(s) at the test SMTP server, got {len(self.messages)}")
                self._changed.wait(remaining)
            return list(self.messages)

    def clear(self) -> None:
        with self._changed:
            self.messages.clear()
            self.envelopes.clear()


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class SmtpServer:
    """aiosmtpd on a fixed loopback port, which tests may stop and start again (an outage)."""

    def __init__(self) -> None:
        self.port = free_port()
        self.inbox = Inbox()
        self.controller: Controller | None = None

    @property
    def url(self) -> str:
        return f"smtp://127.0.0.1:{self.port}"

    def start(self) -> None:
        self.controller = Controller(self.inbox, hostname="127.0.0.1", port=self.port)
        self.controller.start()

    def stop(self) -> None:
        if self.controller is not None:
            self.controller.stop()
            self.controller = None


@pytest.fixture(scope="session")
def smtp_server() -> Iterator[SmtpServer]:
    server = SmtpServer()
    server.start()
    yield server
    server.stop()


@pytest.fixture
def inbox(smtp_server: SmtpServer) -> Inbox:
    if smtp_server.controller is None:  # a test that simulated an outage left it stopped
        smtp_server.start()
    smtp_server.inbox.clear()
    return smtp_server.inbox


def make_app(database_url: str, **overrides: object) -> Flask:
    """The app under test; its webhook systems post to the test process's receiver (tests/support/systems.py)."""
    config: dict[str, object] = {"DATABASE_URL": database_url, "SECRET_KEY": TEST_SECRET, "ENV": "test",
                                 **systems_settings()}
    config.update(overrides)
    app = create_app(config)
    app.testing = True
    return app


def close_app(app: Flask) -> None:
    """Stop the app's mail sender, empty the database and close its connections."""
    app.extensions["portal.mail"].stop()
    empty_database(app.extensions["portal.db"])
    app.extensions["portal.db"].dispose()


@pytest.fixture
def app(migrated_database: str, smtp_server: SmtpServer, inbox: Inbox) -> Iterator[Flask]:
    app = make_app(migrated_database, SMTP_URL=smtp_server.url)
    yield app
    close_app(app)


def empty_database(database: Database) -> None:
    """Remove every row, children first, so that each test starts from an empty, migrated database."""
    with database.session() as session:
        with audit_trail_unlocked(session):
            for table in reversed(Base.metadata.sorted_tables):
                session.execute(delete(table))
            session.execute(insert(AuditHead).values(id=1, seq=0, entry_hash=GENESIS))
        session.commit()


@contextlib.contextmanager
def audit_trail_unlocked(session: Session) -> Iterator[None]:
    """Lift the database's append-only guard on the audit trail: for cleaning up, and for tampering tests."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("ALTER TABLE audit_entry DISABLE TRIGGER audit_entry_append_only"))
        session.execute(text("ALTER TABLE audit_entry DISABLE TRIGGER audit_entry_no_truncate"))
        yield
        session.execute(text("ALTER TABLE audit_entry ENABLE TRIGGER audit_entry_no_truncate"))
        session.execute(text("ALTER TABLE audit_entry ENABLE TRIGGER audit_entry_append_only"))
        return
    triggers = session.execute(text(
        "SELECT name, sql FROM sqlite_master WHERE type = 'trigger' AND tbl_name = 'audit_entry'")).all()
    for name, _sql in triggers:
        session.execute(text(f"DROP TRIGGER {name}"))
    yield
    for _name, sql in triggers:
        session.execute(text(sql))


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


@pytest.fixture
def runner(app: Flask) -> FlaskCliRunner:
    return app.test_cli_runner()


@pytest.fixture
def database(migrated_database: str) -> Iterator[Database]:
    """The run's database on its own, without an app or a mail server: for the services' tests."""
    database = Database(migrated_database)
    yield database
    empty_database(database)
    database.dispose()


@pytest.fixture
def session(database: Database) -> Iterator[Session]:
    with database.session() as db_session:
        yield db_session


@pytest.fixture
def register() -> Register:
    return default_register()


REPO_ROOT = Path(__file__).resolve().parent.parent


CSRF_FIELD = "csrf_token"


def csrf_token_from(page: str) -> str:
    import re

    match = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page) or re.search(
        r'type="hidden" name="csrf_token" value="([^"]+)"', page)
    assert match, "no CSRF token on the page"
    return match.group(1)


def sign_in(client, inbox: Inbox, email_address: str) -> None:
    """Sign in through the real flow: ask for a link, read the mail at the SMTP server, type its code."""
    import re

    before = len(inbox.messages)
    token = csrf_token_from(client.get("/sign-in").get_data(as_text=True))
    answer = client.post("/sign-in", data={"email": email_address, CSRF_FIELD: token})
    assert answer.status_code == 303, answer.get_data(as_text=True)[:500]
    deadline, wanted, mail = time.monotonic() + 10, before + 1, None
    while mail is None:  # other mails (for other people, or about requests) may arrive in between
        arrived = inbox.wait_for(wanted, timeout=max(deadline - time.monotonic(), 0.01))
        mail = next((m for m in reversed(arrived[before:]) if m["To"] == email_address
                     and re.search(r"\b\d{3} \d{3}\b", m.get_body(preferencelist=("plain",)).get_content())), None)
        wanted = len(arrived) + 1
    code = re.search(r"\b(\d{3} \d{3})\b", mail.get_body(preferencelist=("plain",)).get_content()).group(1)
    page = client.get("/sign-in/check-mail").get_data(as_text=True)
    signed = client.post("/sign-in/code", data={"code": code, CSRF_FIELD: csrf_token_from(page)})
    assert signed.status_code == 303, signed.get_data(as_text=True)[:500]


@pytest.fixture
def demo(runner) -> None:
    """The demo people of the README, loaded through the import."""
    result = runner.invoke(args=["seed-demo"])
    assert result.exit_code == 0, result.output


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """A `clause(...)` marker must name clauses of the register: a typo fails the run before any test runs.

    docs/statement-coverage.md is built from these markers; an id the register does not have would
    silently prove nothing, so it stops collection with the test and the unknown id named.
    """
    from portal.policy.register import default_register

    known = default_register().clauses
    problems = []
    for item in items:
        for mark in item.iter_markers("clause"):
            if not mark.args:
                problems.append(f"{item.nodeid}: clause() names no clause")
            for clause_id in mark.args:
                if not isinstance(clause_id, str) or clause_id not in known:
                    problems.append(f"{item.nodeid}: unknown clause {clause_id!r}")
    if problems:
        raise pytest.UsageError(
            "clause markers naming clauses that portal/policy/register.toml does not have:\n  "
            + "\n  ".join(sorted(set(problems))))
