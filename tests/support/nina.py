"""Nina, a person made for the service tests: a newsletter subscriber who is also a running customer."""

from __future__ import annotations

import datetime as dt

from portal.models import Consent, DataItem, Relation, Subject
from portal.services.subjects import item_fingerprint

DPO = "staff:dpo@we-are.be"  # the data protection manager, as an actor
NINA = "nina@example.com"


def nina(session) -> Subject:
    """A newsletter subscriber (visitor.2 on consent) who is also a running customer with a phone number."""
    subject = Subject(email=NINA, name="Nina", language="nl")
    session.add(subject)
    session.flush()
    visitor = Relation(subject_id=subject.id, kind="visitor", started=dt.date(2024, 1, 1))
    customer = Relation(subject_id=subject.id, kind="customer", started=dt.date(2025, 1, 1))
    session.add_all([visitor, customer])
    session.flush()
    for relation, category, field, value in ((visitor, "contact", "email", NINA),
                                             (customer, "contact", "phone", "+32 9 123 45 67"),
                                             (customer, "payment", "iban", "BE68 5390 0754 7034")):
        session.add(DataItem(relation_id=relation.id, category=category, field=field, value=value, source="provided",
                             recorded=dt.date(2025, 1, 1),
                             fingerprint=item_fingerprint(category, field, value, "provided", dt.date(2025, 1, 1))))
    session.add(Consent(subject_id=subject.id, purpose="visitor.2", given=dt.date(2024, 1, 1)))
    session.commit()
    return subject
