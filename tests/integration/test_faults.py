"""Faults a production portal meets, made real: PostgreSQL, SMTP and Redis go away and come back, and a mail
worker is killed in the middle of sending.

What a person notices: a clear page in their language (never a trace) while the database is down, and
everything working again, without a restart, once it is back; links and confirmations that arrive, once, after
a mail outage; sign-in that keeps working, and keeps being limited, without Redis. What an auditor notices:
nothing half-written after a database failure, no mail sent twice, the warning in the log.

The servers that fail here are private to this module: a throwaway PostgreSQL cluster and a redis-server
on free ports, never the shared services other suites use. Their binaries are required: a missing one fails
the run, it does not skip.
"""

from __future__ import annotations

import collections
import datetime as dt
import logging
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
from sqlalchemy import create_engine, event, func, select, text

from portal import i18n
from portal.clock import utcnow
from portal.database import Database
from portal.models import AuditEntry, OutboxMail, RequestEvent, RightsRequest
from portal.services import limits as limits_module
from portal.services.outbox import LEASE, SmtpTransport, deliver_due, queue_mail
from tests.conftest import REPO_ROOT, TEST_SECRET, SmtpServer, close_app, free_port, make_app, sign_in
from tests.support.mails import code_in, eventually, wait_for_mail
from tests.support.pages import ask_for_link, browser, form_to, html_lang, page_text, request_cards, type_code

PERSON = "mira.faults@example.com"
OTHER = "ruben.faults@example.org"
UNAVAILABLE = {  # what the 503 page says, in each language, without the database
    "nl": ("Fout 503", "Ga naar de startpagina", "Het portaal is even niet beschikbaar",
           "Niets van wat u stuurde, werd half bewaard"),
    "en": ("Error 503", "Go to the home page", "The portal is briefly unavailable",
           "Nothing you sent was saved half-way"),
}


# --- a private PostgreSQL cluster ---------------------------------------------------------------------------


def _postgres_bin() -> Path:
    found = [path.parent for path in Path("/usr/lib/postgresql").glob("*/bin")
             if (path / "initdb").exists() and (path / "pg_ctl").exists()]
    if not found:
        pytest.fail("No PostgreSQL server binaries (initdb, pg_ctl) under /usr/lib/postgresql/*/bin: install the "
                    "postgresql package; the fault tests need a private cluster they can stop.", pytrace=False)
    return max(found, key=lambda path: int(path.parent.name) if path.parent.name.isdigit() else 0) / "bin"


class PrivatePostgres:
    """A throwaway cluster in a temporary folder, on its own port, that a test may stop and start again."""

    def __init__(self, root: Path) -> None:
        self.bin = _postgres_bin()
        self.root = root
        self.data = root / "data"
        self.port = free_port()
        self.running = False
        self.as_postgres: list[str] = []
        if os.geteuid() == 0:  # PostgreSQL refuses to run as root
            if shutil.which("runuser") is None:
                pytest.fail("running as root, but runuser is missing to start PostgreSQL as `postgres`",
                            pytrace=False)
            self.as_postgres = ["runuser", "-u", "postgres", "--"]

    @property
    def url(self) -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/portal"

    def _run(self, *command: str) -> None:
        result = subprocess.run([*self.as_postgres, *command], capture_output=True, text=True, timeout=120,
                                check=False, stdin=subprocess.DEVNULL)
        if result.returncode != 0:
            log = (self.root / "server.log").read_text() if (self.root / "server.log").exists() else ""
            pytest.fail(f"{' '.join(command)} failed ({result.returncode}): "
                        f"{result.stdout}{result.stderr}{log[-2000:]}", pytrace=False)

    def init(self) -> None:
        self._run(str(self.bin / "initdb"), "-D", str(self.data), "-U", "postgres", "--auth=trust", "--no-sync")

    def start(self) -> None:
        options = f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 -c fsync=off"
        self._run(str(self.bin / "pg_ctl"), "-D", str(self.data), "-o", options, "-l", str(self.root / "server.log"),
                  "-w", "-t", "60", "start")
        self.running = True

    def stop(self) -> None:
        self._run(str(self.bin / "pg_ctl"), "-D", str(self.data), "-m", "fast", "-w", "-t", "60", "stop")
        self.running = False


