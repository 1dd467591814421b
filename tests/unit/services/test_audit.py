"""The audit trail as an auditor checks it: a hash chain that names the first entry that was tampered with.

Every tampering below is done the way someone with database access would do it (tests/support/audit_trail.py):
lift the database's append-only guard (`audit_trail_unlocked`), change rows with plain SQL, commit. The check
then runs in a fresh session, as `flask verify-audit` does, so that nothing cached in the test's own session
can hide the change.
"""

from __future__ import annotations

import datetime as dt
import gc
import hashlib
import json
import warnings

import pytest
from sqlalchemy import delete, func, select, text, update
from sqlalchemy.exc import DBAPIError

from portal.models import AuditEntry, AuditHead, AuditPersonal
from portal.services import audit
from tests.support.audit_trail import (
    DPO_ACTOR,
    NOW,
    append_entry,
    change_details,
    insert_entry,
    remove_entry,
    remove_from_end,
    tamper,
    write_trail,
)
from tests.support.people import AN, BRAM
from tests.support.races import all_reach_then_go, run_together


@pytest.fixture(autouse=True)
def no_origin():
    """No client address unless a test sets one (a web request in the same thread may have left one)."""
    token = audit.origin.set(None)
    yield
    audit.origin.reset(token)


def verified(app) -> audit.Verification:
    """Verify in a session of its own, as the command does."""
    with app.extensions["portal.db"].session() as fresh:
        return audit.verify(fresh)


def entry_row(session, seq: int):
    return session.execute(text("SELECT * FROM audit_entry WHERE seq = :seq"), {"seq": seq}).one()


# --- a clean chain ----------------------------------------------------------------------------------------


def test_an_empty_trail_verifies(app):
    result = verified(app)
    assert result.intact and result.checked == 0 and result.head_hash == audit.GENESIS


def test_a_clean_chain_verifies_and_each_entry_follows_the_one_before(app, session):
    assert write_trail(session) == [1, 2, 3, 4, 5, 6]
    result = verified(app)
    assert result.intact and result.checked == 6 and result.problem is None
    rows = session.scalars(select(AuditEntry).order_by(AuditEntry.seq)).all()
    assert rows[0].prev_hash == audit.GENESIS
    assert [r.prev_hash for r in rows[1:]] == [r.entry_hash for r in rows[:-1]]
    head = session.get(AuditHead, 1)
    assert (head.seq, head.entry_hash) == (6, rows[-1].entry_hash) and result.head_hash == rows[-1].entry_hash
    # The hash is the one the documentation tells an auditor to recompute, from the stored row alone.
    row = entry_row(session, 4)
    content = json.dumps([4, NOW.replace(minute=3).isoformat(), "person", "overview_viewed", None, '{"n":3}',
                          row.personal_digest], ensure_ascii=False, sort_keys=True, separators=(",", ":"))
    assert row.entry_hash == hashlib.sha256(f"{rows[2].entry_hash}\n{content}".encode()).hexdigest()


# --- tampering is found, and the first broken entry is named -------------------------------------------


def test_a_changed_entry_is_named(app, session):
    write_trail(session)
    change_details(session, 3)
    result = verified(app)
    assert (result.broken_at, result.checked) == (3, 2)
    assert result.problem == "entry 3 was changed"


@pytest.mark.parametrize(("column", "value"), [
    ("actor", "system"), ("action", "overview_downloaded"), ("target", "request:2"),
    ("at", dt.datetime(2026, 11, 25, 9, 2)), ("personal_digest", "0" * 64),
])
def test_any_changed_column_of_an_entry_is_found(app, session, column, value):
    write_trail(session)
    tamper(session, update(AuditEntry).where(AuditEntry.seq == 2).values({column: value}))
    assert verified(app).broken_at == 2


def rehashed(entry: AuditEntry, **changes) -> AuditEntry:
    """A detached copy of an entry with `changes`, and the hash that would make it look untouched."""
    columns = ("seq", "at", "actor", "action", "target", "details", "personal_digest", "prev_hash")
    copy = AuditEntry(**{**{c: getattr(entry, c) for c in columns}, **changes})
    copy.entry_hash = audit.entry_hash(copy.prev_hash, copy)
    return copy


