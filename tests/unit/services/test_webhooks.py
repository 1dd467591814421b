"""Webhook delivery to a real receiver on 127.0.0.1 that verifies every signature with the standardwebhooks library:
every instruction arrives exactly once by its id, a system that is down gets it when it is back, one that keeps
failing is tried with growing pauses and then marked failed, and a 2xx answer completes the request."""

from __future__ import annotations

import datetime as dt
import io
import json
from collections import Counter
from collections.abc import Iterator

import pytest
from sqlalchemy import select

from portal.config import WebhookEndpoint
from portal.models import AuditEntry, Instruction, RightsRequest
from portal.services import audit, decisions, instructions, requests, webhooks
from portal.services.webhooks import GIVE_UP_AFTER, Webhooks, claim_due, deliver_due
from tests.support.contexts import NOW, context
from tests.support.nina import DPO, NINA, nina
from tests.support.receiver import Receiver, new_secret

LISTEN = (instructions.carry_out,)
SECRET = new_secret()


class Clock:
    """The scheduling clock of the deliveries, moved by the test."""

    def __init__(self) -> None:
        self.now = NOW

    def __call__(self) -> dt.datetime:
        return self.now


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    receiver = Receiver(SECRET)
    receiver.start()
    yield receiver
    receiver.stop()


def to_receiver(register, receiver: Receiver) -> Webhooks:
    """Every webhook system of the register posts to the receiver, signed with its secret."""
    return Webhooks({f"system:{s.id}": WebhookEndpoint(receiver.url, SECRET)
                     for s in register.systems.values() if s.notice.delivery == "webhook"}, timeout=2)


def deliver(database, register, hooks: Webhooks, clock: Clock) -> webhooks.EventReport:
    return deliver_due(database.sessions, hooks, now=clock,
                       context=lambda: context(register, actor=audit.SYSTEM, now=clock.now))


def erase_nina(session, register) -> RightsRequest:
    made = requests.submit_request(session, context(register), email=NINA, right="erasure", idempotency_key="e",
                                   scope="all")
    done, _plan = decisions.complete(session, context(register, actor=DPO, listeners=LISTEN), made.id, "Done")
    return done


def sent(session) -> list[Instruction]:
    session.expire_all()
    return list(session.scalars(select(Instruction).where(Instruction.delivery == "webhook").order_by(Instruction.id)))


def test_an_erasure_reaches_its_system_signed_and_its_answer_completes_the_request(session, register, database,
                                                                                   receiver):
    nina(session)
    request = erase_nina(session, register)
    assert request.status == "carrying_out"
    report = deliver(database, register, to_receiver(register, receiver), Clock())
    (instruction,) = sent(session)
    assert (report.done, instruction.party, instruction.status) == (1, "newsletter", "done")
    assert (instruction.done_by, instruction.done_at, instruction.attempts) == ("system:newsletter", NOW, 1)
    # The receiver verified the signature and got exactly the body that was written with the change.
    (arrived,) = receiver.received
    assert (arrived.webhook_id, arrived.event) == (instruction.event_id, json.loads(instruction.payload))
    assert arrived.event["data"]["erase"] == [{"relation": "visitor", "category": "contact", "items": 1}]
    assert receiver.forged == 0
    session.refresh(request)
    assert request.status == "completed"


def test_a_system_that_is_down_gets_every_instruction_exactly_once_when_it_is_back(session, register, database,
                                                                                 receiver):
    nina(session)
    ctx = context(register, listeners=LISTEN)
    requests.withdraw_consent(session, ctx, email=NINA, purpose_id="visitor.2", idempotency_key="w")
    requests.object_to_direct_marketing(session, ctx, email=NINA, idempotency_key="o")
    written = sent(session)
    assert len(written) >= 2
    hooks, clock = to_receiver(register, receiver), Clock()
    receiver.stop()  # the system is down
    report = deliver(database, register, hooks, clock)
    assert (report.retried, report.done) == (len(written), 0)
    assert {(i.status, i.attempts, i.next_attempt_at) for i in sent(session)} == {
        ("pending", 1, NOW + webhooks.FIRST_RETRY)}
    assert deliver(database, register, hooks, clock).retried == 0  # not due again before its pause is over
    receiver.start()  # back
    clock.now += webhooks.FIRST_RETRY
    assert deliver(database, register, hooks, clock).done == len(written)
    clock.now += dt.timedelta(days=2)
    assert deliver(database, register, hooks, clock) == webhooks.EventReport()  # nothing is sent twice
    assert Counter(receiver.ids()) == Counter({i.event_id: 1 for i in written})
    assert {i.status for i in sent(session)} == {"done"}


