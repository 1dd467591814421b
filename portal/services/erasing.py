"""Removing relations with what hangs on them: shared by the erasure request and the retention sweep."""

from __future__ import annotations

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from portal.models import Consent, Relation
from portal.policy.register import Register


def remove_relations(session: Session, register: Register, relation_ids: list[int]) -> int:
    """Delete these relations (their items go with them) and the consents to their purposes; how many went.

    A consent names a purpose of a kind of relation; it goes when the person has no relation of that
    kind left, so that no consent is shown as standing for a relation that no longer exists. Set-based,
    for the retention sweep's batches: one DELETE for the relations, one query for what is left, and one
    DELETE of consents per kind of relation.
    """
    if not relation_ids:
        return 0
    removed = session.execute(delete(Relation).where(Relation.id.in_(relation_ids))
                              .returning(Relation.subject_id, Relation.kind)).all()
    people = {subject_id for subject_id, _kind in removed}
    left = set(session.execute(select(Relation.subject_id, Relation.kind).where(Relation.subject_id.in_(people))))
    none_left: dict[str, set[int]] = {}
    for subject_id, kind in set(removed) - left:
        none_left.setdefault(kind, set()).add(subject_id)
    for kind, subject_ids in none_left.items():
        purposes = [p.id for p in register.purposes_of(kind)]
        session.execute(delete(Consent).where(Consent.subject_id.in_(subject_ids), Consent.purpose.in_(purposes)))
    return len(removed)
