"""The outbox and its sender, against real SMTP servers on 127.0.0.1: one that accepts (the suite's),
one that refuses for good (5xx), one that asks to come back later (4xx), and a port where nobody listens.
Time is passed in (`now`), never waited for.
"""

from __future__ import annotations

import datetime as dt
import email.utils
import io
import re
from collections.abc import Callable, Iterator

import pytest
from aiosmtpd.controller import Controller
from sqlalchemy import delete, func, select, update

from portal.models import OutboxMail, SignInToken
from portal.policy.register import default_register
from portal.services import signin
from portal.services.limits import AbuseLimits
from portal.services.mail import MailContent
from portal.services.outbox import (
    FIRST_RETRY,
    GIVE_UP_AFTER,
    LONGEST_PAUSE,
    ConsoleTransport,
    Dispatcher,
    SmtpTransport,
    build_message,
    deliver_due,
    queue_mail,
)
from portal.services.signin import IssuedLink, SignInSettings
from portal.services.tokens import CODE_MARK, LINK_MARK
from tests.conftest import TEST_SECRET, free_port
from tests.support.contexts import LinkNotifier, context
from tests.support.races import all_reach_then_go, run_together

T0 = dt.datetime(2026, 11, 25, 8, 0, 0)
SENDER = "We Are privacy portal <privacy@we-are.be>"
REGISTER = default_register()
SETTINGS = SignInSettings(secret=TEST_SECRET, sender_domain="we-are.be")


class Answering:
    """An SMTP handler that gives one fixed answer at RCPT or DATA, and counts how often it was asked."""

    def __init__(self, answer: str, at: str = "DATA") -> None:
        self.answer, self.at, self.asked = answer, at, 0

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):  # noqa: N802 - aiosmtpd's name
        if self.at == "RCPT":
            self.asked += 1
            return self.answer
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 - aiosmtpd's hook name
        self.asked += 1
        return self.answer


@pytest.fixture
def answering_server() -> Iterator[Callable[[str, str], tuple[str, Answering]]]:
    """Start SMTP servers with a fixed answer on free ports; returns (smtp url, handler)."""
    controllers: list[Controller] = []

    def start(answer: str, at: str = "DATA") -> tuple[str, Answering]:
        handler = Answering(answer, at)
        controller = Controller(handler, hostname="127.0.0.1", port=free_port())
        controller.start()
        controllers.append(controller)
        return f"smtp://127.0.0.1:{controller.port}", handler

    yield start
    for controller in controllers:
        controller.stop()


@pytest.fixture
def sessions(app):
    return app.extensions["portal.db"].sessions


def queue(session, recipient: str = "an@example.com", *, now: dt.datetime = T0, subject: str = "Hallo") -> int:
    mail = queue_mail(session, recipient=recipient, subject=subject, body_text="Tekst met een link",
                      body_html='<p lang="nl">Tekst met een link</p>', sender_domain="we-are.be", now=now)
    session.commit()
    return mail.id


def row(session, mail_id: int) -> OutboxMail:
    session.expire_all()
    return session.get(OutboxMail, mail_id)


def deliver(sessions, transport, now: dt.datetime):
    return deliver_due(sessions, transport, sender=SENDER, secret=TEST_SECRET, now=lambda: now)


def compose(issued: IssuedLink) -> MailContent:
    return MailContent(subject="Uw aanmeldlink", text=f"http://127.0.0.1:5000/sign-in/{LINK_MARK}\n{CODE_MARK}\n",
                       html=f'<a href="http://127.0.0.1:5000/sign-in/{LINK_MARK}">{CODE_MARK}</a>')


def sign_in_mail(session) -> IssuedLink:
    return signin.request_link(session, context(REGISTER, now=T0, notifier=LinkNotifier(compose)),
                               raw_email="an@example.com", purpose="sign_in", page_language="nl", next_path=None,
                               client="192.0.2.1", limits=AbuseLimits("memory://"), settings=SETTINGS)


# --- the message --------------------------------------------------------------------------------------------


