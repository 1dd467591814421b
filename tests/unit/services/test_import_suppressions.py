"""An import never brings back what a person had erased or stopped: the same file again after an erasure or a
withdrawal imports nothing of it and says so; a relation that really starts again later is new."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import delete, func, select

from portal.models import Consent, DataItem, Relation, Subject
from portal.services import decisions, instructions, requests
from portal.services.subjects import ImportRejected, import_subjects
from tests.support.contexts import TODAY, context

DPO = "staff:dpo@we-are.be"
LOTTE = "lotte@example.com"
LATER = TODAY + dt.timedelta(days=30)


def visitor_file(*, started: str = "2024-01-01", given: str = "2024-01-01", email: str = LOTTE) -> dict:
    """A newsletter subscriber: a visitor relation with two contact items and consent to visitor.2."""
    return {"format": "portal-subjects/1", "subjects": [{
        "email": email, "name": "Lotte",
        "relations": [{"kind": "visitor", "started": started, "data": [
            {"category": "contact", "field": "e-mail", "value": email, "source": "provided", "recorded": started},
            {"category": "contact", "field": "name", "value": "Lotte", "source": "provided", "recorded": started}]}],
        "consents": [{"purpose": "visitor.2", "given": given}],
    }]}


def counts(session) -> dict[str, int]:
    return {model.__name__: session.scalar(select(func.count()).select_from(model))
            for model in (Subject, Relation, DataItem, Consent)}


def erase_everything(session, register, email: str = LOTTE) -> None:
    """The person asks to erase all their data, and the data protection manager completes it."""
    made = requests.submit_request(session, context(register), email=email, right="erasure", idempotency_key="e",
                                   scope="all")
    decisions.complete(session, context(register, actor=DPO, listeners=(instructions.carry_out,)), made.id, "Done")


@pytest.mark.clause("2.4.erasure")
def test_the_same_file_after_an_erasure_brings_nothing_back_and_says_so(session, register):
    import_subjects(visitor_file(), session=session, register=register, today=TODAY)
    erase_everything(session, register)
    assert counts(session)["DataItem"] == 0

    report = import_subjects(visitor_file(), session=session, register=register, today=TODAY)

    # The portal keeps the address (the request's record), without a name, relation, item or consent.
    assert counts(session) == {"Subject": 1, "Relation": 0, "DataItem": 0, "Consent": 0}
    assert session.scalar(select(Subject.name)) is None
    assert not report.changed_anything
    assert report.not_imported() == [
        "1 relation not imported: erased on 31 January 2026 at the person's request",
        "2 data items not imported: erased on 31 January 2026 at the person's request",
        "1 consent not imported: erased on 31 January 2026 at the person's request",
    ]


def test_a_person_the_portal_no_longer_holds_is_not_brought_back(session, register):
    import_subjects(visitor_file(), session=session, register=register, today=TODAY)
    erase_everything(session, register)
    session.execute(delete(Subject))  # as when their account went too
    session.commit()
    report = import_subjects(visitor_file(), session=session, register=register, today=TODAY)
    assert counts(session) == {"Subject": 0, "Relation": 0, "DataItem": 0, "Consent": 0}
    assert report.skipped[("people", "erasure", TODAY)] == 1
    assert report.not_imported()[0] == "1 person not imported: erased on 31 January 2026 at the person's request"


def test_a_relation_that_starts_after_the_erasure_is_imported_as_new(session, register):
    import_subjects(visitor_file(), session=session, register=register, today=TODAY)
    erase_everything(session, register)

    again = visitor_file(started=(TODAY + dt.timedelta(days=10)).isoformat(),
                         given=(TODAY + dt.timedelta(days=10)).isoformat())
    report = import_subjects(again, session=session, register=register, today=LATER)

    assert counts(session) == {"Subject": 1, "Relation": 1, "DataItem": 2, "Consent": 1}
    assert report.not_imported() == []


def test_strict_refuses_a_file_that_would_bring_back_erased_data(session, register):
    import_subjects(visitor_file(), session=session, register=register, today=TODAY)
    erase_everything(session, register)

    with pytest.raises(ImportRejected) as refused:
        import_subjects(visitor_file(), session=session, register=register, today=TODAY, strict=True)

    messages = [str(problem) for problem in refused.value.problems]
    assert ("subjects[0].relations[0]: 2 data items erased on 31 January 2026 at the person's request: "
            "not imported again") in messages
    assert counts(session) == {"Subject": 1, "Relation": 0, "DataItem": 0, "Consent": 0}


def test_only_the_erasing_persons_data_are_skipped(session, register):
    import_subjects(visitor_file(), session=session, register=register, today=TODAY)
    erase_everything(session, register)
    other = visitor_file(email="pieter@example.com")
    report = import_subjects(other, session=session, register=register, today=TODAY)
    assert report.items_created == 2 and report.not_imported() == []


def test_another_key_does_not_recognise_the_person(session, register):
    """The suppressions are found by a keyed hash: an import under another secret knows nobody (so the app
    must pass its own)."""
    import_subjects(visitor_file(), session=session, register=register, today=TODAY)
    erase_everything(session, register)
    report = import_subjects(visitor_file(), session=session, register=register, today=TODAY, secret=b"other")
    assert report.items_created == 2


@pytest.mark.clause("2.4.withdrawal")
def test_a_withdrawn_consent_is_not_given_again_by_an_import(session, register):
    import_subjects(visitor_file(), session=session, register=register, today=TODAY)
    ctx = context(register, listeners=(instructions.carry_out,))
    requests.withdraw_consent(session, ctx, email=LOTTE, purpose_id="visitor.2", idempotency_key="w")

    # The same file, and one from a system that still lists the consent under an earlier date.
    report = import_subjects(visitor_file(), session=session, register=register, today=TODAY)
    earlier = import_subjects(visitor_file(given="2023-06-01"), session=session, register=register, today=TODAY)

    assert [(c.given, c.withdrawn) for c in session.scalars(select(Consent))] == [(dt.date(2024, 1, 1), TODAY)]
    assert report.not_imported() == ["1 consent not imported: withdrawn on 31 January 2026"]
    assert earlier.consents_created == 0 and earlier.skipped[("consents", "consent_withdrawn", TODAY)] == 1


def test_a_consent_given_again_after_the_withdrawal_is_imported(session, register):
    import_subjects(visitor_file(), session=session, register=register, today=TODAY)
    requests.withdraw_consent(session, context(register, listeners=(instructions.carry_out,)), email=LOTTE,
                              purpose_id="visitor.2", idempotency_key="w")
    report = import_subjects(visitor_file(given=LATER.isoformat()), session=session, register=register, today=LATER)
    assert report.consents_created == 1 and report.not_imported() == []


def test_a_marketing_objection_stops_consents_until_it_is_lifted(session, register):
    import_subjects(visitor_file(), session=session, register=register, today=TODAY)
    ctx = context(register, listeners=(instructions.carry_out,))
    requests.object_to_direct_marketing(session, ctx, email=LOTTE, idempotency_key="o")
    objected = import_subjects(visitor_file(given="2023-06-01"), session=session, register=register, today=TODAY)
    assert objected.not_imported() == ["1 consent not imported: objected to on 31 January 2026"]

    requests.lift_direct_marketing_objection(session, ctx, email=LOTTE, idempotency_key="l")
    lifted = import_subjects(visitor_file(given="2023-06-01"), session=session, register=register, today=TODAY)
    assert lifted.consents_created == 1
