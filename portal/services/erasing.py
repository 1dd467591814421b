"""Removing relations with what hangs on them: shared by the erasure request and the retention sweep."""

from __future__ import annotations

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from portal.models import Consent, Relation
from portal.policy.register import Register


def remove_relations(session: Session, register: Register, relation_ids: list[int]) -> int:
    """Delete these relations (their items go with them) and the consents to their purposes.

    A consent names a purpose of a kind of relation; it goes when the person has no relation of that
    kind left, so that no consent is shown as standing for a relation that no longer exists.
    """
    if not relation_ids:
        return 0
    removed = list(session.execute(select(Relation.subject_id, Relation.kind).where(Relation.id.in_(relation_ids))))
    session.execute(delete(Relation).where(Relation.id.in_(relation_ids)))
    for subject_id, kind in set(removed):
        still_held = session.scalar(select(Relation.id).where(Relation.subject_id == subject_id, Relation.kind == kind)
                                    .limit(1))
        if still_held is None:
            purposes = [p.id for p in register.purposes_of(kind)]
            session.execute(delete(Consent).where(Consent.subject_id == subject_id, Consent.purpose.in_(purposes)))
    return len(removed)