@pytest.fixture(scope="module")
def private_postgres() -> Iterator[PrivatePostgres]:
    root = Path(tempfile.mkdtemp(prefix="portal-faults-pg-"))
    try:
        if os.geteuid() == 0:
            shutil.chown(root, "postgres", "postgres")
        server = PrivatePostgres(root)
        server.init()
        server.start()
        try:
            admin = create_engine(server.url.replace("/portal", "/postgres"), isolation_level="AUTOCOMMIT")
            with admin.connect() as connection:
                connection.execute(text('CREATE DATABASE "portal"'))
            admin.dispose()
            database = Database(server.url)
            database.migrate()
            database.dispose()
            yield server
        finally:
            if server.running:
                server.stop()
    finally:
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def pg_app(private_postgres: PrivatePostgres, smtp_server: SmtpServer, inbox) -> Iterator:
    """The portal on the private cluster; the cluster is running again (and emptied) afterwards."""
    if not private_postgres.running:
        private_postgres.start()
    app = make_app(private_postgres.url, SMTP_URL=smtp_server.url)
    yield app
    if not private_postgres.running:
        private_postgres.start()
    close_app(app)


def rights_requests(app, email: str) -> list[RightsRequest]:
    with app.extensions["portal.db"].session() as session:
        return list(session.scalars(select(RightsRequest).where(RightsRequest.email == email)
                                    .order_by(RightsRequest.id)))


def count_rows(app, model, *where) -> int:
    with app.extensions["portal.db"].session() as session:
        return session.scalar(select(func.count()).select_from(model).where(*where))


def assert_unavailable(response, language: str) -> None:
    """The localised 503 page: says what is going on and when to come back, shows nothing of the failure."""
    body = response.get_data(as_text=True)
    assert response.status_code == 503, body[:500]
    assert response.headers["Retry-After"] == "60"
    assert response.headers["Cache-Control"] == "no-store"
    assert html_lang(response) == language
    text = page_text(response)
    for wording in UNAVAILABLE[language]:
        assert wording in text, (wording, text[:1500])
    for leak in ("Traceback", 'File "', "OperationalError", "psycopg", "sqlalchemy", "127.0.0.1",
                 "terminating connection", "Connection refused"):
        assert leak not in body, leak


# --- PostgreSQL goes down and comes back --------------------------------------------------------------------


def test_postgres_stopped_in_the_middle_of_use_gives_a_clear_503_and_the_same_app_recovers(
    pg_app, private_postgres, inbox, caplog,
):
    client = browser(pg_app, "nl")
    sign_in(client, inbox, PERSON)
    assert client.get("/me").status_code == 200
    form = form_to(client.get("/me/rights/access"), "").values
    assert {"csrf_token", "key"} <= set(form)

    private_postgres.stop()
    try:
        with caplog.at_level(logging.ERROR):
            for language in ("nl", "en"):
                client.set_cookie(i18n.COOKIE, language)
                assert_unavailable(client.get("/me"), language)
                assert_unavailable(client.post("/me/rights/access",
                                               data={**form, "details": f"Sent during the outage ({language})"}),
                                   language)
            health = client.get("/healthz")
            assert health.status_code == 503 and health.get_json() == {"status": "unavailable", "database": "down"}
        # The operator's log says the database is unavailable; no request ended as an unexpected error.
        assert any("Database unavailable" in record.getMessage() for record in caplog.records)
        assert not any(record.getMessage() == "Unhandled error" for record in caplog.records)
    finally:
        private_postgres.start()

    # The same app, the same browser: the pool reconnects, the session is still there.
    client.set_cookie(i18n.COOKIE, "en")
    assert client.get("/healthz").status_code == 200
    assert client.get("/me").status_code == 200
    assert rights_requests(pg_app, PERSON) == []  # what was posted during the outage is not there
    retried = client.post("/me/rights/access", data={**form, "details": "Sent again afterwards"})
    assert retried.status_code == 303 and retried.headers["Location"] == "/me/requests"
    again = client.post("/me/rights/access", data={**form, "details": "Sent again afterwards"})  # a double click
    assert again.status_code == 303
    [made] = rights_requests(pg_app, PERSON)
    assert made.right == "access" and made.details == "Sent again afterwards"
    assert len(request_cards(client.get("/me/requests"))) == 1


