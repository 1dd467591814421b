"""Mail that is never lost: a transactional outbox and the sender that empties it.

`queue_mail` writes the mail as a row in the caller's transaction, so it exists exactly when the action
that caused it was committed. `deliver_due` sends what is due over a `Transport`: temporary failures
(connection refused, timeouts, 4xx answers) are retried with growing pauses; permanent ones (5xx) are
marked failed for staff to see. Rows are claimed before sending (`FOR UPDATE SKIP LOCKED` on PostgreSQL),
with a lease, so that several workers never send the same mail at the same time.
"""

from __future__ import annotations

import datetime as dt
import logging
import smtplib
import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from typing import Protocol, TextIO
from urllib.parse import parse_qs, unquote, urlsplit

from sqlalchemy import or_, select, update
from sqlalchemy.orm import Session, sessionmaker

from portal import clock
from portal.models import OutboxMail, SignInToken
from portal.services.tokens import CODE_MARK, LINK_MARK, fill_in, link_code, link_token

LEASE = dt.timedelta(minutes=5)  # longer than a batch can take (BATCH mails x the SMTP timeout)
BATCH = 10
FIRST_RETRY = dt.timedelta(seconds=15)
LONGEST_PAUSE = dt.timedelta(hours=1)
GIVE_UP_AFTER = 40  # temporary failures, about a day and a half of retries


class TemporaryFailure(Exception):
    """The mail could not be delivered now; it may be later (server down, 4xx answer)."""


class PermanentFailure(Exception):
    """The mail server refused the mail for good (5xx answer)."""


class Transport(Protocol):
    def send(self, message: EmailMessage) -> None: ...


def queue_mail(
    session: Session, *, recipient: str, subject: str, body_text: str, body_html: str, sender_domain: str,
    now: dt.datetime, sign_in_token_id: int | None = None,
) -> OutboxMail:
    """Add a mail to the outbox in the caller's transaction; it is delivered after the commit."""
    mail = OutboxMail(
        recipient=recipient, subject=subject, body_text=body_text, body_html=body_html,
        message_id=make_msgid(domain=sender_domain), status="pending", attempts=0, created_at=now,
        next_attempt_at=now, sign_in_token_id=sign_in_token_id,
    )
    session.add(mail)
    return mail


def build_message(mail: OutboxMail, *, sender: str, secret: str, session: Session) -> EmailMessage:
    """The RFC 5322 message for an outbox row, with the headers mail providers expect.

    A sign-in mail gets its link and code only here, derived from the secret key: the row itself never
    holds them, so a copy of the database cannot be used to sign in.
    """
    text, html = mail.body_text, mail.body_html
    if mail.sign_in_token_id is not None:
        attempt = session.get(SignInToken, mail.sign_in_token_id)
        if attempt is None:
            raise PermanentFailure("the sign-in attempt of this mail no longer exists")
        token = link_token(secret, attempt.id, attempt.nonce)
        code = link_code(secret, attempt.id, attempt.nonce)
        text, html = fill_in(text, token, code), fill_in(html, token, code)
    if LINK_MARK in text + html or CODE_MARK in text + html:
        raise PermanentFailure("the mail still holds sign-in placeholders; it would be useless to its reader")
    message = EmailMessage()
    message["From"] = sender
    message["To"] = mail.recipient
    message["Subject"] = mail.subject
    message["Message-ID"] = mail.message_id
    message["Date"] = format_datetime(mail.created_at.replace(tzinfo=dt.UTC))
    message["Auto-Submitted"] = "auto-generated"  # RFC 3834: no out-of-office replies to this
    message.set_content(text)
    message.add_alternative(html, subtype="html")
    return message


def _pause_after(attempts: int) -> dt.timedelta:
    pause: dt.timedelta = FIRST_RETRY * (2 ** max(attempts - 1, 0))
    return min(pause, LONGEST_PAUSE)


def claim_due(session: Session, *, now: dt.datetime, batch: int = BATCH) -> list[int]:
    """Claim up to `batch` due mails for this worker and commit the claim; returns their ids, oldest first.

    The claim is one guarded UPDATE, so two workers never hold the same mail, also on SQLite, which has
    no row locks; on PostgreSQL the due rows are picked `FOR UPDATE SKIP LOCKED`, so that workers do not
    even wait on each other's rows. One statement rather than a SELECT and an UPDATE per mail: a web
    worker pays for a claim with every sign-in mail it sends.
    """
    unclaimed = or_(OutboxMail.claimed_until.is_(None), OutboxMail.claimed_until < now)
    due = (
        select(OutboxMail.id)
        .where(OutboxMail.status == "pending", OutboxMail.next_attempt_at <= now, unclaimed)
        .order_by(OutboxMail.id)
        .limit(batch)
        .with_for_update(skip_locked=True)
    )
    claimed = session.scalars(
        update(OutboxMail).where(OutboxMail.id.in_(due), OutboxMail.status == "pending", unclaimed)
        .values(claimed_until=now + LEASE).returning(OutboxMail.id)
        .execution_options(synchronize_session=False)
    ).all()
    session.commit()
    return sorted(claimed)


@dataclass
class DeliveryReport:
    sent: int = 0
    retried: int = 0
    failed: int = 0