def test_the_message_has_the_headers_mail_providers_expect(session):
    mail_id = queue(session, subject="Uw aanmeldlink voor het privacyportaal")
    message = build_message(row(session, mail_id), sender=SENDER, secret=TEST_SECRET, session=session)
    assert message["From"] == SENDER
    assert message["To"] == "an@example.com"
    assert message["Subject"] == "Uw aanmeldlink voor het privacyportaal"
    assert message["Auto-Submitted"] == "auto-generated"
    assert re.fullmatch(r"<[^@<>\s]+@we-are\.be>", message["Message-ID"])
    assert message["Message-ID"] == row(session, mail_id).message_id  # the same id on every retry
    assert email.utils.parsedate_to_datetime(message["Date"]) == T0.replace(tzinfo=dt.UTC)
    assert message.get_content_type() == "multipart/alternative"
    assert message.get_body(preferencelist=("plain",)).get_content().strip() == "Tekst met een link"
    assert message.get_body(preferencelist=("html",)).get_content().strip() == '<p lang="nl">Tekst met een link</p>'


def test_every_mail_gets_its_own_message_id(session):
    first, second = queue(session), queue(session)
    assert row(session, first).message_id != row(session, second).message_id


def test_a_sign_in_mail_gets_its_working_link_and_code_only_when_built(session):
    issued = sign_in_mail(session)
    mail = session.scalar(select(OutboxMail))
    assert LINK_MARK in mail.body_text and CODE_MARK in mail.body_html  # the row holds no secret
    message = build_message(mail, sender=SENDER, secret=TEST_SECRET, session=session)
    text = message.get_body(preferencelist=("plain",)).get_content()
    html = message.get_body(preferencelist=("html",)).get_content()
    assert LINK_MARK not in text + html and CODE_MARK not in text + html
    token = re.search(r"/sign-in/([A-Za-z0-9_-]+)", text).group(1)
    code = re.search(r"^(\d{3} \d{3})$", text, re.MULTILINE).group(1)
    assert f"/sign-in/{token}" in html and code in html
    assert signin.find_link(session, token, settings=SETTINGS, now=T0).id == issued.attempt_id
    assert signin.redeem_code(session, issued.attempt_id, code, settings=SETTINGS, now=T0).email == "an@example.com"


def test_a_sign_in_mail_whose_attempt_is_gone_is_never_sent_with_its_placeholders(session, sessions, inbox,
                                                                                    smtp_server):
    """The attempt row of a queued sign-in mail is deleted (e.g. a clean-up of old attempts).

    The pending mail goes with it (ON DELETE CASCADE): it could only be sent with its placeholders.
    """
    sign_in_mail(session)
    mail_id = session.scalar(select(OutboxMail.id))
    session.execute(delete(SignInToken))
    session.commit()
    report = deliver(sessions, SmtpTransport(smtp_server.url), T0)
    bodies = [message.get_body(preferencelist=("plain",)).get_content() for message in inbox.messages]
    assert not any(LINK_MARK in body or CODE_MARK in body for body in bodies), bodies
    assert report.sent == 0 and row(session, mail_id) is None



def test_a_mail_that_still_holds_placeholders_is_never_sent(session, sessions, inbox, smtp_server):
    mail = queue_mail(session, recipient="an@example.com", subject="x", body_text=f"/sign-in/{LINK_MARK}",
                      body_html=f"<p>{CODE_MARK}</p>", sender_domain="we-are.be", now=T0)
    session.commit()
    report = deliver(sessions, SmtpTransport(smtp_server.url), T0)
    assert (report.sent, report.failed) == (0, 1)
    assert row(session, mail.id).status == "failed" and inbox.messages == []

# --- delivering ---------------------------------------------------------------------------------------------


