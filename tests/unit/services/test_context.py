"""The seam every change goes through: each change that takes effect for a person is reported once, in its
transaction, with what the company's systems need to carry it out; a refused or repeated action reports nothing."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import select

from portal.models import DataItem, MarketingObjection, Relation, RequestedChange, Subject
from portal.services import decisions, requests
from portal.services.context import AffectedData, EffectKind, ValueChange
from portal.services.requests import RequestRefused
from portal.services.subjects import item_fingerprint
from tests.support.contexts import NOW, TODAY, EffectLog, context
from tests.support.nina import DPO, NINA, nina


def test_each_action_at_once_reports_its_effect_with_the_request_it_made(session, register):
    nina(session)
    log = EffectLog()
    ctx = context(register, listeners=(log,))
    withdrawn = requests.withdraw_consent(session, ctx, email=NINA, purpose_id="visitor.2", idempotency_key="a")
    given = requests.give_consent(session, ctx, email=NINA, purpose_id="visitor.2", idempotency_key="b")
    objected = requests.object_to_direct_marketing(session, ctx, email=NINA, idempotency_key="c")
    lifted = requests.lift_direct_marketing_objection(session, ctx, email=NINA, idempotency_key="d")
    assert log.kinds == ["consent_withdrawn", "consent_given", "marketing_objection", "marketing_objection_lifted"]
    assert [e.request_id for e in log.effects] == [withdrawn.id, given.id, objected.id, lifted.id]
    assert {e.email for e in log.effects} == {NINA}
    assert log.effects[0].purposes == ("visitor.2",)
    # Every direct-marketing purpose of the register, whatever relations the person has.
    assert set(log.effects[2].purposes) == {p.id for p in register.purposes.values() if p.direct_marketing}


def test_a_refused_or_repeated_action_reports_nothing(session, register):
    nina(session)
    log = EffectLog()
    ctx = context(register, listeners=(log,))
    requests.withdraw_consent(session, ctx, email=NINA, purpose_id="visitor.2", idempotency_key="a")
    requests.withdraw_consent(session, ctx, email=NINA, purpose_id="visitor.2", idempotency_key="a")  # a double click
    with pytest.raises(RequestRefused):
        requests.withdraw_consent(session, ctx, email=NINA, purpose_id="visitor.2", idempotency_key="b")
    with pytest.raises(RequestRefused):
        requests.give_consent(session, ctx, email=NINA, purpose_id="applicant.2", idempotency_key="c")
    assert log.kinds == ["consent_withdrawn"]


def test_a_listener_that_fails_undoes_the_change_it_was_told_of(session, register):
    """What the company's systems must hear is written with the change or the change does not happen."""
    nina(session)

    def unreachable(_session, _ctx, _effect):
        raise RuntimeError("the instruction could not be written")

    with pytest.raises(RuntimeError):
        requests.object_to_direct_marketing(session, context(register, listeners=(unreachable,)), email=NINA,
                                            idempotency_key="o")
    session.rollback()
    assert session.scalar(select(MarketingObjection)) is None
    assert requests.requests_of(session, NINA) == []


def staff_completes(session, register, right: str, log: EffectLog, **submitted):
    made = requests.submit_request(session, context(register), email=NINA, right=right, idempotency_key=right,
                                   **submitted)
    done, _plan = decisions.complete(session, context(register, actor=DPO, listeners=(log,)), made.id, "Done",
                                     approved_changes={c.id for c in made.changes})
    return done


@pytest.mark.clause("2.4.erasure")
def test_a_completed_erasure_reports_what_went_and_what_the_law_keeps(session, register):
    nina(session)
    log = EffectLog()
    done = staff_completes(session, register, "erasure", log, scope="all")
    (effect,) = log.effects
    assert (effect.kind, effect.request_id) == (EffectKind.ERASED, done.id)
    # The running customer relation keeps its data (the contract), the newsletter's contact data go.
    assert effect.data == (AffectedData("visitor", "contact", 1),)
    # and says why, so that a system told to keep them can say it too.
    assert set(effect.kept) == {AffectedData("customer", "contact", 1, reason="relation_runs"),
                                AffectedData("customer", "payment", 1, reason="relation_runs")}


