"""The audit trail: an append-only, hash-chained log of who did what to whose data, when, from where.

Each entry's hash is the SHA-256 of the previous entry's hash and the entry's own content, so that a
changed, removed or inserted entry breaks the chain from that point (`verify`). The end of the chain
(`AuditHead`) is a single row that every append updates first: that row lock puts concurrent appends
in one order, on SQLite and on PostgreSQL alike, and it also makes removing the last entries visible.

Personal data (whose data, the client address) are not in the entry: they are in `AuditPersonal`,
which the entry covers only through `personal_digest`, a salted SHA-256. Erasing a person deletes
their personal rows (`forget`); their entries stay, say what happened without saying to whom, and
still verify. The salt is deleted with the data, so the digest cannot be used to confirm a guess.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import secrets
from collections.abc import Collection, Sequence
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Select, bindparam, delete, insert, select, update
from sqlalchemy.orm import Session

from portal.models import AuditEntry, AuditHead, AuditPersonal

GENESIS = "0" * 64  # the "previous hash" of the first entry
PERSON, SYSTEM = "person", "system"
# Where the current action comes from (the client's address), set by the web layer for each request so
# that every entry says "from where" without every service having to be told.
origin: ContextVar[str | None] = ContextVar("audit_origin", default=None)


def staff_actor(email: str) -> str:
    """How a staff member appears in request histories and the audit trail."""
    return f"staff:{email}"


def _canonical(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, sort_keys=True, separators=(",", ":"))


def personal_digest(salt: str, subject_email: str | None, data: str) -> str:
    return hashlib.sha256(f"{salt}\n{subject_email or ''}\n{data}".encode()).hexdigest()


def entry_hash(prev_hash: str, entry: AuditEntry) -> str:
    """The hash an entry must carry, from its predecessor's hash and its own content."""
    return _hash(prev_hash, entry.seq, entry.at, entry.actor, entry.action, entry.target, entry.details,
                 entry.personal_digest)


def _hash(prev_hash: str, seq: int, at: dt.datetime, actor: str, action: str, target: str | None, details: str,
          digest: str | None) -> str:
    content = _canonical([seq, at.isoformat(), actor, action, target, details, digest])
    return hashlib.sha256(f"{prev_hash}\n{content}".encode()).hexdigest()


@dataclass(frozen=True)
class Entry:
    """One entry for `record_many`: what `record` takes besides the actor, the action and the time."""

    details: dict[str, Any] = field(default_factory=dict)
    subject_email: str | None = None
    target: str | None = None
    personal: dict[str, Any] | None = None


def _chained(seq: int, prev_hash: str, entry: Entry, *, actor: str, action: str, now: dt.datetime
             ) -> tuple[dict[str, Any], dict[str, Any] | None]:
    """The columns of entry number `seq` after the entry hashed `prev_hash`, and of its personal part, if any."""
    details, personal, part, digest = _canonical(entry.details), entry.personal, None, None
    where = origin.get()
    if where is not None:
        personal = {**(personal or {}), "from": where}
    if entry.subject_email is not None or personal:
        data, salt = _canonical(personal or {}), secrets.token_hex(16)
        part = {"seq": seq, "subject_email": entry.subject_email, "data": data, "salt": salt}
        digest = personal_digest(salt, entry.subject_email, data)
    row = {"seq": seq, "at": now, "actor": actor, "action": action, "target": entry.target, "details": details,
           "personal_digest": digest, "prev_hash": prev_hash,
           "entry_hash": _hash(prev_hash, seq, now, actor, action, entry.target, details, digest)}
    return row, part


def record(
    session: Session, *, actor: str, action: str, now: dt.datetime, target: str | None = None,
    details: dict[str, Any] | None = None, subject_email: str | None = None, personal: dict[str, Any] | None = None,
) -> int:
    """Append one entry in the caller's transaction (committed with the action it records); its number.

    `details` must hold no personal data: they stay forever. Whose data it was (`subject_email`) and
    anything else personal (`personal`, such as the client address) go in the removable part.
    """
    return record_many(session, [Entry(details or {}, subject_email, target, personal)], actor=actor, action=action,
                       now=now)[0]


# Built once: almost every request that changes something appends an entry.
_RESERVE = (update(AuditHead).where(AuditHead.id == 1).values(seq=AuditHead.seq + bindparam("count"))
            .returning(AuditHead.seq, AuditHead.entry_hash))
_MOVE_HEAD = update(AuditHead).where(AuditHead.id == 1).values(entry_hash=bindparam("entry_hash"))
# render_nulls: every row names the same columns, so each table takes one executemany, in order.
_INSERT_ENTRIES = insert(AuditEntry).execution_options(render_nulls=True)
_INSERT_PARTS = insert(AuditPersonal).execution_options(render_nulls=True)