def test_a_changed_entry_whose_hash_was_recomputed_breaks_the_link_to_the_next(app, session):
    write_trail(session)
    kept_head = verified(app).head_hash
    session.expire_all()
    changed = rehashed(session.get(AuditEntry, 3), details='{"n":999}')
    tamper(session, update(AuditEntry).where(AuditEntry.seq == 3)
           .values(details=changed.details, entry_hash=changed.entry_hash))
    result = verified(app)
    assert result.broken_at == 4
    assert result.problem == "entry 4 does not follow entry 3: one was inserted or changed"
    # Rewriting every later entry and the head too makes the chain whole again: only a head hash kept
    # elsewhere (as the command advises) shows it.
    prev = changed.entry_hash
    for seq in (4, 5, 6):
        session.expire_all()
        entry = rehashed(session.get(AuditEntry, seq), prev_hash=prev)
        tamper(session, update(AuditEntry).where(AuditEntry.seq == seq)
               .values(prev_hash=entry.prev_hash, entry_hash=entry.entry_hash))
        prev = entry.entry_hash
    tamper(session, update(AuditHead).values(entry_hash=prev))
    rewritten = verified(app)
    assert rewritten.intact and rewritten.checked == 6 and rewritten.head_hash != kept_head


def test_a_removed_entry_in_the_middle_is_named(app, session):
    write_trail(session)
    remove_entry(session, 4)
    result = verified(app)
    assert (result.broken_at, result.checked) == (4, 3)
    assert result.problem == "entry 4 is missing"


def test_an_entry_inserted_after_a_real_one_breaks_the_link_to_the_next(app, session):
    write_trail(session)
    insert_entry(session, 3)
    assert session.scalar(select(func.count()).select_from(AuditEntry)) == 7
    result = verified(app)
    # The forged entry 3 is well formed and follows entry 2; the real entry (now 4) no longer follows it.
    assert (result.broken_at, result.checked) == (4, 3)
    assert result.problem == "entry 4 does not follow entry 3: one was inserted or changed"


def test_an_entry_inserted_with_a_forged_predecessor_is_named_itself(app, session):
    write_trail(session)
    insert_entry(session, 3, prev_hash="f" * 64)
    result = verified(app)
    assert (result.broken_at, result.checked) == (3, 2)
    assert result.problem == "entry 3 does not follow entry 2: one was inserted or changed"


def test_entries_removed_from_the_end_are_found_through_the_head(app, session):
    write_trail(session)
    remove_from_end(session, keep=4)
    result = verified(app)
    assert (result.broken_at, result.checked) == (5, 4)
    assert "ends at entry 4 but its head names entry 6" in result.problem


def test_a_changed_head_is_found(app, session):
    write_trail(session)
    tamper(session, ("UPDATE audit_head SET entry_hash = :h", {"h": "a" * 64}))
    result = verified(app)
    assert not result.intact and result.checked == 6
    assert "the head was changed" in result.problem


def test_an_entry_appended_without_the_head_is_named(app, session):
    write_trail(session)
    append_entry(session)
    result = verified(app)
    assert result.broken_at == 7  # the first entry the head does not cover
    assert "the chain ends at entry 7 but its head names entry 6" in result.problem


def test_verify_closes_its_cursor_when_it_stops_early(app, session, request):
    write_trail(session)
    change_details(session, 3)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with app.extensions["portal.db"].session() as fresh:
            assert audit.verify(fresh).broken_at == 3
        gc.collect()
    assert [str(w.message) for w in caught if issubclass(w.category, ResourceWarning)] == []


def test_a_changed_personal_part_is_named(app, session):
    write_trail(session)
    tamper(session, ("UPDATE audit_personal SET subject_email = :e WHERE seq = 4", {"e": BRAM}))
    result = verified(app)
    assert (result.broken_at, result.checked) == (4, 3)
    assert result.problem == "the personal part of entry 4 was changed"


def test_a_changed_client_address_in_a_personal_part_is_named(app, session):
    write_trail(session)
    tamper(session, ("UPDATE audit_personal SET data = :d WHERE seq = 2", {"d": '{"ip":"203.0.113.9"}'}))
    assert verified(app).broken_at == 2


def test_a_person_attributed_afterwards_to_an_entry_is_found(app, session):
    write_trail(session)
    session.add(AuditPersonal(seq=3, subject_email=AN, data="{}", salt="00" * 16))
    session.commit()
    result = verified(app)
    assert result.broken_at == 3 and result.problem == "the personal part of entry 3 was changed"