def test_postgres_dying_inside_a_requests_transaction_leaves_nothing_half_written(pg_app, private_postgres, inbox):
    client = browser(pg_app, "en")
    sign_in(client, inbox, PERSON)
    form = form_to(client.get("/me/rights/access"), "").values
    engine = pg_app.extensions["portal.db"].engine
    mails_before = count_rows(pg_app, OutboxMail)
    audit_before = count_rows(pg_app, AuditEntry)
    written: list[str] = []

    def die_after_the_last_insert(conn, cursor, statement, parameters, context, executemany):
        if statement.startswith("INSERT INTO"):
            written.append(statement.split()[2])
        # The request, its history, its audit entry and its mail are written; the commit is next.
        if statement.startswith("INSERT INTO outbox_mail") and private_postgres.running:
            private_postgres.stop()

    event.listen(engine, "after_cursor_execute", die_after_the_last_insert)
    try:
        answer = client.post("/me/rights/access", data={**form, "details": "Half-way"})
    finally:
        event.remove(engine, "after_cursor_execute", die_after_the_last_insert)
        if not private_postgres.running:
            private_postgres.start()
    assert {"rights_request", "request_event", "audit_entry", "outbox_mail"} <= set(written), written
    assert_unavailable(answer, "en")

    assert client.get("/me").status_code == 200
    assert rights_requests(pg_app, PERSON) == []
    assert count_rows(pg_app, RequestEvent) == 0
    assert count_rows(pg_app, OutboxMail) == mails_before
    assert count_rows(pg_app, AuditEntry, AuditEntry.action == "request_received") == 0
    assert count_rows(pg_app, AuditEntry) >= audit_before  # (viewing /me again wrote its own entry)
    assert client.post("/me/rights/access", data={**form, "details": "Whole"}).status_code == 303
    [made] = rights_requests(pg_app, PERSON)
    assert made.details == "Whole"
    assert count_rows(pg_app, RequestEvent) == 1
    assert count_rows(pg_app, AuditEntry, AuditEntry.action == "request_received") == 1


def test_the_mail_worker_of_make_serve_outlives_a_database_outage(pg_app, private_postgres, smtp_server, inbox,
                                                                  tmp_path):
    environment = {name: value for name, value in os.environ.items() if not name.startswith("PORTAL_")}
    environment.update({"PORTAL_ENV": "test", "PORTAL_DATABASE_URL": private_postgres.url,
                        "PORTAL_SECRET_KEY": TEST_SECRET, "PORTAL_SMTP_URL": smtp_server.url})
    log = tmp_path / "worker.log"

    def queue(recipient: str) -> None:
        with pg_app.extensions["portal.db"].session() as session:
            queue_mail(session, recipient=recipient, subject="Bericht", body_text="Tekst", body_html="<p>Tekst</p>",
                       sender_domain="we-are.be", now=utcnow())
            session.commit()

    with open(log, "wb") as output:
        worker = subprocess.Popen([str(Path(sys.prefix) / "bin" / "flask"), "--app", "wsgi", "send-mail", "--loop",
                                   "--interval", "0.2"], cwd=REPO_ROOT, env=environment, stdin=subprocess.DEVNULL,
                                  stdout=output, stderr=subprocess.STDOUT)
    try:
        queue("before@example.com")
        inbox.wait_for(1, timeout=20)  # the worker is up and sending
        private_postgres.stop()
        time.sleep(1.5)  # a few rounds against the stopped database
        private_postgres.start()
        assert worker.poll() is None, f"the worker ended during the outage:\n{log.read_text()[-1500:]}"
        queue("after@example.com")
        inbox.wait_for(2, timeout=20)
        assert [to for _from, [to] in inbox.envelopes] == ["before@example.com", "after@example.com"]
    finally:
        if worker.poll() is None:
            worker.terminate()
        worker.wait(timeout=20)


# --- SMTP goes down and comes back --------------------------------------------------------------------------


