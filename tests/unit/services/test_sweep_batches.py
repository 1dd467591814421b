"""The retention sweep at scale: set-based batches that still tell each person what was erased of theirs.

A batch is carried out in a fixed number of statements however many people it holds (a DELETE per
category and per table, the audit entries in one executemany), and still writes one audit entry per
person: what the person's overview lists, and what an auditor answers them from. The people, the way
the sweep is run and what is looked at afterwards are those of test_sweep.py.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import event, select

from portal.models import Consent, Subject
from portal.services import audit
from tests.support.sweep import (
    LONG_AGO,
    SWEEP_DAY,
    add_consent,
    add_items,
    add_person,
    add_relation,
    audit_details,
    audit_intact,
    old_customer,
    relations_of,
    run,
    sessions_of,
)


def test_a_batch_erasing_many_people_writes_each_persons_entry(app, session, register):
    gone = [f"gone{n}@example.com" for n in range(3)]
    staying = [f"stays{n}@example.com" for n in range(2)]
    for email in gone:
        old_customer(session, email)
    for email in staying:  # the customer data go; the restricted supplier relation keeps the person
        subject = old_customer(session, email)
        supplier = add_relation(session, subject, "supplier", started=dt.date(2006, 1, 1), ended=LONG_AGO,
                                restricted_since=dt.date(2021, 1, 1))
        add_items(session, supplier, "delivery")
    session.commit()

    report, plans = run(app, register, SWEEP_DAY, apply=True)
    assert len(plans) == 1 and (report.people_removed, report.items_erased) == (3, 30)
    entries = audit_details(app, "retention_erased")
    assert sorted(whose or "" for _details, whose in entries) == ["", "", "", *staying]
    for details, _whose in entries:
        assert sorted((e["relation"], e["category"], e["items"]) for e in details["erased"]) == [
            ("customer", "contact", 2), ("customer", "correspondence", 2), ("customer", "payment", 2)]
    with sessions_of(app)() as fresh:
        for email in staying:  # what the person's overview lists among the company's entries about them
            [line] = audit.entries_about(fresh, email, by_company_only=True)
            assert line.action == "retention_erased" and sum(e["items"] for e in line.details["erased"]) == 6
    assert audit_intact(app)


def test_the_statements_of_a_batch_do_not_grow_with_the_people_in_it(app, session, register):
    """Set-based: a DELETE per category and per table, an executemany of audit entries, whatever the batch holds."""
    statements: list[str] = []
    engine = app.extensions["portal.db"].engine

    def count(_conn, _cursor, statement, _params, _context, _many) -> None:
        statements.append(statement)

    def sweep_of(people: int, first: int) -> int:
        for number in range(first, first + people):
            subject = old_customer(session, f"p{number}@example.com")
            supplier = add_relation(session, subject, "supplier", started=dt.date(2006, 1, 1), ended=LONG_AGO)
            add_items(session, supplier, "delivery")
        session.commit()
        statements.clear()
        event.listen(engine, "before_cursor_execute", count)
        try:
            report, _plans = run(app, register, SWEEP_DAY, apply=True)
        finally:
            event.remove(engine, "before_cursor_execute", count)
        assert report.people_removed == people
        return len(statements)

    assert sweep_of(2, 0) == sweep_of(20, 100)
    assert audit_intact(app) and len(audit_details(app, "retention_erased")) == 22


def test_a_removed_relation_takes_the_consents_of_its_kind_only_when_the_person_has_none_of_that_kind_left(
    app, session, register,
):
    customer_too = add_person(session, "customer.too@example.com")
    add_items(session, add_relation(session, customer_too, "visitor", started=dt.date(2015, 1, 1),
                                    last_contact=dt.date(2016, 1, 1)), "contact")
    add_items(session, add_relation(session, customer_too, "customer", started=dt.date(2020, 1, 1)), "payment")
    twice = add_person(session, "visitor.twice@example.com")
    add_items(session, add_relation(session, twice, "visitor", started=dt.date(2015, 1, 1),
                                    last_contact=dt.date(2016, 1, 1)), "contact")
    add_items(session, add_relation(session, twice, "visitor", started=dt.date(2025, 1, 1),
                                    last_contact=dt.date(2025, 5, 1)), "contact")
    for subject in (customer_too, twice):
        add_consent(session, subject, "visitor.3", dt.date(2015, 1, 1), withdrawn=dt.date(2015, 6, 1))
    session.commit()

    report, _plans = run(app, register, SWEEP_DAY, apply=True)
    assert (report.relations_removed, report.people_removed) == (2, 0)
    assert relations_of(app, "customer.too@example.com") == ["customer"]
    assert relations_of(app, "visitor.twice@example.com") == ["visitor"]
    with sessions_of(app)() as fresh:
        kept = fresh.execute(select(Subject.email, Consent.purpose).join(Consent)).all()
    assert kept == [("visitor.twice@example.com", "visitor.3")]  # a visitor relation is left to show it on