# --- personal data apart, and removable ----------------------------------------------------------------


@pytest.mark.clause("1.care")
def test_record_keeps_whose_data_and_the_client_address_out_of_the_entry(app, session):
    token = audit.origin.set("198.51.100.23")
    try:
        seq = audit.record(session, actor=audit.PERSON, action="overview_viewed", now=NOW, target="request:7",
                           details={"right": "access"}, subject_email=AN, personal={"device": "laptop"})
    finally:
        audit.origin.reset(token)
    session.commit()
    stored = " ".join(str(value) for value in entry_row(session, seq))
    for personal in (AN, "an.peeters", "198.51.100.23", "laptop"):
        assert personal not in stored
    part = session.get(AuditPersonal, seq)
    assert part.subject_email == AN
    assert json.loads(part.data) == {"device": "laptop", "from": "198.51.100.23"}
    entry = session.get(AuditEntry, seq)
    assert entry.personal_digest == audit.personal_digest(part.salt, AN, part.data)
    # Salted: the digest does not confirm a guess of the address without the salt.
    assert entry.personal_digest not in {hashlib.sha256(AN.encode()).hexdigest(),
                                         audit.personal_digest("", AN, part.data)}
    assert verified(app).intact


def test_the_same_person_twice_gives_two_different_digests(session):
    first = audit.record(session, actor=audit.PERSON, action="signed_in", now=NOW, subject_email=AN)
    second = audit.record(session, actor=audit.PERSON, action="signed_in", now=NOW, subject_email=AN)
    session.commit()
    digests = {session.get(AuditEntry, seq).personal_digest for seq in (first, second)}
    assert len(digests) == 2 and None not in digests


def test_an_entry_about_nobody_has_no_personal_part(session):
    seq = audit.record(session, actor=DPO_ACTOR, action="queue_exported", now=NOW, details={"state": "open"})
    session.commit()
    assert session.get(AuditPersonal, seq) is None
    assert session.get(AuditEntry, seq).personal_digest is None


def test_forget_removes_a_persons_parts_and_the_chain_still_verifies(app, session):
    write_trail(session)
    assert audit.forget(session, AN) == 2
    session.commit()
    assert session.scalars(select(AuditPersonal.seq).order_by(AuditPersonal.seq)).all() == [2, 5]
    everything = " ".join(
        str(value) for table in ("audit_entry", "audit_personal")
        for row in session.execute(text(f"SELECT * FROM {table}")) for value in row)  # noqa: S608
    for gone in (AN, "192.0.2.1\"", "192.0.2.4"):
        assert gone not in everything
    assert BRAM in everything  # only hers went
    assert session.scalars(select(AuditEntry.action).where(AuditEntry.seq.in_([1, 4]))).all() == [
        "overview_viewed", "overview_viewed"]  # what happened stays; to whom does not
    assert audit.entries_about(session, AN) == []
    result = verified(app)
    assert result.intact and result.checked == 6


def test_forget_removes_the_parts_of_several_addresses_at_once(app, session):
    write_trail(session)
    assert audit.forget(session, [AN, BRAM, "nobody@example.com"]) == 4
    assert audit.forget(session, []) == 0
    session.commit()
    assert session.scalars(select(AuditPersonal.seq)).all() == []
    result = verified(app)
    assert result.intact and result.checked == 6


def test_a_forgotten_person_cannot_be_attached_again_by_guessing(app, session):
    write_trail(session)
    audit.forget(session, AN)
    session.commit()
    session.add(AuditPersonal(seq=1, subject_email=AN, data='{"ip":"192.0.2.1"}', salt="ab" * 16))
    session.commit()
    assert verified(app).broken_at == 1


# --- the database itself refuses changes ---------------------------------------------------------------


@pytest.mark.parametrize("statement", [
    update(AuditEntry).where(AuditEntry.seq == 3).values(details='{"n":999}'),
    update(AuditEntry).values(actor="system"),
    delete(AuditEntry).where(AuditEntry.seq == 3),
    delete(AuditEntry).where(AuditEntry.seq > 1),
], ids=["update-one", "update-all", "delete-one", "delete-tail"])
def test_the_database_refuses_to_change_or_remove_an_entry(app, session, statement):
    write_trail(session)
    with pytest.raises(DBAPIError, match="append-only"):
        session.execute(statement)
        session.flush()
    session.rollback()
    result = verified(app)
    assert result.intact and result.checked == 6
    assert session.scalar(select(AuditEntry.details).where(AuditEntry.seq == 3)) == '{"n":2}'


