"""An audit trail to check, and the ways someone with database access would tamper with it.

Shared by the audit service's tests and the `verify-audit` command's: `write_trail` writes a few entries,
each tampering lifts the database's append-only guard (`audit_trail_unlocked`), changes rows and commits.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import delete, insert, select, text, update

from portal.models import AuditEntry, AuditPersonal
from portal.services import audit
from tests.conftest import audit_trail_unlocked
from tests.support.people import AN, BRAM, DPO

NOW = dt.datetime(2026, 11, 25, 9, 0, 0, 123456)  # microseconds too: they are part of what is hashed
DPO_ACTOR = audit.staff_actor(DPO)  # the data protection manager as the trail names them


def write_trail(session, count: int = 6) -> list[int]:
    """Entries 1, 4, ... about An, 2, 5, ... about Bram (with a client address), 3, 6, ... by the system."""
    seqs = []
    for index in range(count):
        who = (AN, BRAM, None)[index % 3]
        seqs.append(audit.record(
            session, actor=audit.PERSON if who else audit.SYSTEM, action="overview_viewed" if who else "mail_retried",
            now=NOW + dt.timedelta(minutes=index), target=None if who else f"mail:{index}", details={"n": index},
            subject_email=who, personal={"ip": f"192.0.2.{index + 1}"} if who else None,
        ))
    session.commit()
    return seqs


def tamper(session, *statements) -> None:
    """Run plain SQL (text and parameters) or SQLAlchemy statements with the guard lifted, and commit."""
    with audit_trail_unlocked(session):
        for statement in statements:
            if isinstance(statement, tuple):
                session.execute(text(statement[0]), statement[1])
            else:
                session.execute(statement)
    session.commit()


def change_details(session, seq: int) -> None:
    tamper(session, ("UPDATE audit_entry SET details = :details WHERE seq = :seq",
                     {"details": '{"n":999}', "seq": seq}))


def remove_entry(session, seq: int) -> None:
    tamper(session, ("DELETE FROM audit_personal WHERE seq = :seq", {"seq": seq}),
           ("DELETE FROM audit_entry WHERE seq = :seq", {"seq": seq}))


def remove_from_end(session, keep: int) -> None:
    tamper(session, ("DELETE FROM audit_personal WHERE seq > :keep", {"keep": keep}),
           ("DELETE FROM audit_entry WHERE seq > :keep", {"keep": keep}))


def append_entry(session) -> None:
    """A well-formed entry after the last one, written without moving the head (plain INSERTs are allowed)."""
    session.expire_all()
    last = session.scalar(select(AuditEntry).order_by(AuditEntry.seq.desc()).limit(1))
    extra = AuditEntry(seq=last.seq + 1, at=NOW + dt.timedelta(hours=1), actor=DPO_ACTOR, action="data_erased",
                       target=None, details="{}", prev_hash=last.entry_hash, entry_hash="")
    extra.entry_hash = audit.entry_hash(extra.prev_hash, extra)
    session.add(extra)
    session.commit()


def insert_entry(session, at: int, *, prev_hash: str | None = None) -> None:
    """Put a made-up entry at number `at`, moving the later ones (and their personal parts) one up.

    The made-up entry is well formed: its hash is right for its content and for `prev_hash`, which is
    by default the real hash of the entry before it (the best a forger without the rest can do).
    """
    session.expire_all()
    parts = [(p.seq, p.subject_email, p.data, p.salt)
             for p in session.scalars(select(AuditPersonal).where(AuditPersonal.seq >= at))]
    before = session.scalar(select(AuditEntry.entry_hash).where(AuditEntry.seq == at - 1)) or audit.GENESIS
    forged = AuditEntry(seq=at, at=NOW + dt.timedelta(seconds=30), actor=DPO_ACTOR, action="data_erased",
                        target="request:1", details='{"items_erased":0}', prev_hash=prev_hash or before,
                        entry_hash="")
    forged.entry_hash = audit.entry_hash(forged.prev_hash, forged)
    with audit_trail_unlocked(session):
        session.execute(delete(AuditPersonal).where(AuditPersonal.seq >= at))
        # In two steps: a key moved onto a neighbour's number would collide in the middle of one UPDATE.
        session.execute(update(AuditEntry).where(AuditEntry.seq >= at).values(seq=AuditEntry.seq + 1000000))
        session.execute(update(AuditEntry).where(AuditEntry.seq >= 1000000).values(seq=AuditEntry.seq - 999999))
        session.execute(insert(AuditEntry).values(
            seq=forged.seq, at=forged.at, actor=forged.actor, action=forged.action, target=forged.target,
            details=forged.details, personal_digest=None, prev_hash=forged.prev_hash, entry_hash=forged.entry_hash))
        for seq, email, data, salt in parts:
            session.add(AuditPersonal(seq=seq + 1, subject_email=email, data=data, salt=salt))
        session.flush()
    session.commit()
