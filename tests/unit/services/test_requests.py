"""Requests to exercise rights: deadlines, history, idempotence, and the actions that take effect at once."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import func, select

from portal.models import Consent, OutboxMail, RightsRequest, Subject
from portal.policy import requests as lifecycle
from portal.services import requests
from portal.services.overview import build_overview
from portal.services.requests import RequestRefused
from tests.support.contexts import NOW, TODAY, context


def mails(session) -> list[str]:
    return list(session.scalars(select(OutboxMail.subject).order_by(OutboxMail.id)))


@pytest.mark.clause("2.4.response_time")
def test_a_request_gets_its_answer_date_its_history_and_a_mail(session, register):
    request = requests.submit_request(session, context(register), email="an@example.com", right="access",
                                      idempotency_key="k1")
    assert request.status == lifecycle.RECEIVED
    assert request.due_on == dt.date(2026, 3, 2)  # 31 January + 1 month -> Sat 28 Feb -> Mon 2 March
    assert request.statement_version == register.statement.version
    assert [(e.status, e.actor) for e in request.events] == [("received", "person")]
    assert mails(session) == ["access: received"]


def test_a_double_submission_makes_one_request(session, register):
    first = requests.submit_request(session, context(register), email="an@example.com", right="erasure",
                                    idempotency_key="same", details="Please erase everything")
    second = requests.submit_request(session, context(register), email="an@example.com", right="erasure",
                                     idempotency_key="same", details="Please erase everything")
    assert first.id == second.id
    assert session.scalar(select(func.count()).select_from(RightsRequest)) == 1
    assert len(mails(session)) == 1


@pytest.mark.parametrize(("right", "extra", "reason"), [
    ("pizza", {}, "unknown_right"),
    ("rectification", {}, "no_changes"),
    ("objection", {"details": "x" * 4001}, "details_too_long"),
])
def test_bad_requests_are_refused_and_leave_nothing(session, register, right, extra, reason):
    with pytest.raises(RequestRefused) as refused:
        requests.submit_request(session, context(register), email="an@example.com", right=right, idempotency_key="k",
                                **extra)
    assert refused.value.reason == reason
    assert session.scalar(select(func.count()).select_from(RightsRequest)) == 0 and mails(session) == []


@pytest.mark.clause("2.4.rectification")
def test_rectification_keeps_old_and_new_side_by_side(session, register):
    request = requests.submit_request(session, context(register), email="an@example.com", right="rectification",
                                      idempotency_key="r",
                                      changes=[(None, "phone", "+32 9 123 45 67", "+32 9 765 43 21")])
    assert [(c.field, c.old_value, c.new_value) for c in request.changes] == [
        ("phone", "+32 9 123 45 67", "+32 9 765 43 21")]


@pytest.mark.clause("2.4.response_time")
def test_the_lifecycle_with_reasons_and_the_extension_rule(session, register):
    request = requests.submit_request(session, context(register), email="an@example.com", right="access",
                                      idempotency_key="k")
    staff = context(register, actor="staff:dpo@we-are.be")
    with pytest.raises(RequestRefused, match="reasons_required"):
        requests.change_status(session, staff, request.id, to="extended", note="")
    requests.change_status(session, staff, request.id, to="in_progress", note=None)
    late = context(register, actor="staff:dpo@we-are.be", today=dt.date(2026, 3, 3))  # month 1 ended Mon 2 March
    with pytest.raises(RequestRefused, match="extension_too_late"):
        requests.change_status(session, late, request.id, to="extended", note="Complex request")
    extended = requests.change_status(session,
                                      context(register, actor="staff:dpo@we-are.be", today=dt.date(2026, 3, 2)),
                                      request.id, to="extended", note="Many systems to search")
    assert extended.extended_due_on == dt.date(2026, 4, 30)  # three months from 31 January: 30 April
    requests.change_status(session, staff, request.id, to="waiting", note="Which years do you mean?")
    with pytest.raises(RequestRefused, match="already_extended"):  # two months more, once
        requests.change_status(session, staff, request.id, to="extended", note="Again")
    done = requests.change_status(session, staff, request.id, to="completed", note="Your copy is ready")
    assert done.closed_at == NOW
    with pytest.raises(RequestRefused, match="move_not_allowed"):
        requests.change_status(session, staff, request.id, to="in_progress", note=None)
    assert [e.status for e in done.events] == ["received", "in_progress", "extended", "waiting", "completed"]
    assert len(mails(session)) == 5  # the person heard of every change


def make_person(session, email="nina@example.com"):
    from portal.models import Relation

    subject = Subject(email=email, name="Nina", language="nl")
    session.add(subject)
    session.flush()
    session.add(Relation(subject_id=subject.id, kind="visitor", started=dt.date(2024, 1, 1)))
    session.add(Relation(subject_id=subject.id, kind="participant", started=dt.date(2025, 1, 1)))
    session.add(Consent(subject_id=subject.id, purpose="visitor.2", given=dt.date(2024, 1, 1)))
    session.commit()
    return subject


@pytest.mark.clause("2.4.withdrawal")
def test_withdrawing_a_consent_stops_its_purpose_at_once(session, register):
    make_person(session)
    request = requests.withdraw_consent(session, context(register), email="nina@example.com", purpose_id="visitor.2",
                                        idempotency_key="w")
    assert request.status == lifecycle.COMPLETED and request.right == "withdrawal"
    newsletter = next(p for r in build_overview(session, "nina@example.com", register=register).relations
                      for p in r.purposes if p.purpose.id == "visitor.2")
    assert not newsletter.in_use and newsletter.consent.withdrawn == TODAY
    with pytest.raises(RequestRefused, match="no_standing_consent"):
        requests.withdraw_consent(session, context(register), email="nina@example.com", purpose_id="visitor.2",
                                  idempotency_key="w2")
    again = requests.give_consent(session, context(register), email="nina@example.com", purpose_id="visitor.2",
                                  idempotency_key="g")
    assert again.right == "consent_given"
    newsletter = next(p for r in build_overview(session, "nina@example.com", register=register).relations
                      for p in r.purposes if p.purpose.id == "visitor.2")
    assert newsletter.in_use


@pytest.mark.clause("2.4.withdrawal")
@pytest.mark.parametrize(("purpose", "reason"), [("customer.2", "not_a_consent"), ("nope", "not_a_consent")])
def test_only_consents_can_be_withdrawn(session, register, purpose, reason):
    make_person(session)
    with pytest.raises(RequestRefused, match=reason):
        requests.withdraw_consent(session, context(register), email="nina@example.com", purpose_id=purpose,
                                  idempotency_key="w")


def test_consent_can_only_be_given_for_a_relation_the_person_has(session, register):
    make_person(session)
    with pytest.raises(RequestRefused, match="no_such_relation"):
        requests.give_consent(session, context(register), email="nina@example.com", purpose_id="applicant.2",
                              idempotency_key="g")


@pytest.mark.clause("2.4.direct_marketing")
def test_objecting_to_direct_marketing_is_recorded_and_reversible(session, register):
    make_person(session)
    requests.object_to_direct_marketing(session, context(register), email="nina@example.com", idempotency_key="o")
    assert requests.marketing_objection_of(session, "nina@example.com") is not None
    overview = build_overview(session, "nina@example.com", register=register)
    stopped = {p.purpose.id for r in overview.relations for p in r.purposes if p.objected}
    assert stopped == {"visitor.2", "participant.3"}  # every direct-marketing purpose of hers, at once
    assert all(not p.in_use for r in overview.relations for p in r.purposes if p.objected)
    requests.lift_direct_marketing_objection(session, context(register), email="nina@example.com", idempotency_key="l")
    assert requests.marketing_objection_of(session, "nina@example.com") is None
    history = requests.requests_of(session, "nina@example.com")
    assert [r.right for r in history] == ["direct_marketing_objection_lifted", "direct_marketing_objection"]
    with pytest.raises(RequestRefused, match="no_objection"):
        requests.lift_direct_marketing_objection(session, context(register), email="nina@example.com",
                                                 idempotency_key="l2")


@pytest.mark.clause("2.4.direct_marketing")
def test_an_import_cannot_switch_marketing_back_on(session, register):
    from portal.services.subjects import import_subjects

    make_person(session)
    requests.object_to_direct_marketing(session, context(register), email="nina@example.com", idempotency_key="o")
    import_subjects({"format": "portal-subjects/1", "subjects": [{
        "email": "nina@example.com", "relations": [{"kind": "visitor", "started": "2024-01-01"}],
        "consents": [{"purpose": "visitor.2", "given": "2025-06-01"}]}]},
        session=session, register=register, today=dt.date(2026, 2, 1))
    assert requests.marketing_objection_of(session, "nina@example.com") is not None


def test_requests_belong_to_their_address(session, register):
    requests.submit_request(session, context(register), email="an@example.com", right="access", idempotency_key="k")
    assert requests.requests_of(session, "bram@example.com") == []
    assert len(requests.requests_of(session, "an@example.com")) == 1


# Which rights each demo person is offered, worked out by hand from statement 2.4 and their records.
OFFERED = {
    "an.peeters@example.com": {"objection", "withdrawal", "direct_marketing_objection", "portability"},
    "bram.declercq@example.com": {"portability"},
    "chloe.martin@example.com": {"withdrawal", "portability"},
    "dries.vermeulen@example.com": set(),
    "eva.janssens@example.com": {"objection", "direct_marketing_objection", "portability"},
    "frank.wouters@example.com": {"withdrawal", "portability"},
    "gert.maes@example.com": {"objection", "direct_marketing_objection", "portability"},
    "hanne.claes@example.com": {"objection", "withdrawal", "direct_marketing_objection", "portability"},
}
DEPENDS_ON_PURPOSES = {"objection", "withdrawal", "direct_marketing_objection", "portability"}


@pytest.mark.clause("2.4.erasure", "2.4.restriction", "2.4.objection", "2.4.withdrawal", "2.4.direct_marketing",
                    "2.4.portability")
@pytest.mark.parametrize("email", sorted(OFFERED))
def test_which_rights_each_demo_person_is_offered(demo, session, register, email):
    offers = {o.right.id: o for o in requests.offered_rights(build_overview(session, email, register=register),
                                                             register)}
    assert {right for right in DEPENDS_ON_PURPOSES if offers[right].applies} == OFFERED[email]
    assert offers["access"].applies and offers["rectification"].applies  # always
    has_data = email != "nobody@example.org"
    assert offers["erasure"].applies is has_data and offers["restriction"].applies is has_data


@pytest.mark.clause("2.4.access", "2.4.rectification")
def test_someone_we_hold_nothing_about_may_still_ask_for_access(demo, session, register):
    offers = {o.right.id: o.applies for o in requests.offered_rights(
        build_overview(session, "nobody@example.org", register=register), register)}
    assert offers == {"access": True, "rectification": True, "erasure": False, "restriction": False,
                      "objection": False, "withdrawal": False, "direct_marketing_objection": False,
                      "portability": False}