def test_a_due_mail_is_delivered_once_over_smtp(session, sessions, inbox, smtp_server):
    mail_id = queue(session)
    report = deliver(sessions, SmtpTransport(smtp_server.url), T0 + dt.timedelta(seconds=1))
    assert (report.sent, report.retried, report.failed) == (1, 0, 0)
    [message] = inbox.wait_for(1)
    assert inbox.envelopes == [("privacy@we-are.be", ["an@example.com"])]
    assert message["Auto-Submitted"] == "auto-generated" and message["Message-ID"] == row(session, mail_id).message_id
    sent = row(session, mail_id)
    assert (sent.status, sent.attempts, sent.sent_at, sent.claimed_until) == ("sent", 1, T0 + dt.timedelta(seconds=1),
                                                                              None)
    again = deliver(sessions, SmtpTransport(smtp_server.url), T0 + dt.timedelta(hours=1))
    assert (again.sent, again.retried, again.failed) == (0, 0, 0)
    assert len(inbox.messages) == 1


def test_a_mail_not_yet_due_or_claimed_by_another_worker_waits(session, sessions, inbox, smtp_server):
    later = queue(session, "later@example.com", now=T0 + dt.timedelta(minutes=5))
    claimed = queue(session, "claimed@example.com")
    lease = T0 + dt.timedelta(minutes=2)
    session.execute(update(OutboxMail).where(OutboxMail.id == claimed).values(claimed_until=lease))
    session.commit()
    transport = SmtpTransport(smtp_server.url)
    assert deliver(sessions, transport, T0 + dt.timedelta(minutes=1)).sent == 0
    assert deliver(sessions, transport, T0 + dt.timedelta(minutes=2, seconds=1)).sent == 1  # lease ran out
    assert deliver(sessions, transport, T0 + dt.timedelta(minutes=5)).sent == 1
    inbox.wait_for(2)
    assert [to for _from, [to] in inbox.envelopes] == ["claimed@example.com", "later@example.com"]
    assert row(session, later).status == row(session, claimed).status == "sent"


@pytest.mark.parametrize("at", ["DATA", "RCPT"])
def test_a_5xx_answer_marks_the_mail_failed_and_it_is_not_tried_again(session, sessions, answering_server, at):
    url, handler = answering_server("550 5.7.1 Mailbox unavailable", at)
    mail_id = queue(session)
    report = deliver(sessions, SmtpTransport(url), T0)
    assert (report.sent, report.retried, report.failed) == (0, 0, 1)
    failed = row(session, mail_id)
    assert failed.status == "failed" and "550" in failed.last_error and failed.claimed_until is None
    assert deliver(sessions, SmtpTransport(url), T0 + dt.timedelta(days=1)).failed == 0
    assert handler.asked == 1


def test_a_4xx_answer_is_retried_with_growing_pauses(session, sessions, answering_server, smtp_server, inbox):
    url, handler = answering_server("451 4.3.0 Try again later")
    mail_id = queue(session)
    transport = SmtpTransport(url)
    moment, pauses = T0, []
    for attempt in (1, 2, 3, 4):
        report = deliver(sessions, transport, moment)
        assert report.retried == 1
        mail = row(session, mail_id)
        assert (mail.status, mail.attempts) == ("pending", attempt) and "451" in mail.last_error
        assert deliver(sessions, transport, mail.next_attempt_at - dt.timedelta(seconds=1)).retried == 0  # not yet
        pauses.append(mail.next_attempt_at - moment)
        moment = mail.next_attempt_at
    assert pauses == [FIRST_RETRY, FIRST_RETRY * 2, FIRST_RETRY * 4, FIRST_RETRY * 8]
    assert handler.asked == 4
    # When the server takes mail again, the retry delivers it, once.
    report = deliver(sessions, SmtpTransport(smtp_server.url), moment)
    assert report.sent == 1 and row(session, mail_id).attempts == 5
    inbox.wait_for(1)
    assert len(inbox.messages) == 1


def test_a_refused_connection_is_retried_until_it_gives_up(session, sessions):
    mail_id = queue(session)
    transport = SmtpTransport(f"smtp://127.0.0.1:{free_port()}", timeout=2)  # nobody listens there
    moment, pauses = T0, []
    for _attempt in range(GIVE_UP_AFTER - 1):
        assert deliver(sessions, transport, moment).retried == 1
        mail = row(session, mail_id)
        assert mail.status == "pending"
        pauses.append(mail.next_attempt_at - moment)
        moment = mail.next_attempt_at
    assert "ConnectionRefusedError" in mail.last_error
    assert pauses[:4] == [dt.timedelta(seconds=15), dt.timedelta(seconds=30), dt.timedelta(seconds=60),
                          dt.timedelta(seconds=120)]
    assert pauses == sorted(pauses) and max(pauses) == LONGEST_PAUSE
    report = deliver(sessions, transport, moment)
    assert report.failed == 1
    assert (row(session, mail_id).status, row(session, mail_id).attempts) == ("failed", GIVE_UP_AFTER)


