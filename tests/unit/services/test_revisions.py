"""The overview's revision moves with every write to what one person's overview shows, and only then."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import insert, select, update

from portal.models import (
    AddressChange,
    Consent,
    DataItem,
    MarketingObjection,
    OverviewGeneration,
    Relation,
    RenewalQuestion,
    Subject,
)
from portal.services import audit

NOW = dt.datetime(2026, 3, 2, 9, 0)


def people(session) -> tuple[Subject, Subject]:
    mine = Subject(email="me@example.com", language="en")
    mine.relations.append(Relation(kind="customer", started=dt.date(2025, 1, 1)))
    theirs = Subject(email="them@example.com", language="nl")
    theirs.relations.append(Relation(kind="customer", started=dt.date(2025, 1, 1)))
    session.add_all([mine, theirs])
    if session.get(OverviewGeneration, 1) is None:
        session.add(OverviewGeneration(id=1, value=0))
    session.commit()
    return mine, theirs


def revision(session, email: str) -> tuple[int, int]:
    session.expire_all()
    return (session.scalar(select(Subject.revision).where(Subject.email == email)),
            session.scalar(select(OverviewGeneration.value)))


def test_each_kind_of_write_moves_only_its_own_persons_revision(session):
    mine, theirs = people(session)
    relation = mine.relations[0]
    writes = [
        lambda: relation.items.append(DataItem(category="contact", field="phone", value="+32 9 123 45 67",
                                               source="provided", recorded=NOW.date(), fingerprint="f" * 64)),
        lambda: session.add(Consent(subject_id=mine.id, purpose="customer.3", given=NOW.date())),
        lambda: setattr(relation, "restricted_since", NOW.date()),
        lambda: session.add(MarketingObjection(email="me@example.com", objected_at=NOW)),
        lambda: session.add(RenewalQuestion(relation_id=relation.id, purpose="customer.3", asked_on=NOW.date())),
        lambda: setattr(mine, "name", "Me"),
        lambda: session.add(AddressChange(old_email="old@example.com", new_email="me@example.com",
                                          requested_at=NOW, confirmed_at=NOW)),
        lambda: audit.record(session, actor=audit.staff_actor("dpo@we-are.be"), action="request_viewed", now=NOW,
                             subject_email="me@example.com"),
    ]
    for write in writes:
        before, theirs_before = revision(session, "me@example.com"), revision(session, "them@example.com")
        write()
        session.commit()
        after = revision(session, "me@example.com")
        assert after[0] == before[0] + 1 and after[1] == before[1]
        assert revision(session, "them@example.com") == theirs_before


def test_the_persons_own_audit_entries_move_nothing(session):
    people(session)
    before = revision(session, "me@example.com")
    audit.record(session, actor=audit.PERSON, action="overview_viewed", now=NOW, subject_email="me@example.com")
    session.commit()
    assert revision(session, "me@example.com") == before


def test_a_bulk_statement_moves_everyones_generation(session):
    mine, _theirs = people(session)
    before = revision(session, "them@example.com")
    session.execute(insert(DataItem), [{"relation_id": mine.relations[0].id, "category": "contact", "field": "x",
                                        "value": "y", "source": "provided", "recorded": NOW.date(),
                                        "fingerprint": "a" * 64}])
    session.commit()
    assert revision(session, "them@example.com") == (before[0], before[1] + 1)
    session.execute(update(Relation).where(Relation.subject_id == mine.id).values(ended=NOW.date()))
    session.commit()
    assert revision(session, "them@example.com") == (before[0], before[1] + 2)


def test_bulk_statements_move_the_generation_once_per_transaction_and_not_when_rolled_back(session):
    mine, _theirs = people(session)
    before = revision(session, "them@example.com")[1]
    for ended in (NOW.date(), None):  # a sweep deletes in thousands of statements: one move, not thousands
        session.execute(update(Relation).where(Relation.subject_id == mine.id).values(ended=ended))
    session.commit()
    assert revision(session, "them@example.com")[1] == before + 1
    session.execute(update(Relation).where(Relation.subject_id == mine.id).values(ended=NOW.date()))
    session.rollback()
    session.commit()
    assert revision(session, "them@example.com")[1] == before + 1