def deliver_due(
    sessions: sessionmaker[Session], transport: Transport, *, sender: str, secret: str,
    now: Callable[[], dt.datetime] = clock.utcnow, batch: int = BATCH,
) -> DeliveryReport:
    """Send every mail that is due now, batch by batch, and record each outcome.

    A web worker runs this after each mail it queues (`Dispatcher.wake`), so its statements are part of
    what a sign-in costs: one session for the round, the claimed mails read with their sign-in attempts
    in one statement, and no further claim after a short batch (nothing else was due; a mail queued
    meanwhile wakes the sender again, and `send-mail --loop` comes back on its own).
    """
    report = DeliveryReport()
    with sessions() as session:
        while True:
            claimed = claim_due(session, now=now(), batch=batch)
            # The attempts land in the session, where build_message finds them without a query of its own.
            rows = session.execute(
                select(OutboxMail, SignInToken).outerjoin(SignInToken, SignInToken.id == OutboxMail.sign_in_token_id)
                .where(OutboxMail.id.in_(claimed), OutboxMail.status == "pending").order_by(OutboxMail.id)
            ).all() if claimed else []
            for mail, _attempt in rows:
                _deliver_one(session, mail, transport, sender=sender, secret=secret, now=now, report=report)
            if len(claimed) < batch:
                return report


def _deliver_one(session: Session, mail: OutboxMail, transport: Transport, *, sender: str, secret: str,
                 now: Callable[[], dt.datetime], report: DeliveryReport) -> None:
    """Send one claimed mail and commit its outcome, counted in `report`."""
    try:
        transport.send(build_message(mail, sender=sender, secret=secret, session=session))
    except PermanentFailure as exc:
        mail.status, mail.last_error = "failed", str(exc)[:500]
        report.failed += 1
    except TemporaryFailure as exc:
        mail.attempts += 1
        mail.last_error = str(exc)[:500]
        if mail.attempts >= GIVE_UP_AFTER:
            mail.status = "failed"
            report.failed += 1
        else:
            mail.next_attempt_at = now() + _pause_after(mail.attempts)
            report.retried += 1
    else:
        mail.status, mail.sent_at, mail.last_error = "sent", now(), None
        mail.attempts += 1
        report.sent += 1
    mail.claimed_until = None
    session.commit()


class SmtpTransport:
    """Delivers over SMTP: `smtp://[user:password@]host:port[?starttls=true]` or `smtps://...`."""

    def __init__(self, url: str, *, timeout: float = 10) -> None:
        parts = urlsplit(url)
        self.ssl = parts.scheme == "smtps"
        self.host = parts.hostname or "127.0.0.1"
        self.port = parts.port or (465 if self.ssl else 25)
        self.username = unquote(parts.username) if parts.username else None
        self.password = unquote(parts.password) if parts.password else None
        self.starttls = parse_qs(parts.query).get("starttls", ["false"])[0].lower() in ("1", "true", "yes")
        self.timeout = timeout

    def send(self, message: EmailMessage) -> None:
        client_class = smtplib.SMTP_SSL if self.ssl else smtplib.SMTP
        try:
            with client_class(self.host, self.port, timeout=self.timeout) as client:
                if self.starttls:
                    client.starttls()
                if self.username:
                    client.login(self.username, self.password or "")
                client.send_message(message)
        except smtplib.SMTPRecipientsRefused as exc:
            codes = [code for code, _ in exc.recipients.values()]
            failure = PermanentFailure if all(code >= 500 for code in codes) else TemporaryFailure
            raise failure(f"recipient refused: {codes}") from exc
        except smtplib.SMTPResponseException as exc:
            failure = PermanentFailure if exc.smtp_code >= 500 else TemporaryFailure
            raise failure(f"{exc.smtp_code} {exc.smtp_error!r}") from exc
        except (TimeoutError, OSError, smtplib.SMTPException) as exc:
            raise TemporaryFailure(f"{type(exc).__name__}: {exc}") from exc


class ConsoleTransport:
    """For local use without a mail server: prints each mail, links included, to the terminal."""

    def __init__(self, stream: TextIO | None = None) -> None:
        self.stream = stream

    def send(self, message: EmailMessage) -> None:
        stream = self.stream or sys.stdout
        body = message.get_body(preferencelist=("plain",))
        text = body.get_content() if body is not None else ""
        rule = "=" * 72
        stream.write(f"\n{rule}\nMail to {message['To']}: {message['Subject']}\n{rule}\n{text}\n{rule}\n\n")
        stream.flush()


class Dispatcher:
    """A background thread that delivers right after a commit (`wake`) and retries what is due.

    `companions` are woken and stopped with it: the web app's mail sender wakes the sender of the systems'
    instructions (services/webhooks.py), so that every commit that wakes the mail also posts its events,
    each on its own thread (a slow system never holds a sign-in mail back).
    """

    def __init__(self, deliver: Callable[[], object], *, interval: float = 15, name: str = "portal-mail",
                 companions: tuple[Dispatcher, ...] = ()) -> None:
        self._deliver = deliver
        self._interval = interval
        self._name = name
        self._companions = companions
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    def wake(self) -> None:
        with self._lock:
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, name=self._name, daemon=True)
                self._thread.start()
        self._wake.set()
        for companion in self._companions:
            companion.wake()

    def _run(self) -> None:
        while not self._stop.is_set():
            self._wake.wait(self._interval)
            self._wake.clear()
            if self._stop.is_set():
                return
            try:
                self._deliver()
            except Exception:  # noqa: BLE001 - a database hiccup must not kill the sender; it retries
                logging.getLogger("portal.mail").exception("Delivering (%s) failed; retrying later", self._name)

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
        for companion in self._companions:
            companion.stop()
