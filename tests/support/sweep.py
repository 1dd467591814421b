"""Building people for the retention sweep's tests and running it as the command does: shared by its test modules."""

from __future__ import annotations

import datetime as dt
import json

from sqlalchemy import select

from portal.models import AuditEntry, AuditPersonal, Consent, DataItem, Relation, Subject
from portal.services import audit
from portal.services.sweep import SweepReport, sweep
from tests.support.contexts import context

NOW = dt.datetime(2026, 1, 5, 3, 0)  # the sweep's clock; the days it sweeps as are given per test


def add_person(session, email: str, language: str = "nl") -> Subject:
    subject = Subject(email=email, name=email.split("@")[0], language=language)
    session.add(subject)
    session.flush()
    return subject


def add_relation(session, subject: Subject, kind: str, *, started: dt.date, ended: dt.date | None = None,
                 last_contact: dt.date | None = None, restricted_since: dt.date | None = None) -> Relation:
    relation = Relation(subject_id=subject.id, kind=kind, started=started, ended=ended, last_contact=last_contact,
                        restricted_since=restricted_since)
    session.add(relation)
    session.flush()
    return relation


def add_items(session, relation: Relation, category: str, count: int = 2, field_name: str = "note",
              value: str | None = None) -> None:
    for number in range(count):
        session.add(DataItem(
            relation_id=relation.id, category=category, field=field_name,
            value=value if value is not None else f"{category} {number} of relation {relation.id}",
            source="provided", recorded=relation.started, fingerprint=f"{category}-{field_name}-{number}",
        ))
    session.flush()


def add_consent(session, subject: Subject, purpose: str, given: dt.date, withdrawn: dt.date | None = None) -> Consent:
    consent = Consent(subject_id=subject.id, purpose=purpose, given=given, withdrawn=withdrawn)
    session.add(consent)
    session.flush()
    return consent


def sessions_of(app):
    return app.extensions["portal.db"].sessions


def run(app, register, today: dt.date, *, apply: bool, batch: int = 500, ask=None) -> tuple[SweepReport, list]:
    """One whole sweep as on `today`; its report and the plans of its batches. `ask`: the notifier that writes
    the renewal question (None: no mail)."""
    report = SweepReport()
    ctx = context(register, actor=audit.SYSTEM, today=today, now=NOW, notifier=ask)
    plans = list(sweep(sessions_of(app), ctx, apply=apply, batch=batch, report=report))
    return report, plans


def asking(app):
    """The command's way of asking: the renewal mail, composed in the person's language, into the outbox."""
    return app.extensions["portal.notifier"]


def relations_of(app, email: str) -> list[str]:
    with sessions_of(app)() as session:
        return sorted(session.scalars(select(Relation.kind).join(Subject).where(Subject.email == email)))


def audit_details(app, action: str) -> list[tuple[dict, str | None]]:
    """The entries of one action: their details, and whose they are (None once that part is gone)."""
    with sessions_of(app)() as session:
        rows = session.execute(
            select(AuditEntry.details, AuditPersonal.subject_email)
            .outerjoin(AuditPersonal, AuditPersonal.seq == AuditEntry.seq)
            .where(AuditEntry.action == action).order_by(AuditEntry.seq))
        return [(json.loads(details), email) for details, email in rows]


def audit_intact(app) -> bool:
    with sessions_of(app)() as session:
        return audit.verify(session).intact

LONG_AGO = dt.date(2010, 6, 30)  # a customer relation that ended then is due from 2020 on

SWEEP_DAY = dt.date(2025, 6, 1)


def old_customer(session, email: str, **relation) -> Subject:
    subject = add_person(session, email)
    customer = add_relation(session, subject, "customer", started=dt.date(2005, 1, 1), ended=LONG_AGO, **relation)
    for category in ("contact", "correspondence", "payment"):
        add_items(session, customer, category)
    return subject