@pytest.mark.clause("2.4.rectification")
def test_a_completed_rectification_reports_each_value_it_changed(session, register):
    nina(session)
    phone = session.scalar(select(DataItem).where(DataItem.field == "phone"))
    log = EffectLog()
    staff_completes(session, register, "rectification", log,
                    changes=[(phone.id, "phone", phone.value, "+32 9 765 43 21")])
    (effect,) = log.effects
    assert effect.kind is EffectKind.RECTIFIED
    assert effect.changes == (ValueChange("customer", "contact", "phone", "+32 9 123 45 67", "+32 9 765 43 21"),)
    assert session.scalar(select(RequestedChange.decision)) == "approved"


@pytest.mark.clause("2.4.restriction")
def test_a_completed_restriction_reports_the_data_it_freezes(session, register):
    nina(session)
    log = EffectLog()
    staff_completes(session, register, "restriction", log, scope="all")
    (effect,) = log.effects
    assert effect.kind is EffectKind.RESTRICTED
    assert {(d.relation, d.category) for d in effect.data} >= {("visitor", "contact"), ("customer", "payment")}


@pytest.mark.clause("2.4.objection")
def test_an_upheld_objection_reports_its_purpose_and_an_answered_access_request_reports_nothing(session, register):
    nina(session)
    log = EffectLog()
    staff_completes(session, register, "objection", log, scope="purpose:customer.5")
    staff_completes(session, register, "access", log)
    assert log.kinds == ["objection_upheld"] and log.effects[0].purposes == ("customer.5",)


def test_the_context_carries_who_and_when_into_the_history_and_the_audit_trail(session, register):
    made = requests.submit_request(session, context(register, today=TODAY, now=NOW), email=NINA, right="access",
                                   idempotency_key="k")
    later = NOW + dt.timedelta(days=3)
    requests.change_status(session, context(register, actor=DPO, now=later, today=later.date()), made.id,
                           to="in_progress", note=None)
    assert [(e.actor, e.at) for e in made.events] == [("person", NOW), (DPO, later)]


def test_a_changed_sign_in_address_and_its_undo_are_reported(session, register):
    import secrets

    from portal.models import SignInToken
    from portal.services import address

    nina(session)
    token = SignInToken(token_hash=secrets.token_hex(32), code_hash="x" * 64, nonce="n" * 32, purpose="change_email",
                        email="nina@new.example", language="nl", created_at=NOW,
                        expires_at=NOW + dt.timedelta(minutes=10))
    session.add(token)
    session.flush()
    log = EffectLog()
    ctx = context(register, listeners=(log,))
    address.record_request(session, ctx, old_email=NINA, new_email="nina@new.example", token_id=token.id)
    change = address.apply_change(session, ctx, token, undo_link=lambda change_id: f"/undo/{change_id}")
    session.commit()
    address.undo_change(session, ctx, change.id)
    assert [(e.kind, e.email, e.new_email) for e in log.effects] == [
        (EffectKind.ADDRESS_CHANGED, NINA, "nina@new.example"),
        (EffectKind.ADDRESS_CHANGE_UNDONE, "nina@new.example", NINA)]


@pytest.mark.clause("3.3.retention")
def test_an_erasure_by_the_retention_sweep_is_reported_per_person(database, session, register):
    from portal.services import audit
    from portal.services.sweep import SweepReport, sweep

    prospect = Subject(email="prospect@example.com", name="Pia", language="en")
    session.add(prospect)
    session.flush()
    visitor = Relation(subject_id=prospect.id, kind="visitor", started=dt.date(2019, 5, 1),
                       last_contact=dt.date(2020, 1, 15))
    session.add(visitor)
    session.flush()
    session.add(DataItem(relation_id=visitor.id, category="contact", field="email", value="prospect@example.com",
                         source="provided", recorded=dt.date(2019, 5, 1),
                         fingerprint=item_fingerprint("contact", "email", "prospect@example.com", "provided",
                                                      dt.date(2019, 5, 1))))
    session.commit()
    log = EffectLog()
    ctx = context(register, actor=audit.SYSTEM, listeners=(log,))  # 31 January 2026: three years after 2020 passed
    list(sweep(database.sessions, ctx, apply=True, report=SweepReport()))
    assert [(e.kind, e.email) for e in log.effects] == [(EffectKind.RETENTION_ERASED, "prospect@example.com")]
    assert log.effects[0].data == (AffectedData("visitor", "contact", 1),)
