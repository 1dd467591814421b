"""The data protection manager's side, against a real database: the queue, the report, and every decision
with the effect it must have on the person's data, on their request's history and on the audit trail.

What is erased and what is kept is written out by hand below, per demo person, from portal/demo/subjects.json
and the register (`[right.erasure]`: keeps_while_running = ["contract"], keeps_categories = ["payment",
"delivery"]; the retention rules give the dates).
"""

from __future__ import annotations

import datetime as dt
import itertools
import json

import pytest
from sqlalchemy import func, select, text

from portal.models import (
    AuditEntry,
    AuditPersonal,
    AuthSession,
    DataItem,
    OutboxMail,
    Relation,
    RequestedChange,
    RightsRequest,
    Subject,
)
from portal.policy import requests as lifecycle
from portal.policy.deadlines import answer_due
from portal.policy.erasure import Kept
from portal.services import audit, decisions, queue, requests
from portal.services.context import Context
from portal.services.decisions import KeptGroup
from portal.services.export.formats import json_export
from portal.services.export.tables import COPY, build_export
from portal.services.overview import build_overview
from portal.services.queue import QueueFilter
from portal.services.requests import RequestRefused
from portal.services.staff import active_staff, create_staff
from portal.services.subjects import item_fingerprint
from tests.support.contexts import context
from tests.support.people import AN, BRAM, CHLOE, DPO, DRIES, EVA, FRANK, GERT, HANNE

TODAY = dt.date(2026, 11, 25)  # a Wednesday
NOW = dt.datetime(2026, 11, 25, 10, 0)
ACTOR = f"staff:{DPO}"
DOMAIN = "we-are.be"

_keys = itertools.count(1)


@pytest.fixture(autouse=True)
def no_origin():
    token = audit.origin.set(None)
    yield
    audit.origin.reset(token)


def decision(register, *, today: dt.date = TODAY, now: dt.datetime = NOW) -> Context:
    """The context of a decision by the data protection manager."""
    return context(register, actor=ACTOR, today=today, now=now)


def submit(session, register, email: str, right: str = "access", *, today: dt.date = TODAY, scope=None,
           changes=None) -> RightsRequest:
    return requests.submit_request(
        session, context(register, today=today, now=dt.datetime.combine(today, dt.time(9))), email=email,
        right=right, idempotency_key=f"k{next(_keys)}", scope=scope, changes=changes)


def add_request(session, email: str, right: str = "access", *, received: dt.date = TODAY,
                due: dt.date | None = None, extended: dt.date | None = None, status: str = lifecycle.RECEIVED,
                closed: dt.date | None = None) -> RightsRequest:
    """A request row as the queue and the report read it, with the dates a test needs."""
    request = RightsRequest(
        email=email, right=right, status=status, received_on=received, due_on=due or received + dt.timedelta(30),
        extended_due_on=extended, statement_version="2023-06-20.1", idempotency_key=f"k{next(_keys)}",
        created_at=dt.datetime.combine(received, dt.time(9)),
        closed_at=dt.datetime.combine(closed, dt.time(16)) if closed else None,
    )
    session.add(request)
    session.flush()
    return request


def person(session, email: str, *kinds: str) -> Subject:
    subject = Subject(email=email, name=email.split("@")[0], language="nl")
    session.add(subject)
    session.flush()
    for index, kind in enumerate(kinds):
        session.add(Relation(subject_id=subject.id, kind=kind, started=dt.date(2024, 1, 1 + index)))
    session.flush()
    return subject


def items_of(session, email: str) -> set[tuple[str, str, str]]:
    session.expire_all()
    return set(session.execute(
        select(Relation.kind, DataItem.category, DataItem.field).join(Relation.subject).join(Relation.items)
        .where(Subject.email == email)).all())


def audit_lines(session, request_id: int) -> list[tuple[str, str]]:
    return [(e.actor, e.action) for e in session.scalars(
        select(AuditEntry).where(AuditEntry.target == f"request:{request_id}").order_by(AuditEntry.seq))]


def verified(app) -> audit.Verification:
    with app.extensions["portal.db"].session() as fresh:
        return audit.verify(fresh)


# --- the queue -----------------------------------------------------------------------------------------


@pytest.mark.clause("2.4.response_time")
def test_the_queue_puts_the_earliest_effective_answer_date_first(session):
    late = add_request(session, "a@example.com", due=dt.date(2026, 12, 10))
    extended = add_request(session, "b@example.com", due=dt.date(2026, 11, 20), extended=dt.date(2026, 12, 30),
                           status=lifecycle.EXTENDED)
    middle = add_request(session, "c@example.com", due=dt.date(2026, 12, 1))
    first = add_request(session, "d@example.com", due=dt.date(2026, 11, 28))
    tie = add_request(session, "e@example.com", due=dt.date(2026, 12, 1))
    add_request(session, "f@example.com", "withdrawal", due=dt.date(2026, 11, 1), status=lifecycle.COMPLETED)
    session.commit()
    page = queue.queue(session, QueueFilter(state="all"), today=TODAY)
    # The extended request is due 30 December, not 20 November; the at-once withdrawal is not staff work.
    assert [row.request.id for row in page.rows] == [first.id, middle.id, tie.id, late.id, extended.id]
    assert [row.due for row in page.rows][-1] == dt.date(2026, 12, 30)
    csv_order = [row["request_id"] for row in queue.queue_rows(session, QueueFilter(state="all"))]
    assert csv_order == [first.id, middle.id, tie.id, late.id, extended.id]


