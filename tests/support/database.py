"""The database behind the app's back: columns set directly, and a picture of every table to compare with later."""

from __future__ import annotations

from flask import Flask
from sqlalchemy import func, select, update

from portal.models import Base

# Tables that change beside the request under test (the mail sender's thread, a session's last activity)
# or only ever grow (the audit trail, a request's history): compared by their number of rows.
COUNTED_ONLY = frozenset({"outbox_mail", "auth_session", "audit_entry", "audit_personal", "request_event"})


def set_columns(session, model, where, **values) -> None:
    session.execute(update(model).where(where).values(**values))
    session.commit()


def snapshot(app: Flask) -> dict[str, object]:
    """Every row of every table (the number of rows for `COUNTED_ONLY`), in a stable order."""
    picture: dict[str, object] = {}
    with app.extensions["portal.db"].session() as session:
        for table in Base.metadata.sorted_tables:
            if table.name in COUNTED_ONLY:
                picture[table.name] = session.scalar(select(func.count()).select_from(table))
            else:
                picture[table.name] = sorted((tuple(row) for row in session.execute(select(table))), key=repr)
    return picture


def changed_tables(before: dict[str, object], after: dict[str, object]) -> list[str]:
    return [name for name in before if before[name] != after[name]]