def test_the_database_refuses_to_empty_the_trail(app, session, request):
    """TRUNCATE on PostgreSQL (DELETE on SQLite, which has no TRUNCATE) would wipe the trail in one go."""
    write_trail(session)
    postgres = session.get_bind().dialect.name == "postgresql"
    refused = False
    try:
        session.execute(text("TRUNCATE audit_entry CASCADE" if postgres else "DELETE FROM audit_entry"))
        session.commit()
    except DBAPIError:
        session.rollback()
        refused = True
    assert refused
    assert verified(app).checked == 6


# --- concurrent appends --------------------------------------------------------------------------------


def test_concurrent_appends_make_one_unbroken_chain(app, session):
    database = app.extensions["portal.db"]
    postgres = database.engine.dialect.name == "postgresql"
    threads, each = (8, 10) if postgres else (4, 5)

    def append(worker: int) -> list[int]:
        seqs = []
        with database.sessions() as own:
            for index in range(each):
                seqs.append(audit.record(own, actor=audit.PERSON, action="overview_viewed", now=NOW,
                                         details={"worker": worker, "index": index},
                                         subject_email=f"person{worker}@example.com"))
                own.commit()
        return seqs

    with all_reach_then_go(database.engine, threads, lambda sql: sql.startswith("UPDATE audit_head")):
        results = run_together(threads, append)
    assert not [r for r in results if isinstance(r, BaseException)], results
    total = threads * each
    assert sorted(seq for seqs in results for seq in seqs) == list(range(1, total + 1))
    result = verified(app)
    assert result.intact and result.checked == total
    written = {tuple(sorted(json.loads(d).items())) for d in session.scalars(select(AuditEntry.details))}
    assert written == {(("index", i), ("worker", w)) for w in range(threads) for i in range(each)}
    for worker, seqs in enumerate(results):  # each worker's own entries are in its own order
        assert seqs == sorted(seqs)
        assert {e.seq for e in audit.entries_about(session, f"person{worker}@example.com", limit=100)} == set(seqs)


def test_record_many_appends_in_order_between_single_entries_and_the_chain_verifies(app, session):
    first = audit.record(session, actor=audit.PERSON, action="signed_in", now=NOW, subject_email=AN)
    many = audit.record_many(session, [
        audit.Entry({"erased": 3}, subject_email=AN, personal={"ip": "192.0.2.1"}),
        audit.Entry({"erased": 2}),  # about someone removed entirely: no personal part
        audit.Entry({"erased": 1}, subject_email=BRAM, target="relation:7"),
    ], actor=audit.SYSTEM, action="retention_erased", now=NOW)
    last = audit.record(session, actor=audit.PERSON, action="signed_in", now=NOW, subject_email=BRAM)
    session.commit()
    assert (first, list(many), last) == (1, [2, 3, 4], 5)
    result = verified(app)
    assert result.intact and result.checked == 5
    rows = session.scalars(select(AuditEntry).order_by(AuditEntry.seq)).all()
    assert [r.prev_hash for r in rows[1:]] == [r.entry_hash for r in rows[:-1]]
    assert [(r.action, r.target, json.loads(r.details)) for r in rows[1:4]] == [
        ("retention_erased", None, {"erased": 3}), ("retention_erased", None, {"erased": 2}),
        ("retention_erased", "relation:7", {"erased": 1})]
    assert session.get(AuditHead, 1).seq == 5 and result.head_hash == rows[-1].entry_hash
    parts = {p.seq: (p.subject_email, json.loads(p.data)) for p in session.scalars(select(AuditPersonal))}
    assert parts == {1: (AN, {}), 2: (AN, {"ip": "192.0.2.1"}), 4: (BRAM, {}), 5: (BRAM, {})}
    assert rows[2].personal_digest is None
    # Each person reads their own entry among the company's entries about them.
    assert [(e.seq, e.details) for e in audit.entries_about(session, AN, by_company_only=True)] == [
        (2, {"erased": 3})]
    assert [e.seq for e in audit.entries_about(session, BRAM)] == [5, 4]