def test_the_queue_filters_by_state(session):
    received = add_request(session, "a@example.com")
    waiting = add_request(session, "b@example.com", status=lifecycle.WAITING)
    done = add_request(session, "c@example.com", status=lifecycle.COMPLETED, closed=TODAY)
    refused = add_request(session, "d@example.com", status=lifecycle.REFUSED, closed=TODAY)
    session.commit()

    def ids(state: str) -> set[int]:
        return {row.request.id for row in queue.queue(session, QueueFilter(state=state), today=TODAY).rows}

    assert ids("open") == {received.id, waiting.id}
    assert ids("closed") == {done.id, refused.id}
    assert ids("all") == {received.id, waiting.id, done.id, refused.id}
    assert ids("waiting") == {waiting.id}
    assert ids("refused") == {refused.id}
    assert queue.queue(session, QueueFilter(), today=TODAY).total == 2  # open by default


def test_the_queue_filters_by_right_and_by_relation(session):
    person(session, "cus@example.com", "customer")
    person(session, "both@example.com", "visitor", "customer")
    person(session, "vis@example.com", "visitor")
    customer = add_request(session, "cus@example.com", "erasure")
    both = add_request(session, "both@example.com", "access")
    visitor = add_request(session, "vis@example.com", "access")
    stranger = add_request(session, "nobody@example.com", "access")  # anyone may ask, also with nothing held
    session.commit()

    def ids(**filters) -> set[int]:
        return {row.request.id for row in queue.queue(session, QueueFilter(**filters), today=TODAY).rows}

    assert ids(right="access") == {both.id, visitor.id, stranger.id}
    assert ids(right="erasure") == {customer.id}
    assert ids(relation="customer") == {customer.id, both.id}
    assert ids(relation="visitor", right="access") == {both.id, visitor.id}
    assert ids(relation="supplier") == set()
    rows = {row.request.id: row for row in queue.queue(session, QueueFilter(), today=TODAY).rows}
    assert rows[both.id].relations == ["visitor", "customer"] and rows[stranger.id].relations == []


@pytest.mark.parametrize(("search", "found"), [
    ("an_b", {"an_b@example.com"}),  # "_" is a character here, not LIKE's "any one character"
    ("x%y", {"x%y@example.com"}),  # and "%" is not "anything"
    ("AN_B", {"an_b@example.com"}),  # addresses are stored in lower case
    ("  example.org ", {"anxb@example.org"}),
    ("an", {"an_b@example.com", "anxb@example.org"}),
    ("   ", {"an_b@example.com", "anxb@example.org", "x%y@example.com", "xzzy@example.com"}),
    ("nobody", set()),
])
def test_the_queue_searches_a_part_of_the_address_literally(session, search, found):
    for email in ("an_b@example.com", "anxb@example.org", "x%y@example.com", "xzzy@example.com"):
        add_request(session, email)
    session.commit()
    page = queue.queue(session, QueueFilter(search=search), today=TODAY)
    assert {row.request.email for row in page.rows} == found
    assert {row["email"] for row in queue.queue_rows(session, QueueFilter(search=search))} == found


def test_the_queue_is_paged(session):
    made = [add_request(session, f"p{i}@example.com", due=dt.date(2026, 12, 1) + dt.timedelta(days=i)).id
            for i in range(5)]
    session.commit()

    def page(number: int):
        return queue.queue(session, QueueFilter(page=number), today=TODAY, page_size=2)

    assert [(page(n).page, page(n).pages, page(n).total) for n in (1, 2, 3)] == [(1, 3, 5), (2, 3, 5), (3, 3, 5)]
    assert [[r.request.id for r in page(n).rows] for n in (1, 2, 3)] == [made[0:2], made[2:4], made[4:]]
    assert page(99).page == 3 and [r.request.id for r in page(99).rows] == made[4:]  # past the end: the last
    assert page(0).page == 1 and [r.request.id for r in page(0).rows] == made[0:2]
    assert queue.queue(session, QueueFilter(), today=TODAY).pages == 1  # 50 a page by default
    empty = queue.queue(session, QueueFilter(state="closed"), today=TODAY)
    assert (empty.rows, empty.total, empty.page, empty.pages) == ([], 0, 1, 1)


