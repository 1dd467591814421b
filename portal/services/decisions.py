"""The data protection manager's decisions on a request, with their effects; sessions and failed mail.

Decisions move a request through `requests.change_status` (so the person's history and mail follow)
and, for erasure, rectification and restriction, change the data first, in the same transaction: a
request is never completed without its effect, nor an effect applied without its record. Every step
is in the audit trail.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import delete, func, select, update
from sqlalchemy.orm import Session, selectinload

from portal.models import DataItem, OutboxMail, Relation, RequestedChange, RightsRequest, Subject
from portal.policy import requests as lifecycle
from portal.policy.erasure import ErasureDecision, Kept, erasure_of
from portal.policy.register import Register
from portal.services import audit
from portal.services.erasing import remove_relations
from portal.services.overview import build_overview
from portal.services.requests import Notify, RequestRefused, change_status
from portal.services.signin import STAFF, end_all_sessions
from portal.services.subjects import item_fingerprint

REFUSAL_GROUNDS = ("manifestly_unfounded", "excessive")
FEE_MAX_CENTS = 100_000  # a "reasonable" fee: anything above 1,000 euro is a typing error, not a decision


@dataclass(frozen=True)
class Decision:
    """Everything a staff move needs besides the request: who, when, and how to tell the person."""

    actor: str  # "staff:<address>"
    register: Register
    today: dt.date
    now: dt.datetime
    notify: Notify | None
    sender_domain: str


def _open_request(session: Session, request_id: int) -> RightsRequest:
    request = session.get(RightsRequest, request_id)
    if request is None:
        raise RequestRefused("not_found")
    if request.status not in lifecycle.OPEN_STATES:
        raise RequestRefused("move_not_allowed")
    return request


def _move(session: Session, request_id: int, to: str, note: str | None, d: Decision) -> RightsRequest:
    return change_status(session, request_id, to=to, actor=d.actor, note=note, register=d.register, today=d.today,
                         now=d.now, notify=d.notify, sender_domain=d.sender_domain)


def start(session: Session, request_id: int, d: Decision) -> RightsRequest:
    return _move(session, request_id, lifecycle.IN_PROGRESS, None, d)


def ask(session: Session, request_id: int, question: str, d: Decision) -> RightsRequest:
    if not question.strip():
        raise RequestRefused("question_required")
    return _move(session, request_id, lifecycle.WAITING, question.strip(), d)


def extend(session: Session, request_id: int, reasons: str, d: Decision) -> RightsRequest:
    return _move(session, request_id, lifecycle.EXTENDED, reasons.strip(), d)


def refuse(session: Session, request_id: int, ground: str, reasons: str, d: Decision) -> RightsRequest:
    if ground not in REFUSAL_GROUNDS:
        raise RequestRefused("ground_required")
    if not reasons.strip():
        raise RequestRefused("reasons_required")
    request = _open_request(session, request_id)
    # Written before the move, which commits: the ground and the refusal are one transaction.
    audit.record(session, actor=d.actor, action="refusal_ground", now=d.now, target=f"request:{request_id}",
                 details={"ground": ground}, subject_email=request.email)
    return _move(session, request_id, lifecycle.REFUSED, reasons.strip(), d)


def ask_fee(session: Session, request_id: int, cents: int, reasons: str, d: Decision) -> RightsRequest:
    """A reasonable fee for a manifestly unfounded or excessive request (statement 2.4): the request waits."""
    if not 0 < cents <= FEE_MAX_CENTS:
        raise RequestRefused("fee_out_of_range")
    if not reasons.strip():
        raise RequestRefused("reasons_required")
    request = _open_request(session, request_id)
    if not lifecycle.can_move(request.status, lifecycle.WAITING):
        raise RequestRefused("move_not_allowed")  # before the fee is set: a refused move leaves nothing behind
    request.fee_cents = cents
    return _move(session, request_id, lifecycle.WAITING, reasons.strip(), d)


@dataclass(frozen=True)
class KeptGroup:
    relation: str
    category: str
    count: int
    kept: Kept
    until: dt.date | None


@dataclass(frozen=True)
class ErasurePlan:
    erased: int
    kept: list[KeptGroup]
    relations_removed: int = 0


def _scoped_relations(session: Session, request: RightsRequest) -> list[Relation]:
    query = select(Relation).join(Subject).where(Subject.email == request.email)
    kind, _sep, value = (request.scope or "all").partition(":")
    if kind == "relation":
        query = query.where(Relation.id == (int(value) if value.isdigit() else -1))
    return list(session.scalars(query.order_by(Relation.started, Relation.id)))


def erasure_plan(session: Session, request: RightsRequest, register: Register, today: dt.date
                 ) -> tuple[ErasurePlan, dict[tuple[int, str], ErasureDecision]]:
    """What completing an erasure request would erase and keep, per relation and category."""
    overview = {r.id: r for r in build_overview(session, request.email, register=register).relations}
    decisions: dict[tuple[int, str], ErasureDecision] = {}
    erased, kept = 0, []
    for relation in _scoped_relations(session, request):
        view = overview[relation.id]
        counts = dict(session.execute(
            select(DataItem.category, func.count()).where(DataItem.relation_id == relation.id)
            .group_by(DataItem.category)
        ).all())
        for category, count in counts.items():
            decision = erasure_of(register, relation.kind, category, relation_running=relation.ended is None,
                                  kept_until=view.kept_until_for(category), today=today)
            decisions[(relation.id, category)] = decision
            if decision.kept is None:
                erased += count
            else:
                kept.append(KeptGroup(relation.kind, category, count, decision.kept, decision.until))
    return ErasurePlan(erased=erased, kept=kept), decisions


def complete(
    session: Session, request_id: int, message: str, d: Decision, *, approved_changes: set[int] | None = None,
) -> tuple[RightsRequest, ErasurePlan | None]:
    """Complete a request, carrying out what it asks first: erase, rectify or restrict."""
    request = _open_request(session, request_id)
    plan = None
    if request.right == "erasure":
        plan = _erase(session, request, d)
    elif request.right == "rectification":
        _rectify(session, request, approved_changes or set(), d)
    elif request.right == "restriction":
        _restrict(session, request, d)
    completed = _move(session, request_id, lifecycle.COMPLETED, message.strip() or None, d)
    if plan is not None and not session.scalar(select(func.count()).select_from(Relation).join(Subject)
                                               .where(Subject.email == request.email)):
        # Nothing left: the audit trail keeps what happened, no longer to whom (after the entries this
        # completion wrote, so that they lose the address too).
        audit.forget(session, request.email)
        session.commit()
    return completed, plan


def _erase(session: Session, request: RightsRequest, d: Decision) -> ErasurePlan:
    plan, decisions = erasure_plan(session, request, d.register, d.today)
    empty: list[int] = []
    for relation in _scoped_relations(session, request):
        erase = [category for (rid, category), decision in decisions.items() if rid == relation.id and decision.erased]
        if erase:
            session.execute(delete(DataItem).where(DataItem.relation_id == relation.id, DataItem.category.in_(erase)))
        if not any(rid == relation.id and not decision.erased for (rid, _c), decision in decisions.items()):
            empty.append(relation.id)  # nothing left under it: the relation itself is personal data too
    removed = remove_relations(session, d.register, empty)
    session.flush()
    remaining = session.scalar(select(func.count()).select_from(Relation).join(Subject)
                               .where(Subject.email == request.email)) or 0
    if remaining == 0:
        session.execute(update(Subject).where(Subject.email == request.email).values(name=None))
    audit.record(session, actor=d.actor, action="data_erased", now=d.now, target=f"request:{request.id}",
                 details={"items_erased": plan.erased, "relations_removed": removed,
                          "kept": [{"relation": k.relation, "category": k.category, "items": k.count,
                                    "reason": k.kept.value} for k in plan.kept]},
                 subject_email=request.email)
    return ErasurePlan(plan.erased, plan.kept, removed)


def _rectify(session: Session, request: RightsRequest, approved: set[int], d: Decision) -> None:
    changes = list(session.scalars(select(RequestedChange).where(RequestedChange.request_id == request.id)))
    applied = 0
    for change in changes:
        change.decision = "approved" if change.id in approved else "rejected"
        if change.decision != "approved" or change.data_item_id is None:
            continue
        item = session.get(DataItem, change.data_item_id)
        if item is None:
            continue
        item.value = change.new_value
        item.fingerprint = item_fingerprint(item.category, item.field, item.value, item.source, item.recorded)
        applied += 1
    audit.record(session, actor=d.actor, action="data_rectified", now=d.now, target=f"request:{request.id}",
                 details={"values_changed": applied, "proposals": len(changes)}, subject_email=request.email)


def _restrict(session: Session, request: RightsRequest, d: Decision) -> None:
    relations = _scoped_relations(session, request)
    for relation in relations:
        relation.restricted_since = relation.restricted_since or d.today
    audit.record(session, actor=d.actor, action="data_restricted", now=d.now, target=f"request:{request.id}",
                 details={"relations": len(relations)}, subject_email=request.email)


def request_with_history(session: Session, request_id: int) -> RightsRequest | None:
    return session.scalar(
        select(RightsRequest).where(RightsRequest.id == request_id)
        .options(selectinload(RightsRequest.events), selectinload(RightsRequest.changes))
    )


# --- sessions and mail ---------------------------------------------------------------------------------

def end_person_sessions(session: Session, email: str, d: Decision) -> int:
    """End every session of a person, e.g. on a suspected account takeover; recorded in the audit trail."""
    count = end_all_sessions(session, email, now=d.now, reason="staff", commit=False)
    audit.record(session, actor=d.actor, action="sessions_ended", now=d.now, details={"sessions": count},
                 subject_email=email)
    session.commit()
    return count


def end_staff_sessions(session: Session, email: str, *, now: dt.datetime) -> int:
    return end_all_sessions(session, email, now=now, reason="signed_out", audience=STAFF)


def failed_mails(session: Session, *, limit: int = 200) -> list[OutboxMail]:
    return list(session.scalars(
        select(OutboxMail).where(OutboxMail.status == "failed").order_by(OutboxMail.created_at.desc()).limit(limit)
    ))


def retry_mail(session: Session, mail_id: int, d: Decision) -> bool:
    """Put a failed mail back in the queue (after the mail server was fixed); whether there was one."""
    result = session.execute(
        update(OutboxMail).where(OutboxMail.id == mail_id, OutboxMail.status == "failed")
        .values(status="pending", attempts=0, next_attempt_at=d.now, claimed_until=None)
    )
    done = bool(result.rowcount)  # type: ignore[attr-defined]
    if done:
        audit.record(session, actor=d.actor, action="mail_retried", now=d.now, target=f"mail:{mail_id}")
    session.commit()
    return done