@pytest.fixture
def own_smtp() -> Iterator[SmtpServer]:
    server = SmtpServer()
    server.start()
    yield server
    server.stop()


def outbox(app) -> list[OutboxMail]:
    with app.extensions["portal.db"].session() as session:
        return list(session.scalars(select(OutboxMail).order_by(OutboxMail.id)))


def test_mail_waits_while_smtp_is_down_and_each_goes_out_once_when_it_is_back(migrated_database, own_smtp):
    app = make_app(migrated_database, SMTP_URL=own_smtp.url)
    try:
        person = browser(app, "en")
        sign_in(person, own_smtp.inbox, PERSON)  # before the outage
        access = form_to(person.get("/me/rights/access"), "").values
        before = {mail.id for mail in outbox(app)}
        assert all(mail.status == "sent" for mail in outbox(app))

        own_smtp.stop()
        other = browser(app, "nl")
        asked = ask_for_link(other, OTHER)
        assert asked.status_code == 303 and asked.headers["Location"] == "/sign-in/check-mail"
        assert other.get("/sign-in/check-mail").status_code == 200
        requested = person.post("/me/rights/access", data={**access, "details": "While the mail is down"})
        assert requested.status_code == 303
        assert len(request_cards(person.get("/me/requests"))) == 1

        def tried() -> list[OutboxMail] | None:
            waiting = [mail for mail in outbox(app) if mail.id not in before]
            return waiting if len(waiting) == 2 and all(mail.attempts >= 1 for mail in waiting) else None

        waiting = eventually(tried, timeout=15, message="the web process never tried to send the new mails")
        assert sorted(mail.recipient for mail in waiting) == sorted([OTHER, PERSON])
        for mail in waiting:
            assert mail.status == "pending" and mail.sent_at is None
            assert "ConnectionRefused" in (mail.last_error or ""), mail.last_error
            assert mail.next_attempt_at > utcnow() - dt.timedelta(seconds=1)
        time.sleep(0.5)
        assert len(own_smtp.inbox.messages) == 1  # only the sign-in mail from before the outage

        own_smtp.start()
        settings = app.extensions["portal.settings"]
        # Two senders at once: the web process's (woken) and a worker's, both with the mails due.
        with app.extensions["portal.db"].session() as session:
            for mail in waiting:
                session.get(OutboxMail, mail.id).next_attempt_at = utcnow()
            session.commit()
        app.extensions["portal.mail"].wake()
        worker = deliver_due(app.extensions["portal.db"].sessions, SmtpTransport(own_smtp.url),
                             sender=settings.mail_from, secret=settings.secret_key)
        assert worker.failed == 0
        eventually(lambda: all(mail.status == "sent" for mail in outbox(app)), timeout=15,
                   message="not every waiting mail was sent")
        own_smtp.inbox.wait_for(3)
        later = deliver_due(app.extensions["portal.db"].sessions, SmtpTransport(own_smtp.url),
                            sender=settings.mail_from, secret=settings.secret_key,
                            now=lambda: utcnow() + dt.timedelta(days=2))
        assert (later.sent, later.retried, later.failed) == (0, 0, 0)
        time.sleep(0.5)

        arrivals = collections.Counter(message["Message-ID"] for message in own_smtp.inbox.messages)
        assert arrivals == {mail.message_id: 1 for mail in outbox(app)}
        assert all(mail.attempts >= 2 or mail.id in before for mail in outbox(app))  # failed once, then sent
        # The late link still works: the code from the mail signs in in the browser that asked.
        [link_mail] = [m for m in own_smtp.inbox.messages if m["To"] == OTHER]
        assert type_code(other, code_in(link_mail)).status_code == 303
        assert other.get("/me").status_code == 200
    finally:
        own_smtp.stop()
        close_app(app)


# --- Redis goes down and comes back -------------------------------------------------------------------------