@pytest.mark.parametrize(("due", "extended", "status", "expected"), [
    (dt.date(2026, 11, 24), None, lifecycle.RECEIVED, "overdue"),  # yesterday
    (dt.date(2026, 11, 25), None, lifecycle.RECEIVED, "soon"),  # today: still in time
    (dt.date(2026, 12, 2), None, lifecycle.IN_PROGRESS, "soon"),  # 7 days
    (dt.date(2026, 12, 3), None, lifecycle.WAITING, None),  # 8 days
    (dt.date(2026, 11, 1), dt.date(2026, 12, 3), lifecycle.EXTENDED, None),  # the extended date counts
    (dt.date(2026, 11, 1), dt.date(2026, 11, 24), lifecycle.EXTENDED, "overdue"),
    (dt.date(2026, 11, 1), None, lifecycle.COMPLETED, None),  # answered: nothing is urgent any more
    (dt.date(2026, 11, 1), None, lifecycle.REFUSED, None),
])
def test_urgency_at_its_edges(session, due, extended, status, expected):
    request = add_request(session, "a@example.com", due=due, extended=extended, status=status,
                          closed=TODAY if status in lifecycle.CLOSED_STATES else None)
    session.commit()
    assert queue.urgency(request, TODAY) == expected
    row = queue.queue(session, QueueFilter(state="all"), today=TODAY).rows[0]
    assert row.urgency == expected and row.due == (extended or due)


# --- the report ----------------------------------------------------------------------------------------


def test_the_report_counts_per_month_and_right_and_the_answer_times(session):
    # Answered (received -> closed): 10, 1, 30, 3, 0 and 60 days.
    add_request(session, "a@example.com", "access", received=dt.date(2026, 10, 1), status="completed",
                closed=dt.date(2026, 10, 11))
    add_request(session, "b@example.com", "access", received=dt.date(2026, 10, 5), status="completed",
                closed=dt.date(2026, 10, 6))
    add_request(session, "c@example.com", "erasure", received=dt.date(2026, 10, 20), status="refused",
                closed=dt.date(2026, 11, 19))
    add_request(session, "d@example.com", "erasure", received=dt.date(2026, 11, 2), status="completed",
                closed=dt.date(2026, 11, 5))
    add_request(session, "e@example.com", "rectification", received=dt.date(2026, 11, 3), status="completed",
                closed=dt.date(2026, 11, 3))
    add_request(session, "f@example.com", "portability", received=dt.date(2026, 9, 15), status="completed",
                closed=dt.date(2026, 11, 14))
    # Open: two overdue (due yesterday; due long ago), three in time (due today; extended; due later).
    add_request(session, "g@example.com", "access", received=dt.date(2026, 10, 23), due=dt.date(2026, 11, 24))
    add_request(session, "h@example.com", "access", received=dt.date(2026, 10, 1), due=dt.date(2026, 11, 2),
                status="waiting")
    add_request(session, "i@example.com", "access", received=dt.date(2026, 10, 24), due=TODAY)
    add_request(session, "j@example.com", "restriction", received=dt.date(2026, 9, 1), due=dt.date(2026, 10, 1),
                extended=dt.date(2026, 12, 1), status="extended")
    add_request(session, "k@example.com", "objection", received=dt.date(2026, 11, 10), due=dt.date(2026, 12, 10))
    # Taken at once, not answered by staff: not in the report at all.
    add_request(session, "l@example.com", "withdrawal", received=dt.date(2026, 11, 10), status="completed",
                closed=dt.date(2026, 11, 10))
    session.commit()

    report = queue.report(session, today=TODAY)
    assert report.per_month == {
        "2026-11": {"erasure": 1, "rectification": 1, "objection": 1},
        "2026-10": {"access": 5, "erasure": 1},
        "2026-09": {"portability": 1, "restriction": 1},
    }
    assert list(report.per_month) == ["2026-11", "2026-10", "2026-09"]  # newest month first
    assert report.answered == 6
    assert report.median_days == 6.5  # 0 1 3 | 10 30 60: (3 + 10) / 2
    assert report.p95_days == 60.0  # nearest rank: ceil(0.95 * 6) = 6th of 6
    assert (report.open, report.overdue) == (5, 2)
    assert report.rights == ["access", "rectification", "erasure", "restriction", "objection", "portability"]


def test_an_empty_report(session):
    report = queue.report(session, today=TODAY)
    assert (report.per_month, report.answered, report.median_days, report.p95_days, report.open,
            report.overdue, report.rights) == ({}, 0, None, None, 0, 0, [])


@pytest.mark.parametrize(("values", "fraction", "expected"), [
    # The nearest-rank examples of the textbook (Wikipedia, "Percentile", nearest-rank method).
    ([15, 20, 35, 40, 50], 0.05, 15), ([15, 20, 35, 40, 50], 0.30, 20), ([15, 20, 35, 40, 50], 0.40, 20),
    ([15, 20, 35, 40, 50], 0.50, 35), ([15, 20, 35, 40, 50], 1.00, 50),
    ([3, 6, 7, 8, 8, 10, 13, 15, 16, 20], 0.25, 7), ([3, 6, 7, 8, 8, 10, 13, 15, 16, 20], 0.50, 8),
    ([3, 6, 7, 8, 8, 10, 13, 15, 16, 20], 0.75, 15), ([3, 6, 7, 8, 8, 10, 13, 15, 16, 20], 1.00, 20),
    (list(range(1, 21)), 0.95, 19),  # ceil(0.95 * 20) = 19: the longest answer is not the 95th percentile
    (list(range(1, 22)), 0.95, 20),  # ceil(19.95) = 20
    ([60, 0, 30, 3, 10, 1], 0.95, 60),  # unsorted input
    ([7], 0.95, 7),
    ([], 0.95, None),
])
def test_the_percentile_is_the_nearest_rank(values, fraction, expected):
    assert queue.percentile(values, fraction) == expected


