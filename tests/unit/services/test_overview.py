"""The overview a person gets at once: their relations, data, purposes, retention and rights."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import event, select

from portal.models import Relation, Subject
from portal.policy.retention import Pending
from portal.policy.rights import Status
from portal.services.overview import ITEMS_SHOWN, NotFound, build_overview, category_page
from tests.support.data_items import add_items


def views(overview):
    return {r.definition.id: r for r in overview.relations}


def purposes(relation):
    return {p.purpose.id: p for p in relation.purposes}


@pytest.mark.clause("2.4.access", "3.1.data", "2.2.third_parties", "2.2.public_sources", "3.3.retention.newsletter")
def test_customer_who_reads_the_newsletter(demo, session, register):
    overview = build_overview(session, "an.peeters@example.com", register=register)
    relations = views(overview)
    assert set(relations) == {"customer", "visitor"}
    customer = relations["customer"]
    assert [c.category.id for c in customer.categories] == ["contact", "correspondence", "payment"]
    contact = customer.categories[0]
    assert contact.total == 4
    assert {(i.field, i.source) for i in contact.items} >= {("name", "third_party"), ("office address", "public")}
    running = purposes(customer)["customer.2"]
    assert running.retention.until is None and running.retention.pending is Pending.RELATION_RUNNING
    assert purposes(customer)["customer.5"].purpose.interest is not None
    newsletter = purposes(relations["visitor"])["visitor.2"]
    assert newsletter.in_use and newsletter.consent.given == dt.date(2021, 5, 10)
    assert newsletter.retention.pending is Pending.CONSENT_STANDS
    cookies = purposes(relations["visitor"])["visitor.3"]
    assert not cookies.in_use and cookies.consent is None  # never consented: not in use


@pytest.mark.clause("3.1.retention", "3.2.retention", "3.4.retention")
def test_retention_dates_are_computed_from_the_register(demo, session, register):
    gert = views(build_overview(session, "gert.maes@example.com", register=register))["customer"]
    assert {p.retention.until for p in gert.purposes} == {dt.date(2026, 11, 30)}
    assert gert.kept_until == dt.date(2026, 11, 30)
    bram = views(build_overview(session, "bram.declercq@example.com", register=register))["supplier"]
    assert bram.kept_until == dt.date(2034, 6, 30)
    dries = views(build_overview(session, "dries.vermeulen@example.com", register=register))["applicant"]
    assert dries.kept_until == dt.date(2026, 12, 8)  # four weeks after 10 November 2026
    chloe = views(build_overview(session, "chloe.martin@example.com", register=register))["applicant"]
    extended = purposes(chloe)["applicant.1"].retention
    assert extended.extended_by_consent and extended.renewal_due == dt.date(2027, 3, 2)


@pytest.mark.clause("2.4.withdrawal")
def test_withdrawn_consent_stops_its_purpose(demo, session, register):
    eva = views(build_overview(session, "eva.janssens@example.com", register=register))["participant"]
    photos = purposes(eva)["participant.4"]
    assert not photos.in_use and photos.consent.withdrawn == dt.date(2025, 6, 20)
    assert photos.retention.until == dt.date(2025, 6, 20)  # not the participants' longer period
    assert eva.kept_until == dt.date(2027, 3, 14)  # the purposes still in use keep the rest
    participation = next(c for c in eva.categories if c.category.id == "participation")
    assert participation.category.special_care is not None  # dietary restrictions: shown with a note


@pytest.mark.clause("2.4.objection", "2.4.portability")
def test_rights_per_purpose_come_with_their_reasons(demo, session, register):
    eva = views(build_overview(session, "eva.janssens@example.com", register=register))["participant"]
    surveys = {d.right.id: d for d in purposes(eva)["participant.2"].rights}
    assert surveys["objection"].status is Status.APPLIES
    organisation = {d.right.id: d for d in purposes(eva)["participant.1"].rights}
    assert organisation["objection"].status is Status.DOES_NOT_APPLY
    assert organisation["portability"].status is Status.APPLIES


@pytest.mark.clause("2.4.access")
def test_an_unknown_address_holds_nothing(demo, session, register):
    overview = build_overview(session, "nobody@example.org", register=register)
    assert not overview.holds_anything and overview.relations == []


def count_statements(session, email: str, register) -> int:
    engine = session.get_bind()
    statements = []

    def record(conn, cursor, statement, parameters, context, executemany):
        statements.append(statement)

    event.listen(engine, "before_cursor_execute", record)
    try:
        session.expire_all()
        build_overview(session, email, register=register)
    finally:
        event.remove(engine, "before_cursor_execute", record)
    return len(statements)


def test_the_number_of_queries_does_not_grow_with_the_data(session, register):
    for email in ("small@example.com", "large@example.com"):
        subject = Subject(email=email, name="x", language="nl")
        session.add(subject)
        session.flush()
        for kind in ("customer", "visitor"):
            session.add(Relation(subject_id=subject.id, kind=kind, started=dt.date(2019, 1, 1)))
    session.commit()
    relations = session.scalars(select(Relation).join(Subject).order_by(Subject.email, Relation.kind)).all()
    large, small = relations[:2], relations[2:]
    for relation in small:
        add_items(session, relation.id, 5)
    for relation in large:
        add_items(session, relation.id, 5000)
    small_count = count_statements(session, "small@example.com", register)
    assert small_count == count_statements(session, "large@example.com", register)
    assert small_count <= 7  # subject, relations, consents, counts, newest items, renewal questions, objection
    overview = build_overview(session, "large@example.com", register=register)
    correspondence = overview.relations[0].categories[0]
    assert correspondence.total == 5000 and len(correspondence.items) == ITEMS_SHOWN
    assert correspondence.items[0].recorded >= correspondence.items[-1].recorded  # newest first


@pytest.mark.clause("1.care")
def test_category_pages_are_scoped_to_the_person(demo, session, register):
    an_customer = views(build_overview(session, "an.peeters@example.com", register=register))["customer"]
    page = category_page(session, "an.peeters@example.com", an_customer.id, "contact", 1, register=register)
    assert page.total == 4 and page.pages == 1
    for email, relation_id, category, number in [
        ("bram.declercq@example.com", an_customer.id, "contact", 1),  # another person's relation
        ("an.peeters@example.com", an_customer.id, "recruitment", 1),  # not a category of customers
        ("an.peeters@example.com", an_customer.id, "contact", 2),  # beyond the last page
        ("an.peeters@example.com", 999_999, "contact", 1),  # no such relation
        ("nobody@example.org", an_customer.id, "contact", 1),
    ]:
        with pytest.raises(NotFound):
            category_page(session, email, relation_id, category, number, register=register)
