"""Which versions of the statement a person has not seen yet: told once, on their next visit."""

from __future__ import annotations

import datetime as dt

from sqlalchemy.orm import Session

from portal.models import StatementSeen
from portal.policy.register import Statement, Version


def unseen_changes(session: Session, email: str, statement: Statement, *, now: dt.datetime) -> list[Version]:
    """The versions since the one this address last saw, and remember that it has now seen the current one.

    A first visit has nothing to catch up on; a later visit under a newer version gets the summaries of
    every version after the one it saw, once. The caller commits (with whatever else the visit writes).
    """
    seen = session.get(StatementSeen, email)
    changes: list[Version] = []
    if seen is None:
        session.add(StatementSeen(email=email, version=statement.version, seen_at=now))
    elif seen.version != statement.version:
        changes = statement.changes_since(seen.version)
        seen.version, seen.seen_at = statement.version, now
    return changes