# --- decisions: the rules ------------------------------------------------------------------------------


@pytest.mark.clause("2.4.response_time")
def test_an_extension_is_possible_on_the_last_day_of_the_first_month_only(session, register):
    handling = register.handling
    first_month_ends = answer_due(TODAY, response_time=handling.extension_notice_within)
    # 25 December 2026 is Christmas (a Friday): the month ends on Monday 28 December.
    assert first_month_ends == dt.date(2026, 12, 28)
    in_time = submit(session, register, "a@example.com")
    too_late = submit(session, register, "b@example.com")
    extended = decisions.extend(session, decision(register, today=first_month_ends), in_time.id,
                                "  Many systems to search  ")
    assert extended.status == lifecycle.EXTENDED
    assert extended.extended_due_on == answer_due(TODAY, response_time=handling.response_time,
                                                  extension=handling.extension) == dt.date(2027, 2, 25)
    assert extended.events[-1].note == "Many systems to search"
    with pytest.raises(RequestRefused, match="extension_too_late"):
        decisions.extend(session, decision(register, today=dt.date(2026, 12, 29)), too_late.id, "Complex")
    session.rollback()
    session.expire_all()
    late = session.get(RightsRequest, too_late.id)
    assert (late.status, late.extended_due_on, len(late.events)) == (lifecycle.RECEIVED, None, 1)


@pytest.mark.clause("2.4.response_time")
def test_a_request_is_extended_once(session, register):
    request = submit(session, register, "a@example.com")
    decisions.extend(session, decision(register), request.id, "Complex")
    decisions.start(session, decision(register), request.id)
    with pytest.raises(RequestRefused, match="already_extended"):
        decisions.extend(session, decision(register), request.id, "Still complex")
    session.rollback()
    assert session.get(RightsRequest, request.id).extended_due_on == dt.date(2027, 2, 25)


@pytest.mark.clause("2.4.fee", "2.4.response_time")
@pytest.mark.parametrize(("act", "reason"), [
    (lambda s, i, d: decisions.ask(s, d, i, "  \n "), "question_required"),
    (lambda s, i, d: decisions.extend(s, d, i, "   "), "reasons_required"),
    (lambda s, i, d: decisions.refuse(s, d, i, "manifestly_unfounded", " "), "reasons_required"),
    (lambda s, i, d: decisions.refuse(s, d, i, "", "Third request this week"), "ground_required"),
    (lambda s, i, d: decisions.refuse(s, d, i, "i_do_not_like_it", "Third request this week"),
     "ground_required"),
    (lambda s, i, d: decisions.ask_fee(s, d, i, 2500, ""), "reasons_required"),
], ids=["ask", "extend", "refuse-reasons", "refuse-no-ground", "refuse-bad-ground", "fee"])
def test_a_decision_the_person_must_hear_reasons_for_needs_them(app, session, register, act, reason):
    request = submit(session, register, "a@example.com")
    entries_before = session.scalar(select(func.count()).select_from(AuditEntry))
    with pytest.raises(RequestRefused) as refused:
        act(session, request.id, decision(register))
    assert refused.value.reason == reason
    session.rollback()
    session.expire_all()
    unchanged = session.get(RightsRequest, request.id)
    assert (unchanged.status, unchanged.fee_cents, unchanged.extended_due_on) == (lifecycle.RECEIVED, None, None)
    assert [e.status for e in unchanged.events] == ["received"]
    assert session.scalar(select(func.count()).select_from(AuditEntry)) == entries_before
    assert session.scalar(select(func.count()).select_from(OutboxMail)) == 1  # only the receipt


@pytest.mark.clause("2.4.fee")
@pytest.mark.parametrize(("cents", "accepted"), [
    (0, False), (-500, False), (1, True), (100_000, True), (100_001, False), (10**9, False),
])
def test_a_fee_is_between_one_cent_and_a_thousand_euro(session, register, cents, accepted):
    request = submit(session, register, "a@example.com")
    if accepted:
        asked = decisions.ask_fee(session, decision(register), request.id, cents, "Fifth copy this month")
        assert (asked.fee_cents, asked.status) == (cents, lifecycle.WAITING)
        assert asked.events[-1].note == "Fifth copy this month"
    else:
        with pytest.raises(RequestRefused, match="fee_out_of_range"):
            decisions.ask_fee(session, decision(register), request.id, cents, "Fifth copy this month")
        session.rollback()
        session.expire_all()
        assert session.get(RightsRequest, request.id).fee_cents is None


@pytest.mark.clause("2.4.fee")
def test_a_refused_fee_leaves_no_fee_behind(session, register):
    """A waiting request cannot move to waiting: the refused fee must not linger for the next commit."""
    request = submit(session, register, "a@example.com")
    decisions.ask(session, decision(register), request.id, "Which years do you mean?")
    with pytest.raises(RequestRefused, match="move_not_allowed"):
        decisions.ask_fee(session, decision(register), request.id, 2500, "Excessive")
    decisions.start(session, decision(register), request.id)  # the next decision, without a rollback
    session.expire_all()
    assert session.get(RightsRequest, request.id).fee_cents is None