def record_many(session: Session, entries: Sequence[Entry], *, actor: str, action: str, now: dt.datetime
                ) -> range:
    """Append `entries` in this order, as that many `record` calls would, in at most four statements; their numbers.

    Each entry's details and personal part follow the rules of `record`. One UPDATE of the head reserves
    the numbers (its row lock orders this append against every other, as for one entry), the entries and
    their personal parts go in one executemany each, and the head moves to the last hash. The retention
    sweep writes an entry per person this way: one entry at a time costs four round trips each, and a
    sweep writes tens of thousands of entries.
    """
    if not entries:
        return range(0)
    last, prev = session.execute(_RESERVE, {"count": len(entries)}).one()
    numbers = range(last - len(entries) + 1, last + 1)
    rows, parts = [], []
    for seq, entry in zip(numbers, entries, strict=True):
        row, part = _chained(seq, prev, entry, actor=actor, action=action, now=now)
        rows.append(row)
        if part is not None:
            parts.append(part)
        prev = row["entry_hash"]
    session.execute(_INSERT_ENTRIES, rows)
    if parts:
        session.execute(_INSERT_PARTS, parts)
    session.execute(_MOVE_HEAD, {"entry_hash": prev})
    return numbers


def forget(session: Session, subject_email: str | Collection[str]) -> int:
    """Remove the personal parts of every entry about one address, or several (erasure); how many went.

    The entries themselves stay, and the chain still verifies.
    """
    emails = [subject_email] if isinstance(subject_email, str) else list(subject_email)
    if not emails:
        return 0
    result = session.execute(delete(AuditPersonal).where(AuditPersonal.subject_email.in_(emails)))
    return int(result.rowcount)  # type: ignore[attr-defined]


@dataclass(frozen=True)
class Verification:
    checked: int
    head_hash: str
    broken_at: int | None = None  # the number of the first entry that does not verify
    problem: str | None = None

    @property
    def intact(self) -> bool:
        return self.broken_at is None


def verify(session: Session, *, batch: int = 5000) -> Verification:
    """Walk the whole chain in order and name the first entry that does not verify, and why."""
    head = session.get(AuditHead, 1)
    rows = session.execute(
        select(AuditEntry, AuditPersonal).outerjoin(AuditPersonal, AuditPersonal.seq == AuditEntry.seq)
        .order_by(AuditEntry.seq).execution_options(yield_per=batch)
    )
    try:
        return _walk(rows, head)
    finally:
        rows.close()  # a verdict before the end leaves a server-side cursor open otherwise


def _walk(rows: Any, head: AuditHead | None) -> Verification:
    expected_prev, expected_seq, checked = GENESIS, 1, 0
    for entry, part in rows:
        if entry.seq != expected_seq:
            problem = "missing" if entry.seq > expected_seq else "out of order"
            return _broken(checked, head, expected_seq, f"entry {expected_seq} is {problem}")
        if entry.prev_hash != expected_prev:
            return _broken(checked, head, entry.seq,
                           f"entry {entry.seq} does not follow entry {entry.seq - 1}: one was inserted or changed")
        if entry_hash(entry.prev_hash, entry) != entry.entry_hash:
            return _broken(checked, head, entry.seq, f"entry {entry.seq} was changed")
        if part is not None and personal_digest(part.salt, part.subject_email, part.data) != entry.personal_digest:
            return _broken(checked, head, entry.seq, f"the personal part of entry {entry.seq} was changed")
        expected_prev, expected_seq, checked = entry.entry_hash, entry.seq + 1, checked + 1
    if head is None or head.seq != checked or head.entry_hash != expected_prev:
        named = head.seq if head is not None else 0
        # Entries beyond the head were appended around it; entries missing up to the head were removed.
        end = checked
        if named < checked:  # entries appended around the head: the first it does not cover is the break
            checked, first = named, named + 1
        else:  # entries removed from the end (the first missing one), or the head itself changed
            first = checked + 1 if named > checked else checked
        return _broken(checked, head, first,
                       f"the chain ends at entry {end} but its head names entry {named}: entries were removed "
                       "from the end or appended without it, or the head was changed")
    return Verification(checked, expected_prev)


def _broken(checked: int, head: AuditHead | None, seq: int, problem: str) -> Verification:
    return Verification(checked, head.entry_hash if head is not None else "", seq, problem)


@dataclass(frozen=True)
class AuditLine:
    seq: int
    at: dt.datetime
    actor: str
    action: str
    target: str | None
    details: dict[str, Any]

    @property
    def by_staff(self) -> bool:
        return self.actor.startswith("staff:")


def entries_about(session: Session, subject_email: str | list[str] | Select[Any], *, limit: int = 50,
                  by_company_only: bool = False) -> list[AuditLine]:
    """The newest entries about one person (one address, all the addresses they had, or a statement that selects
    them); with `by_company_only`, those by staff or the system."""
    emails = [subject_email] if isinstance(subject_email, str) else subject_email
    query = (select(AuditEntry).join(AuditPersonal, AuditPersonal.seq == AuditEntry.seq)
             .where(AuditPersonal.subject_email.in_(emails)))
    if by_company_only:
        query = query.where(AuditEntry.actor != PERSON)
    return [
        AuditLine(e.seq, e.at, e.actor, e.action, e.target, json.loads(e.details))
        for e in session.scalars(query.order_by(AuditEntry.seq.desc()).limit(limit))
    ]