def test_two_senders_at_the_same_time_deliver_each_mail_once(app, session, sessions, inbox, smtp_server):
    """Both senders read the due mails before either claims them: the claim must still be exclusive."""
    mail_ids = [queue(session, f"person{number}@example.com") for number in range(12)]

    def send(_index: int):
        return deliver(sessions, SmtpTransport(smtp_server.url), T0)

    def claiming(sql: str) -> bool:
        return sql.startswith("UPDATE outbox_mail") and "claimed_until" in sql

    with all_reach_then_go(app.extensions["portal.db"].engine, 2, claiming, timeout=1):
        reports = run_together(2, send)

    assert not any(isinstance(report, Exception) for report in reports), reports
    assert sum(report.sent for report in reports) == 12
    inbox.wait_for(12)
    assert sorted(to for _from, [to] in inbox.envelopes) == sorted(f"person{n}@example.com" for n in range(12))
    assert all((row(session, mail_id).status, row(session, mail_id).attempts) == ("sent", 1) for mail_id in mail_ids)


def test_two_senders_racing_freely_deliver_each_mail_once(session, sessions, inbox, smtp_server):
    for number in range(30):
        queue(session, f"person{number}@example.com")
    reports = run_together(4, lambda _index: deliver(sessions, SmtpTransport(smtp_server.url), T0))
    assert not any(isinstance(report, Exception) for report in reports), reports
    assert sum(report.sent for report in reports) == 30
    inbox.wait_for(30)
    assert len({message["Message-ID"] for message in inbox.messages}) == len(inbox.messages) == 30
    session.expire_all()
    assert session.scalar(select(func.count()).select_from(OutboxMail).where(OutboxMail.status == "sent")) == 30


def test_the_dispatcher_sends_right_after_it_is_woken(sessions, session, inbox, smtp_server):
    queue(session)
    dispatcher = Dispatcher(lambda: deliver_due(sessions, SmtpTransport(smtp_server.url), sender=SENDER,
                                                secret=TEST_SECRET), interval=60)
    try:
        dispatcher.wake()
        inbox.wait_for(1, timeout=5)
    finally:
        dispatcher.stop()
    assert len(inbox.messages) == 1


# --- transports ---------------------------------------------------------------------------------------------


def test_the_console_transport_prints_the_mail_with_its_link(session):
    sign_in_mail(session)
    message = build_message(session.scalar(select(OutboxMail)), sender=SENDER, secret=TEST_SECRET, session=session)
    stream = io.StringIO()
    ConsoleTransport(stream).send(message)
    printed = stream.getvalue()
    assert "Mail to an@example.com: Uw aanmeldlink" in printed
    link = re.search(r"http://127\.0\.0\.1:5000/sign-in/[A-Za-z0-9_-]{43}", printed)
    assert link and LINK_MARK not in printed
    assert re.search(r"^\d{3} \d{3}$", printed, re.MULTILINE)


@pytest.mark.parametrize(("url", "expected"), [
    ("smtp://127.0.0.1:2525", (False, "127.0.0.1", 2525, None, None, False)),
    ("smtp://mail.example.org", (False, "mail.example.org", 25, None, None, False)),
    ("smtp://user%40x:p%3Ass@mail.example.org:587?starttls=true", (False, "mail.example.org", 587, "user@x", "p:ss",
                                                                   True)),
    ("smtps://mail.example.org", (True, "mail.example.org", 465, None, None, False)),
])
def test_the_smtp_url_is_read_as_documented(url, expected):
    transport = SmtpTransport(url)
    assert (transport.ssl, transport.host, transport.port, transport.username, transport.password,
            transport.starttls) == expected