def test_closed_requests_take_no_more_decisions(session, register):
    request = submit(session, register, "a@example.com")
    decisions.complete(session, decision(register), request.id, "Your copy is ready")
    d = decision(register)
    for act in (lambda: decisions.start(session, d, request.id),
                lambda: decisions.ask(session, d, request.id, "?"),
                lambda: decisions.ask_fee(session, d, request.id, 100, "Fee"),
                lambda: decisions.complete(session, d, request.id, "Again")):
        with pytest.raises(RequestRefused, match="move_not_allowed"):
            act()
        session.rollback()
    with pytest.raises(RequestRefused, match="not_found"):
        decisions.complete(session, d, 10**6, "x")


@pytest.mark.clause("2.4.fee", "2.4.response_time")
def test_every_decision_is_in_the_history_the_audit_trail_and_the_persons_mail(app, session, register):
    request = submit(session, register, "a@example.com")
    d = decision(register)
    decisions.start(session, d, request.id)
    decisions.ask(session, d, request.id, "Which years?")
    decisions.extend(session, d, request.id, "Archives to search")
    decisions.ask_fee(session, decision(register, today=TODAY), request.id, 1500, "Tenth copy this year")
    decisions.start(session, d, request.id)
    done, plan = decisions.complete(session, d, request.id, "  Here is your copy  ")
    assert plan is None
    assert [(e.status, e.actor, e.note) for e in done.events] == [
        ("received", "person", None), ("in_progress", ACTOR, None), ("waiting", ACTOR, "Which years?"),
        ("extended", ACTOR, "Archives to search"), ("waiting", ACTOR, "Tenth copy this year"),
        ("in_progress", ACTOR, None), ("completed", ACTOR, "Here is your copy")]
    assert done.closed_at == NOW
    assert audit_lines(session, request.id) == [("person", "request_received")] + [
        (ACTOR, f"request_{status}") for status in ("in_progress", "waiting", "extended", "waiting",
                                                     "in_progress", "completed")]
    assert [e.action for e in audit.entries_about(session, "a@example.com", by_company_only=True)][0] == (
        "request_completed")
    assert session.scalars(select(OutboxMail.subject).order_by(OutboxMail.id)).all() == [
        f"access: {status}" for status in ("received", "in_progress", "waiting", "extended", "waiting",
                                           "in_progress", "completed")]
    assert verified(app).intact


@pytest.mark.clause("1.care")
def test_decisions_write_no_personal_data_into_the_audit_entries(session, register):
    request = submit(session, register, "secret.person@example.com")
    decisions.refuse(session, decision(register), request.id, "excessive", "The fourth identical request")
    stored = " ".join(str(v) for row in session.execute(text("SELECT * FROM audit_entry")) for v in row)
    assert "secret.person" not in stored and "fourth identical" not in stored
    # Whose request it was is in the removable part of every entry about it, and only there.
    about = session.scalars(select(AuditEntry.seq).where(AuditEntry.target == f"request:{request.id}")).all()
    assert len(about) >= 2
    assert set(session.scalars(select(AuditPersonal.seq).where(
        AuditPersonal.subject_email == "secret.person@example.com"))) == set(about)


# --- complete: erasure ---------------------------------------------------------------------------------

R, L = Kept.RELATION_RUNS, Kept.LEGAL_OBLIGATION
# Per demo person, on 25 November 2026: (items erased, what is kept, relations removed, what remains, name
# cleared). A running relation keeps what a contract purpose of it uses; an ended one keeps only payment
# and delivery records, until their retention date; everything else goes.
ERASURE = {
    # Customer (running, contract purposes use contact, correspondence and payment): all 8 kept. Visitor
    # (running, but on pre_contract and consent only): her e-mail address goes, and the relation with it.
    AN: (1, {KeptGroup("customer", "contact", 4, R, None), KeptGroup("customer", "correspondence", 2, R, None),
             KeptGroup("customer", "payment", 2, R, None)}, 1,
         {("customer", "contact", "name"), ("customer", "contact", "job title"), ("customer", "contact", "phone"),
          ("customer", "contact", "office address"), ("customer", "correspondence", "e-mail"),
          ("customer", "correspondence", "feedback"), ("customer", "payment", "bank account"),
          ("customer", "payment", "invoice")}, False),
    # Supplier, ended 30 June 2024: delivery records kept 10 years after the end (30 June 2034).
    BRAM: (4, {KeptGroup("supplier", "delivery", 2, L, dt.date(2034, 6, 30))}, 0,
           {("supplier", "delivery", "assignment"), ("supplier", "delivery", "bank account")}, False),
    # Applicant, ended: no payment or delivery data, so nothing is kept (talent-pool consent or not).
    CHLOE: (6, set(), 1, set(), True),
    DRIES: (4, set(), 1, set(), True),
    # Participant, ended: contact, participation and the (withdrawn) photo consent's media all go.
    EVA: (6, set(), 1, set(), True),
    # Visitor, running, but no contract: everything goes, also the relation.
    FRANK: (6, set(), 1, set(), True),
    # Customer, ended 30 November 2016: the final invoice is kept until 30 November 2026, five days more.
    GERT: (2, {KeptGroup("customer", "payment", 1, L, dt.date(2026, 11, 30))}, 0,
           {("customer", "payment", "invoice")}, False),
    # Participant (ended) goes entirely; customer (running since October 2026) keeps contact and correspondence.
    HANNE: (3, {KeptGroup("customer", "contact", 1, R, None), KeptGroup("customer", "correspondence", 1, R, None)},
            1, {("customer", "contact", "job title"), ("customer", "correspondence", "e-mail")}, False),
}