def test_record_many_of_nothing_writes_nothing(app, session):
    write_trail(session, count=2)
    assert list(audit.record_many(session, [], actor=audit.SYSTEM, action="retention_erased", now=NOW)) == []
    session.commit()
    assert session.get(AuditHead, 1).seq == 2 and verified(app).checked == 2


def test_record_many_keeps_whose_data_and_the_client_address_out_of_the_entries(app, session):
    token = audit.origin.set("198.51.100.23")
    try:
        seqs = audit.record_many(session, [audit.Entry({"n": 1}, subject_email=AN), audit.Entry({"n": 2})],
                                 actor=DPO_ACTOR, action="data_erased", now=NOW)
    finally:
        audit.origin.reset(token)
    session.commit()
    for seq in seqs:
        stored = " ".join(str(value) for value in entry_row(session, seq))
        assert AN not in stored and "198.51.100.23" not in stored
    parts = [(p.subject_email, json.loads(p.data)) for p in session.scalars(select(AuditPersonal)
                                                                             .order_by(AuditPersonal.seq))]
    assert parts == [(AN, {"from": "198.51.100.23"}), (None, {"from": "198.51.100.23"})]
    assert verified(app).intact


def test_concurrent_bulk_and_single_appends_make_one_unbroken_chain(app, session):
    """The head's row lock orders `record_many` like `record`: each bulk append gets consecutive numbers."""
    database = app.extensions["portal.db"]
    threads, each = (6, 4) if database.engine.dialect.name == "postgresql" else (3, 3)

    def append(worker: int) -> tuple[list[int], int]:
        with database.sessions() as own:
            email = f"person{worker}@example.com"
            bulk = audit.record_many(own, [audit.Entry({"worker": worker, "index": i}, subject_email=email)
                                           for i in range(each)], actor=audit.SYSTEM, action="retention_erased",
                                     now=NOW)
            own.commit()
            single = audit.record(own, actor=audit.PERSON, action="signed_in", now=NOW, subject_email=email)
            own.commit()
        return list(bulk), single

    with all_reach_then_go(database.engine, threads, lambda sql: sql.startswith("UPDATE audit_head")):
        results = run_together(threads, append)
    assert not [r for r in results if isinstance(r, BaseException)], results
    total = threads * (each + 1)
    assert sorted(seq for bulk, single in results for seq in [*bulk, single]) == list(range(1, total + 1))
    for bulk, single in results:
        assert bulk == list(range(bulk[0], bulk[0] + each)) and single > bulk[-1]
    result = verified(app)
    assert result.intact and result.checked == total


def test_an_append_rolled_back_leaves_no_gap(app, session):
    write_trail(session, count=2)
    audit.record(session, actor=audit.SYSTEM, action="mail_retried", now=NOW)
    session.rollback()
    assert audit.record(session, actor=audit.SYSTEM, action="mail_retried", now=NOW) == 3
    session.commit()
    assert verified(app).checked == 3


# --- entries about a person ----------------------------------------------------------------------------


def test_entries_about_a_person_are_theirs_only_newest_first(session):
    write_trail(session)  # An: 1 and 4; Bram: 2 and 5
    staff = audit.record(session, actor=DPO_ACTOR, action="request_viewed", now=NOW, target="request:1",
                         subject_email=AN)
    system = audit.record(session, actor=audit.SYSTEM, action="sessions_ended", now=NOW, subject_email=AN)
    session.commit()
    assert [e.seq for e in audit.entries_about(session, AN)] == [system, staff, 4, 1]
    assert [e.seq for e in audit.entries_about(session, BRAM)] == [5, 2]
    assert [e.seq for e in audit.entries_about(session, AN, limit=2)] == [system, staff]
    company = audit.entries_about(session, AN, by_company_only=True)
    assert [(e.seq, e.actor, e.by_staff) for e in company] == [(system, "system", False), (staff, DPO_ACTOR, True)]
    assert company[1].details == {} and company[1].target == "request:1"
    assert audit.entries_about(session, "nobody@example.com") == []


def test_an_address_is_matched_exactly(session):
    audit.record(session, actor=audit.PERSON, action="signed_in", now=NOW, subject_email="an@example.com")
    audit.record(session, actor=audit.PERSON, action="signed_in", now=NOW, subject_email="joan@example.com")
    session.commit()
    assert [e.seq for e in audit.entries_about(session, "an@example.com")] == [1]