class PrivateRedis:
    def __init__(self, directory: Path) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            pytest.fail("redis-server is not installed; the fault tests need a private one they can kill",
                        pytrace=False)
        self.binary = binary
        self.directory = directory
        self.port = free_port()
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}"

    def start(self) -> None:
        with open(self.directory / "redis.log", "ab") as log:
            self.process = subprocess.Popen(
                [self.binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
                 "--dir", str(self.directory)], stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        deadline = time.monotonic() + 15
        while True:
            try:
                with self.client() as client:
                    client.ping()
                return
            except redis.ConnectionError:
                if self.process.poll() is not None or time.monotonic() > deadline:
                    pytest.fail(f"redis-server did not start: {(self.directory / 'redis.log').read_text()[-2000:]}",
                                pytrace=False)
                time.sleep(0.05)

    def kill(self) -> None:
        if self.process is not None:
            if self.process.poll() is None:
                os.kill(self.process.pid, signal.SIGCONT)  # in case a test froze it
                self.process.kill()
            self.process.wait(timeout=10)
            self.process = None

    def client(self) -> redis.Redis:
        return redis.Redis(host="127.0.0.1", port=self.port, socket_timeout=5)

    def stored_keys(self) -> list[str]:
        with self.client() as client:
            return sorted(key.decode() for key in client.keys("*"))


@pytest.fixture
def private_redis(tmp_path) -> Iterator[PrivateRedis]:
    server = PrivateRedis(tmp_path)
    server.start()
    yield server
    server.kill()


@pytest.fixture
def redis_app(migrated_database, smtp_server, inbox, private_redis) -> Iterator:
    app = make_app(migrated_database, SMTP_URL=smtp_server.url, RATELIMIT_STORAGE_URI=private_redis.url)
    yield app
    close_app(app)


def limit_warnings(caplog) -> list[str]:
    return [record.getMessage() for record in caplog.records
            if record.name == "portal.limits" and record.levelno == logging.WARNING]


def test_without_redis_sign_in_keeps_working_and_keeps_being_limited(redis_app, private_redis, inbox, caplog,
                                                                    monkeypatch):
    limits = redis_app.extensions["portal.limits"]
    caplog.set_level(logging.WARNING, logger="portal.limits")
    monkeypatch.setattr(limits_module, "RETRY_SHARED_AFTER", 3600.0)  # no retry of Redis until we say so
    assert ask_for_link(browser(redis_app), "warm.up@example.com").status_code == 303
    assert any("warm.up@example.com" in key for key in private_redis.stored_keys())  # counted in Redis while it is up
    assert not limits.degraded

    private_redis.kill()
    client = browser(redis_app, "en")
    sign_in(client, inbox, PERSON)  # link 1 and its code: the code limit is counted too
    assert client.get("/me").status_code == 200
    for number in (2, 3):
        assert ask_for_link(browser(redis_app), PERSON).status_code == 303, number
    refused = ask_for_link(browser(redis_app, "en"), PERSON)
    assert refused.status_code == 429
    assert 14 * 60 < int(refused.headers["Retry-After"]) <= 15 * 60
    assert "Too many attempts" in page_text(refused)
    assert limits.degraded
    [warning] = limit_warnings(caplog)  # one warning when it went away, not one per request
    assert "unavailable" in warning and f"127.0.0.1:{private_redis.port}" in warning
    wait_for_mail(inbox, PERSON, 3)
    time.sleep(0.3)
    assert len([m for m in inbox.messages if m["To"] == PERSON]) == 3  # the refused one sent nothing

    # Redis is back; within the retry interval the process keeps counting on its own.
    private_redis.start()
    assert ask_for_link(browser(redis_app), OTHER).status_code == 303
    assert private_redis.stored_keys() == [] and limits.degraded
    # After the interval the next attempt goes to Redis again, and is counted there.
    monkeypatch.setattr(limits_module, "RETRY_SHARED_AFTER", 0.0)
    assert ask_for_link(browser(redis_app), OTHER).status_code == 303
    assert not limits.degraded
    assert any(f"link_address/{OTHER}/" in key for key in private_redis.stored_keys()), private_redis.stored_keys()
    assert len(limit_warnings(caplog)) == 2 and "is back" in limit_warnings(caplog)[1]
    assert ask_for_link(browser(redis_app), OTHER).status_code == 303
    window = next(key for key in private_redis.stored_keys() if "/3/15/minute" in key and OTHER in key)
    with private_redis.client() as shared:
        kind = shared.type(window).decode()
        counted = shared.llen(window) if kind == "list" else shared.zcard(window)
    assert counted == 2  # the attempt counted locally stays there; Redis counts from its return


def test_a_redis_that_hangs_does_not_hang_sign_in(redis_app, private_redis):
    client = browser(redis_app, "en")
    assert ask_for_link(client, "warm.up@example.com").status_code == 303
    os.kill(private_redis.process.pid, signal.SIGSTOP)  # up, accepting connections, never answering
    answers: list[int] = []
    asking = threading.Thread(target=lambda: answers.append(ask_for_link(browser(redis_app), PERSON).status_code),
                              daemon=True)
    try:
        asking.start()
        asking.join(5)
        assert answers == [303], "the sign-in request still waits for Redis after 5 seconds"
    finally:
        private_redis.kill()  # a dead Redis ends the wait: the request falls back to counting in the process
        asking.join(30)
        assert not asking.is_alive()


# --- a mail worker killed in the middle of sending ----------------------------------------------------------

WORKER = """
import pathlib, sys, time
from portal.database import Database
from portal.services.outbox import deliver_due

class Hangs:
    def send(self, message):
        pathlib.Path(sys.argv[2]).write_text(message["Message-ID"])
        time.sleep(3600)

database = Database(sys.argv[1])
deliver_due(database.sessions, Hangs(), sender="We Are privacy portal <privacy@we-are.be>", secret=sys.argv[3])
"""


def test_a_worker_killed_mid_send_leaves_its_mails_to_the_next_round_which_sends_each_once(
    app, session, inbox, smtp_server, migrated_database, tmp_path,
):
    ids = []
    for number in range(3):
        mail = queue_mail(session, recipient=f"person{number}@example.com", subject=f"Bericht {number}",
                          body_text="Tekst", body_html="<p>Tekst</p>", sender_domain="we-are.be", now=utcnow())
        session.commit()
        ids.append(mail.id)
    sending = tmp_path / "sending"
    worker = subprocess.Popen([sys.executable, "-c", WORKER, migrated_database, str(sending), TEST_SECRET],
                              cwd=REPO_ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 30
        while not sending.exists():
            assert worker.poll() is None, worker.communicate()[1].decode()[-2000:]
            assert time.monotonic() < deadline, "the worker never started sending"
            time.sleep(0.05)
        worker.send_signal(signal.SIGKILL)
    finally:
        worker.kill()
        _out, _err = worker.communicate(timeout=30)
    assert worker.returncode == -signal.SIGKILL

    session.expire_all()
    held = [session.get(OutboxMail, mail_id) for mail_id in ids]
    assert sending.read_text() == held[0].message_id
    # The dead worker's claim holds its whole batch, unsent, until the claim runs out.
    assert all(mail.status == "pending" and mail.attempts == 0 and mail.sent_at is None for mail in held)
    assert all(mail.claimed_until is not None and mail.claimed_until > utcnow() for mail in held)
    sessions = app.extensions["portal.db"].sessions
    settings = app.extensions["portal.settings"]

    def next_round(at: dt.datetime):
        return deliver_due(sessions, SmtpTransport(smtp_server.url), sender=settings.mail_from,
                           secret=settings.secret_key, now=lambda: at)

    assert next_round(utcnow()).sent == 0  # nobody sends them while the claim holds
    assert inbox.messages == []
    after_the_claim = max(mail.claimed_until for mail in held) + dt.timedelta(seconds=1)
    assert after_the_claim <= utcnow() + LEASE + dt.timedelta(seconds=1)
    report = next_round(after_the_claim)
    assert (report.sent, report.retried, report.failed) == (3, 0, 0)
    assert next_round(after_the_claim + LEASE * 2).sent == 0
    inbox.wait_for(3)
    time.sleep(0.3)
    arrivals = collections.Counter(message["Message-ID"] for message in inbox.messages)
    assert arrivals == {mail.message_id: 1 for mail in held}
    session.expire_all()
    assert all((session.get(OutboxMail, mail_id).status, session.get(OutboxMail, mail_id).attempts) == ("sent", 1)
               for mail_id in ids)
