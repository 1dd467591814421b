"""A number per person that changes whenever anything their overview shows changes.

The overview is the portal's heaviest page and the one a person opens most. Its data-derived part is
kept, rendered, under a key that holds this number (`Subject.revision`) and the number shared by
everyone (`OverviewGeneration.value`): when neither moved, nothing the page shows has moved.

Services do not bump these numbers themselves: one forgotten call would show a person a stale page.
Session events do it for every write made through SQLAlchemy, whichever service makes it:
- a flush that adds, changes or deletes a row the overview reads (relations, data items, consents,
  objections, renewal questions, address changes, the subject itself, or the personal part of an audit
  entry written by the company) bumps the revision of the people those rows belong to, in the same
  transaction;
- a bulk INSERT, UPDATE or DELETE on one of those tables (an import, the retention sweep, an erasure)
  bumps the shared generation, once, when its transaction commits: such statements are rare, and which
  people their WHERE clause reaches is not known without running it.
A person's own audit entries (signing in, viewing) are not on the overview and bump nothing.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Delete, Insert, Update, event, or_, select, update
from sqlalchemy.orm import ORMExecuteState, Session, SessionTransaction

from portal.models import (
    AddressChange,
    AuditEntry,
    AuditPersonal,
    AuthSession,
    Consent,
    DataItem,
    MarketingObjection,
    OverviewGeneration,
    Relation,
    RenewalQuestion,
    StatementSeen,
    Subject,
)
from portal.services import audit

_WATCHED_TABLES = frozenset(model.__table__ for model in (
    Subject, Relation, DataItem, Consent, MarketingObjection, RenewalQuestion, AddressChange, AuditPersonal))


class _Touched:
    def __init__(self) -> None:
        self.subject_ids: set[int] = set()
        self.relation_ids: set[int] = set()
        self.emails: set[str] = set()
        self.everyone = False

    def __bool__(self) -> bool:
        return bool(self.subject_ids or self.relation_ids or self.emails or self.everyone)

    def add(self, session: Session, row: object) -> None:
        if isinstance(row, Subject):
            if row.id is not None:
                self.subject_ids.add(row.id)
        elif isinstance(row, (Relation, Consent)):
            if row.subject_id is not None:
                self.subject_ids.add(row.subject_id)
            elif isinstance(row, Relation) and row.subject is not None and row.subject.id is not None:
                self.subject_ids.add(row.subject.id)
        elif isinstance(row, (DataItem, RenewalQuestion)):
            if row.relation_id is not None:
                self.relation_ids.add(row.relation_id)
            elif isinstance(row, DataItem) and row.relation is not None:
                self.add(session, row.relation)  # appended to a relation's items, its id not set yet
        elif isinstance(row, MarketingObjection):
            self.emails.add(row.email)
        elif isinstance(row, AddressChange):
            self.emails.update((row.old_email, row.new_email))
        elif isinstance(row, AuditPersonal) and row.subject_email is not None:
            entry = session.identity_map.get(session.identity_key(AuditEntry, row.seq))  # no query: just added
            if entry is None or entry.actor != audit.PERSON:
                self.emails.add(row.subject_email)


def bump(session: Session, *, subject_ids: set[int] = frozenset(),  # type: ignore[assignment]
         relation_ids: set[int] = frozenset(), emails: set[str] = frozenset(),  # type: ignore[assignment]
         everyone: bool = False) -> None:
    """Move the revision of these people (and with `everyone`, the shared generation)."""
    conditions: list[Any] = []
    if subject_ids:
        conditions.append(Subject.id.in_(subject_ids))
    if relation_ids:
        conditions.append(Subject.id.in_(select(Relation.subject_id).where(Relation.id.in_(relation_ids))))
    if emails:
        conditions.append(Subject.email.in_(emails))
    if conditions:
        session.execute(update(Subject).where(or_(*conditions)).values(revision=Subject.revision + 1),
                        execution_options={"synchronize_session": False, "portal_revision": True})
    if everyone:
        session.execute(update(OverviewGeneration).where(OverviewGeneration.id == 1)
                        .values(value=OverviewGeneration.value + 1),
                        execution_options={"portal_revision": True})


@event.listens_for(Session, "before_flush")
def _bump_for_flushed_rows(session: Session, _context: Any, _instances: Any) -> None:
    touched = _Touched()
    with session.no_autoflush:
        for row in (*session.new, *session.dirty, *session.deleted):
            if row in session.dirty and not session.is_modified(row, include_collections=False):
                continue
            touched.add(session, row)
            if isinstance(row, Subject) and row in session.deleted:
                touched.everyone = True  # a later subject may get the same id (SQLite reuses the highest)
        if touched:
            bump(session, subject_ids=touched.subject_ids, relation_ids=touched.relation_ids, emails=touched.emails,
                 everyone=touched.everyone)


_EVERYONE = "portal_overview_everyone"  # in `Session.info`: a bulk statement ran in this transaction


@event.listens_for(Session, "do_orm_execute")
def _note_bulk_statements(state: ORMExecuteState) -> None:
    statement = state.statement
    if state.execution_options.get("portal_revision") or not isinstance(statement, (Insert, Update, Delete)):
        return
    if statement.table in _WATCHED_TABLES:
        state.session.info[_EVERYONE] = True


@event.listens_for(Session, "before_commit")
def _bump_for_bulk_statements(session: Session) -> None:
    """Once per transaction, however many bulk statements it ran: a sweep deletes in thousands of them."""
    if session.info.pop(_EVERYONE, False):
        bump(session, everyone=True)


@event.listens_for(Session, "after_transaction_end")
def _forget_bulk_statements(session: Session, transaction: SessionTransaction) -> None:
    if transaction.parent is None:  # rolled back or closed: nothing it wrote stays
        session.info.pop(_EVERYONE, None)


@dataclass(frozen=True)
class OverviewState:
    """What decides whether a session's overview can be served from its cache, read in one statement."""

    subject_id: int | None  # None: we hold no subject under the address
    revision: int
    generation: int | None  # None only if the row is missing: then nothing is cached
    seen_version: str | None  # the statement version this address last saw
    view_noted_at: dt.datetime | None  # when this session's last view of its overview was audited


def overview_state(session: Session, session_id: int) -> OverviewState:
    """The state of the overview of the person signed in through `session_id` (an `AuthSession` id)."""
    generation = select(OverviewGeneration.value).where(OverviewGeneration.id == 1).scalar_subquery()
    row = session.execute(
        select(Subject.id, Subject.revision, generation, StatementSeen.version, AuthSession.overview_noted_at)
        .select_from(AuthSession)
        .outerjoin(Subject, Subject.email == AuthSession.email)
        .outerjoin(StatementSeen, StatementSeen.email == AuthSession.email)
        .where(AuthSession.id == session_id)
    ).one()
    return OverviewState(subject_id=row[0], revision=row[1] or 0, generation=row[2], seen_version=row[3],
                         view_noted_at=row[4])