@pytest.mark.clause("2.4.erasure")
@pytest.mark.parametrize("email", sorted(ERASURE))
def test_erasure_deletes_exactly_what_the_register_does_not_keep(app, demo, session, register, email):
    erased, kept, removed, remaining, cleared = ERASURE[email]
    others = {other: items_of(session, other) for other in ERASURE if other != email}
    audit.record(session, actor=audit.PERSON, action="overview_viewed", now=NOW, subject_email=email,
                 personal={"ip": "192.0.2.99"})
    request = submit(session, register, email, "erasure")
    before = session.get(RightsRequest, request.id)
    last_before = session.scalar(select(func.max(AuditEntry.seq)))

    planned, _decisions = decisions.erasure_plan(session, before, register, TODAY)
    assert (planned.erased, set(planned.kept)) == (erased, kept)  # what the page shows before deciding

    done, plan = decisions.complete(session, decision(register), request.id, "Done")
    assert (plan.erased, set(plan.kept), plan.relations_removed) == (erased, kept, removed)
    assert done.status == lifecycle.COMPLETED
    assert items_of(session, email) == remaining
    assert {other: items_of(session, other) for other in others} == others  # nobody else's data
    subject = session.scalar(select(Subject).where(Subject.email == email))
    assert (subject.name is None) is cleared
    assert session.scalar(select(func.count()).select_from(Relation).where(Relation.subject_id == subject.id)) == (
        len({kind for kind, _c, _f in remaining}))
    personal_before = session.scalar(select(func.count()).select_from(AuditPersonal).where(
        AuditPersonal.subject_email == email, AuditPersonal.seq <= last_before))
    assert personal_before == (0 if cleared else 2)  # forgotten only when nothing is left
    erasure = session.scalar(select(AuditEntry).where(AuditEntry.action == "data_erased"))
    assert erasure.actor == ACTOR and erasure.target == f"request:{request.id}"
    details = json.loads(erasure.details)
    assert (details["items_erased"], details["relations_removed"]) == (erased, removed)
    assert {(k["relation"], k["category"], k["items"], k["reason"]) for k in details["kept"]} == {
        (k.relation, k.category, k.count, k.kept.value) for k in kept}
    assert email not in erasure.details
    assert verified(app).intact


@pytest.mark.clause("2.4.erasure", "3.1.retention")
@pytest.mark.parametrize(("today", "invoice_kept"), [
    (dt.date(2026, 11, 29), True), (dt.date(2026, 11, 30), False), (dt.date(2026, 12, 1), False),
])
def test_a_payment_record_goes_once_its_retention_date_is_reached(demo, session, register, today, invoice_kept):
    request = submit(session, register, GERT, "erasure", today=dt.date(2026, 11, 25))
    _done, plan = decisions.complete(session, decision(register, today=today), request.id, "")
    assert plan.erased == (2 if invoice_kept else 3)
    assert items_of(session, GERT) == ({("customer", "payment", "invoice")} if invoice_kept else set())
    assert plan.relations_removed == (0 if invoice_kept else 1)
    name = session.scalar(select(Subject.name).where(Subject.email == GERT))
    assert (name is None) is not invoice_kept


@pytest.mark.clause("2.4.erasure")
def test_erasure_of_one_relation_leaves_the_others(demo, session, register):
    participant = session.scalar(select(Relation.id).join(Subject).where(Subject.email == HANNE,
                                                                        Relation.kind == "participant"))
    request = submit(session, register, HANNE, "erasure", scope=f"relation:{participant}")
    _done, plan = decisions.complete(session, decision(register), request.id, "")
    assert (plan.erased, plan.kept, plan.relations_removed) == (3, [], 1)
    assert items_of(session, HANNE) == {("customer", "contact", "job title"), ("customer", "correspondence", "e-mail")}
    assert session.scalar(select(Subject.name).where(Subject.email == HANNE)) == "Hanne Claes"


@pytest.mark.clause("2.4.erasure")
def test_an_erasure_scoped_to_someone_elses_relation_erases_nothing(demo, session, register):
    ans_customer = session.scalar(select(Relation.id).join(Subject).where(Subject.email == AN,
                                                                         Relation.kind == "customer"))
    an_before, frank_before = items_of(session, AN), items_of(session, FRANK)
    request = submit(session, register, FRANK, "erasure", scope=f"relation:{ans_customer}")
    _done, plan = decisions.complete(session, decision(register), request.id, "")
    assert (plan.erased, plan.kept, plan.relations_removed) == (0, [], 0)
    assert (items_of(session, AN), items_of(session, FRANK)) == (an_before, frank_before)