def test_a_system_that_keeps_failing_is_tried_with_growing_pauses_then_failed_and_can_be_retried(
        session, register, database, receiver):
    nina(session)
    request = erase_nina(session, register)
    hooks, clock = to_receiver(register, receiver), Clock()
    receiver.answer = lambda _id, _attempt: 500
    pauses = []
    while True:
        report = deliver(database, register, hooks, clock)
        (instruction,) = sent(session)
        if instruction.status == "failed":
            break
        assert report.retried == 1
        pauses.append(instruction.next_attempt_at - clock.now)
        clock.now = instruction.next_attempt_at
    assert (instruction.attempts, instruction.last_error, report.failed) == (GIVE_UP_AFTER, "HTTP 500", 1)
    assert pauses == sorted(pauses) and pauses[0] == webhooks.FIRST_RETRY and pauses[-1] == webhooks.LONGEST_PAUSE
    assert sum(pauses, dt.timedelta()) > dt.timedelta(hours=12)  # a system down overnight still gets it
    assert set(receiver.ids()) == {instruction.event_id} and len(receiver.ids()) == GIVE_UP_AFTER  # one id
    assert session.scalar(select(AuditEntry.action).where(AuditEntry.target == f"instruction:{instruction.id}")
                          ) == "instruction_failed"
    session.refresh(request)
    assert request.status == "carrying_out"  # a failed system holds the request back
    # The system is fixed; the back office retries: the same event, under the same id, completes the request.
    assert instructions.retry(session, context(register, actor=DPO, now=clock.now), instruction.id)
    receiver.answer = lambda _id, _attempt: 200
    assert deliver(database, register, hooks, clock).done == 1
    assert receiver.ids()[-1] == instruction.event_id
    session.refresh(request)
    assert request.status == "completed"


def test_a_202_is_accepted_and_waits_for_the_systems_call_back(session, register, database, receiver):
    nina(session)
    request = erase_nina(session, register)
    receiver.answer = lambda _id, _attempt: 202
    report = deliver(database, register, to_receiver(register, receiver), Clock())
    (instruction,) = sent(session)
    assert (report.accepted, instruction.status, instruction.done_at) == (1, "accepted", None)
    assert deliver(database, register, to_receiver(register, receiver), Clock()) == webhooks.EventReport()
    session.refresh(request)
    assert request.status == "carrying_out"


def test_an_event_signed_with_another_secret_is_refused_by_the_system_and_retried(session, register, database,
                                                                                 receiver):
    nina(session)
    erase_nina(session, register)
    hooks = Webhooks({"system:newsletter": WebhookEndpoint(receiver.url, new_secret())})
    assert deliver(database, register, hooks, Clock()).retried == 1
    assert (receiver.forged, receiver.received) == (1, [])
    assert sent(session)[0].last_error == "HTTP 401"


def test_without_a_secret_the_event_is_printed_on_the_console_and_counts_as_delivered(session, register, database):
    nina(session)
    request = erase_nina(session, register)
    console = io.StringIO()
    hooks = Webhooks({"system:newsletter": WebhookEndpoint("https://news.we-are.be/hooks", None)}, stream=console)
    assert deliver(database, register, hooks, Clock()).done == 1
    (instruction,) = sent(session)
    assert (instruction.status, instruction.done_by) == ("done", "console")
    printed = console.getvalue()
    assert "Webhook to system newsletter" in printed and instruction.event_id in printed and "data.erased" in printed
    session.refresh(request)
    assert request.status == "completed"


def test_two_workers_never_hold_the_same_instruction(session, register, database):
    nina(session)
    ctx = context(register, listeners=LISTEN)
    requests.object_to_direct_marketing(session, ctx, email=NINA, idempotency_key="o")
    total = len(sent(session))
    with database.session() as first, database.session() as second:
        one = claim_due(first, now=NOW, batch=1)
        other = claim_due(second, now=NOW, batch=total)
        assert len(one) == 1 and not set(one) & set(other) and len(one) + len(other) == total
        assert claim_due(first, now=NOW) == []  # held until the lease runs out
        assert len(claim_due(first, now=NOW + webhooks.LEASE + dt.timedelta(seconds=1))) == total
