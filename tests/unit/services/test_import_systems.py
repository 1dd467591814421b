"""The import says which of the company's systems each data item and consent comes from: the file names it,
or the register does where only one system holds that data; an ambiguous or wrong system is refused."""

from __future__ import annotations

import datetime as dt
from dataclasses import replace

import pytest
from sqlalchemy import select

from portal.models import Consent, DataItem
from portal.services.subjects import ImportRejected, import_subjects, validate_document

TODAY = dt.date(2026, 11, 25)


def document(*, payment_system: str | None = None, consent_system: str | None = None) -> dict:
    payment = {"category": "payment", "field": "bank account", "value": "BE68 5390 0754 7034", "source": "provided",
               "recorded": "2019-03-02"}
    if payment_system is not None:
        payment["system"] = payment_system
    consent = {"purpose": "visitor.2", "given": "2021-05-10"}
    if consent_system is not None:
        consent["system"] = consent_system
    return {"format": "portal-subjects/1", "subjects": [{
        "email": "sofie@example.com",
        "relations": [
            {"kind": "customer", "started": "2019-03-01", "data": [
                {"category": "contact", "field": "phone", "value": "+32 9 000 00 00", "source": "provided",
                 "recorded": "2019-03-01"},
                payment]},
            {"kind": "visitor", "started": "2021-05-10", "data": [
                {"category": "contact", "field": "e-mail", "value": "sofie@example.com", "source": "provided",
                 "recorded": "2021-05-10"}]},
        ],
        "consents": [consent],
    }]}


def problems_of(document, register, **kwargs) -> dict[str, str]:
    with pytest.raises(ImportRejected) as rejected:
        validate_document(document, register=register, today=TODAY, **kwargs)
    return {problem.path: problem.message for problem in rejected.value.problems}


def with_crm_also_holding_payments(register):
    """The shipped register with a second system for customers' payment data and visitor.2's consents."""
    crm = register.systems["crm"]
    crm = replace(crm, holds=(*crm.holds, ("customer", "payment")), consents=(*crm.consents, "visitor.2"))
    return replace(register, systems={**register.systems, "crm": crm})


def test_the_shipped_register_names_the_one_system_of_every_item_and_consent(session, register):
    import_subjects(document(), session=session, register=register, today=TODAY)
    assert {(item.category, item.field, item.system) for item in session.scalars(select(DataItem))} == {
        ("contact", "phone", "crm"), ("payment", "bank account", "accounting"), ("contact", "e-mail", "newsletter")}
    assert session.scalar(select(Consent.system)) == "newsletter"


def test_a_named_system_is_stored_when_it_holds_that_data(session, register):
    import_subjects(document(payment_system="accounting", consent_system="newsletter"), session=session,
                    register=register, today=TODAY)
    assert session.scalar(select(DataItem.system).where(DataItem.category == "payment")) == "accounting"


def test_a_system_that_does_not_hold_the_data_is_refused_naming_the_one_that_does(register):
    problems = problems_of(document(payment_system="crm", consent_system="analytics"), register)
    assert problems == {
        "subjects[0].relations[0].data[1].system":
            "crm does not hold payment data of customer relations: the register attributes them to accounting",
        "subjects[0].consents[0].system":
            "analytics does not hold consents to visitor.2: the register attributes them to newsletter",
    }


def test_an_unknown_system_is_refused_listing_the_systems(register):
    problems = problems_of(document(payment_system="erp"), register)
    assert problems["subjects[0].relations[0].data[1].system"] == (
        "'erp' is not a system of the register (crm, accounting, recruitment, newsletter, events, analytics)")


def test_where_two_systems_hold_the_data_the_file_must_say_which(session, register):
    ambiguous = with_crm_also_holding_payments(register)
    problems = problems_of(document(), ambiguous)
    assert problems == {
        "subjects[0].relations[0].data[1].system": "is needed: payment data of customer relations are held by "
                                                   "several systems (crm, accounting); say which one it comes from",
        "subjects[0].consents[0].system": "is needed: consents to visitor.2 are held by several systems "
                                          "(crm, newsletter); say which one it comes from",
    }
    import_subjects(document(payment_system="crm", consent_system="crm"), session=session, register=ambiguous,
                    today=TODAY)
    assert session.scalar(select(DataItem.system).where(DataItem.category == "payment")) == "crm"
    assert session.scalar(select(Consent.system)) == "crm"


def test_a_pushing_system_sends_only_its_own_data(register):
    # The CRM holds customers' contact data, not their payments, nor the newsletter's consents or contacts.
    problems = problems_of(document(consent_system="newsletter"), register, system="crm")
    assert problems == {
        "subjects[0].relations[0].data[1].category":
            "crm does not hold payment data of customer relations: the register attributes them to accounting",
        "subjects[0].relations[1].data[0].category":
            "crm does not hold contact data of visitor relations: the register attributes them to newsletter",
        "subjects[0].consents[0].system":
            "names 'newsletter', but this file is pushed by 'crm': a system sends only its own data",
    }


def test_a_pushing_system_may_not_send_a_relation_it_holds_nothing_of(register):
    applicant = {"format": "portal-subjects/1", "subjects": [{"email": "jo@example.org", "relations": [
        {"kind": "applicant", "started": "2025-01-06", "data": [
            {"category": "recruitment", "field": "cv", "value": "cv.pdf", "source": "provided",
             "recorded": "2025-01-06"}]}]}]}
    assert problems_of(applicant, register, system="crm") == {
        "subjects[0].relations[0].kind": "crm holds no data of applicant relations (the register attributes "
                                         "them to recruitment)"}
    assert validate_document(applicant, register=register, today=TODAY, system="recruitment")