# --- complete: rectification ---------------------------------------------------------------------------


@pytest.mark.clause("2.4.rectification")
def test_rectification_applies_the_approved_changes_only(demo, session, register):
    def item(field: str) -> DataItem:
        return session.scalar(select(DataItem).join(Relation).join(Subject)
                              .where(Subject.email == AN, DataItem.field == field))

    phone, office = item("phone"), item("office address")
    untouched_fingerprint = office.fingerprint
    request = submit(session, register, AN, "rectification", changes=[
        (phone.id, "phone", "+32 9 123 45 67", "+32 9 765 43 21"),
        (office.id, "office address", "Korenlei 7, 9000 Gent", "Graslei 1, 9000 Gent"),
        (None, "Other", None, "My job title changed"),
    ])
    other = submit(session, register, BRAM, "rectification", changes=[(None, "Other", None, "x")])
    change = {c.field: c.id for c in request.changes}
    approved = {change["phone"], change["Other"], other.changes[0].id}  # another request's proposal is ignored
    decisions.complete(session, decision(register), request.id, "Corrected", approved_changes=approved)

    session.expire_all()
    phone, office = item("phone"), item("office address")
    assert phone.value == "+32 9 765 43 21"
    assert phone.fingerprint == item_fingerprint("contact", "phone", "+32 9 765 43 21", "provided",
                                                 dt.date(2019, 3, 4))
    assert (office.value, office.fingerprint) == ("Korenlei 7, 9000 Gent", untouched_fingerprint)
    decided = {c.field: c.decision for c in session.scalars(
        select(RequestedChange).where(RequestedChange.request_id == request.id))}
    assert decided == {"phone": "approved", "office address": "rejected", "Other": "approved"}
    assert session.get(RequestedChange, other.changes[0].id).decision is None
    entry = session.scalar(select(AuditEntry).where(AuditEntry.action == "data_rectified"))
    assert (entry.actor, json.loads(entry.details)) == (ACTOR, {"values_changed": 1, "proposals": 3})
    assert "765" not in entry.details and "Graslei" not in entry.details


@pytest.mark.clause("2.4.rectification")
def test_rectification_without_approvals_changes_nothing(demo, session, register):
    before = items_of(session, AN)
    phone = session.scalar(select(DataItem).join(Relation).join(Subject)
                           .where(Subject.email == AN, DataItem.field == "phone"))
    request = submit(session, register, AN, "rectification",
                     changes=[(phone.id, "phone", phone.value, "+32 0 000 00 00")])
    decisions.complete(session, decision(register), request.id, "We checked: the number is right")
    session.expire_all()
    assert session.get(DataItem, phone.id).value == "+32 9 123 45 67" and items_of(session, AN) == before
    assert [c.decision for c in session.get(RightsRequest, request.id).changes] == ["rejected"]


# --- complete: restriction -----------------------------------------------------------------------------


def exported(session, register, email) -> dict:
    session.expire_all()
    export = build_export(session, email, COPY, register=register, language="en", now=NOW)
    return json.loads(b"".join(json_export(export)).decode())["tables"]


@pytest.mark.clause("2.4.restriction")
def test_restriction_of_everything_marks_every_relation_and_shows_in_overview_and_export(demo, session, register):
    request = submit(session, register, HANNE, "restriction")
    decisions.complete(session, decision(register), request.id, "Restricted")
    session.expire_all()
    overview = build_overview(session, HANNE, register=register)
    assert {(r.definition.id, r.restricted_since) for r in overview.relations} == {
        ("participant", TODAY), ("customer", TODAY)}
    tables = exported(session, register, HANNE)
    assert {(r["relation"], r["restricted_since"]) for r in tables["relations"]} == {
        ("participant", "2026-11-25"), ("customer", "2026-11-25")}
    assert len(tables["data_items"]) == 5 and all(r["restricted"] is True for r in tables["data_items"])
    entry = session.scalar(select(AuditEntry).where(AuditEntry.action == "data_restricted"))
    assert (entry.actor, json.loads(entry.details)) == (ACTOR, {"relations": 2})
    # Nobody else is restricted.
    assert session.scalar(select(func.count()).select_from(Relation).where(Relation.restricted_since.is_not(None))
                          ) == 2


@pytest.mark.clause("2.4.restriction")
def test_restriction_of_one_relation_marks_that_one_and_keeps_an_earlier_date(demo, session, register):
    visitor = session.scalar(select(Relation.id).join(Subject).where(Subject.email == AN, Relation.kind == "visitor"))
    first = submit(session, register, AN, "restriction", scope=f"relation:{visitor}")
    decisions.complete(session, decision(register), first.id, "")
    later = dt.date(2026, 12, 15)
    second = submit(session, register, AN, "restriction", today=later)
    decisions.complete(session, decision(register, today=later, now=NOW + dt.timedelta(days=20)), second.id, "")
    session.expire_all()
    since = {r.definition.id: r.restricted_since for r in build_overview(session, AN, register=register).relations}
    assert since == {"visitor": TODAY, "customer": later}  # restricted since the first time, not re-dated
    items = exported(session, register, AN)["data_items"]
    assert {(r["relation"], r["restricted"]) for r in items} == {("visitor", True), ("customer", True)}


@pytest.mark.clause("2.4.restriction")
def test_before_a_restriction_nothing_is_restricted(demo, session, register):
    relation_id = session.scalar(select(Relation.id).join(Subject).where(Subject.email == AN,
                                                                        Relation.kind == "visitor"))
    request = submit(session, register, AN, "restriction", scope=f"relation:{relation_id}")
    decisions.start(session, decision(register), request.id)
    tables = exported(session, register, AN)
    assert {r["restricted_since"] for r in tables["relations"]} == {None}
    assert {r["restricted"] for r in tables["data_items"]} == {False}
    decisions.complete(session, decision(register), request.id, "")
    tables = exported(session, register, AN)
    assert {(r["relation"], r["restricted_since"]) for r in tables["relations"]} == {
        ("visitor", "2026-11-25"), ("customer", None)}
    assert {(r["relation"], r["restricted"]) for r in tables["data_items"]} == {
        ("visitor", True), ("customer", False)}


# --- sessions and mail ---------------------------------------------------------------------------------


def add_session(session, email: str, audience: str = "person", *, ended: bool = False) -> AuthSession:
    row = AuthSession(key_hash=f"{next(_keys):064d}", email=email, created_at=NOW - dt.timedelta(minutes=5),
                      last_seen_at=NOW - dt.timedelta(minutes=1), confirmed_at=NOW - dt.timedelta(minutes=5),
                      audience=audience, ended_at=NOW - dt.timedelta(minutes=2) if ended else None,
                      end_reason="signed_out" if ended else None)
    session.add(row)
    session.flush()
    return row


def test_ending_a_persons_sessions_ends_theirs_only(app, session, register):
    laptop, phone = add_session(session, AN), add_session(session, AN)
    as_staff = add_session(session, AN, "staff")  # the same address working the back office
    earlier = add_session(session, AN, ended=True)
    stranger = add_session(session, BRAM)
    session.commit()
    assert decisions.end_person_sessions(session, decision(register), AN) == 2
    session.expire_all()
    state = {row.id: (row.ended_at, row.end_reason) for row in session.scalars(select(AuthSession))}
    assert state[laptop.id] == state[phone.id] == (NOW, "staff")
    assert state[as_staff.id] == state[stranger.id] == (None, None)
    assert state[earlier.id] == (NOW - dt.timedelta(minutes=2), "signed_out")
    entry = session.scalar(select(AuditEntry).where(AuditEntry.action == "sessions_ended"))
    assert (entry.actor, json.loads(entry.details)) == (ACTOR, {"sessions": 2})
    assert [e.action for e in audit.entries_about(session, AN)] == ["sessions_ended"]
    assert verified(app).intact


def failed_mail(session, recipient="an.peeters@example.com", status="failed") -> OutboxMail:
    mail = OutboxMail(recipient=recipient, subject="Your request", body_text="t", body_html="<p>t</p>",
                      message_id=f"<{next(_keys)}@we-are.be>", status=status, attempts=8,
                      created_at=NOW - dt.timedelta(days=2), next_attempt_at=NOW - dt.timedelta(days=1),
                      last_error="550 mailbox unavailable")
    session.add(mail)
    session.commit()
    return mail


def test_a_failed_mail_is_queued_again_once(app, session, register):
    mail, sent = failed_mail(session), failed_mail(session, status="sent")
    d = decision(register, now=NOW)
    assert decisions.failed_mails(session) == [mail]
    assert decisions.retry_mail(session, d, mail.id) is True
    session.expire_all()
    again = session.get(OutboxMail, mail.id)
    assert (again.status, again.attempts, again.next_attempt_at, again.claimed_until) == ("pending", 0, NOW, None)
    assert decisions.failed_mails(session) == []
    assert decisions.retry_mail(session, d, mail.id) is False  # already queued: not twice
    assert decisions.retry_mail(session, d, sent.id) is False  # a sent mail is never sent again
    assert decisions.retry_mail(session, d, 10**6) is False
    assert session.get(OutboxMail, sent.id).status == "sent"
    retried = session.scalars(select(AuditEntry).where(AuditEntry.action == "mail_retried")).all()
    assert [(e.actor, e.target) for e in retried] == [(ACTOR, f"mail:{mail.id}")]
    assert "an.peeters" not in retried[0].details


# --- staff accounts ------------------------------------------------------------------------------------


def test_create_staff_adds_changes_and_enables_again(session):
    staff, created = create_staff(session, "  DPO@We-Are.be ", "dpo", now=NOW)
    assert created and (staff.email, staff.role) == (DPO, "dpo")
    staff.disabled_at = NOW
    session.commit()
    assert active_staff(session, DPO) is None
    again, created = create_staff(session, DPO, "viewer", now=NOW)
    assert not created and again.id == staff.id and (again.role, again.disabled_at) == ("viewer", None)
    assert active_staff(session, DPO).role == "viewer"
    with pytest.raises(ValueError, match="role"):
        create_staff(session, DPO, "admin", now=NOW)
    assert [e.action for e in session.scalars(select(AuditEntry).order_by(AuditEntry.seq))] == [
        "staff_created", "staff_changed"]
