"""The data protection manager's decisions on a request, with their effects; sessions and failed mail.

Decisions move a request through `requests.change_status` (so the person's history and mail follow)
and, for erasure, rectification and restriction, change the data first, in the same transaction: a
request is never completed without its effect, nor an effect applied without its record. Every step
is in the audit trail.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from sqlalchemy import delete, func, select, update
from sqlalchemy.orm import Session, selectinload

from portal.models import DataItem, OutboxMail, Relation, RequestedChange, RightsRequest, Subject
from portal.policy import requests as lifecycle
from portal.policy.erasure import ErasureDecision, Kept, erasure_of
from portal.policy.register import Register
from portal.services import audit, instructions
from portal.services.context import AffectedData, Context, Effect, EffectKind, ValueChange
from portal.services.erasing import remove_relations
from portal.services.overview import build_overview
from portal.services.requests import RequestRefused, change_status
from portal.services.signin import STAFF, end_all_sessions
from portal.services.subjects import item_fingerprint

REFUSAL_GROUNDS = ("manifestly_unfounded", "excessive")
# Requests that change data: completed only when every system holding the data confirmed the change.
CARRIED_OUT_IN_SYSTEMS = frozenset({"erasure", "rectification", "restriction"})
FEE_MAX_CENTS = 100_000  # a "reasonable" fee: anything above 1,000 euro is a typing error, not a decision


def _open_request(session: Session, request_id: int) -> RightsRequest:
    request = session.get(RightsRequest, request_id)
    if request is None:
        raise RequestRefused("not_found")
    if request.status not in lifecycle.OPEN_STATES:
        raise RequestRefused("move_not_allowed")
    return request


def start(session: Session, ctx: Context, request_id: int) -> RightsRequest:
    return change_status(session, ctx, request_id, to=lifecycle.IN_PROGRESS, note=None)


def ask(session: Session, ctx: Context, request_id: int, question: str) -> RightsRequest:
    if not question.strip():
        raise RequestRefused("question_required")
    return change_status(session, ctx, request_id, to=lifecycle.WAITING, note=question.strip())


def extend(session: Session, ctx: Context, request_id: int, reasons: str) -> RightsRequest:
    return change_status(session, ctx, request_id, to=lifecycle.EXTENDED, note=reasons.strip())


def refuse(session: Session, ctx: Context, request_id: int, ground: str, reasons: str) -> RightsRequest:
    if ground not in REFUSAL_GROUNDS:
        raise RequestRefused("ground_required")
    if not reasons.strip():
        raise RequestRefused("reasons_required")
    request = _open_request(session, request_id)
    # Written before the move, which commits: the ground and the refusal are one transaction.
    ctx.audit(session, "refusal_ground", target=f"request:{request_id}", details={"ground": ground},
              subject_email=request.email)
    return change_status(session, ctx, request_id, to=lifecycle.REFUSED, note=reasons.strip())


def ask_fee(session: Session, ctx: Context, request_id: int, cents: int, reasons: str) -> RightsRequest:
    """A reasonable fee for a manifestly unfounded or excessive request (statement 2.4): the request waits."""
    if not 0 < cents <= FEE_MAX_CENTS:
        raise RequestRefused("fee_out_of_range")
    if not reasons.strip():
        raise RequestRefused("reasons_required")
    request = _open_request(session, request_id)
    if not lifecycle.can_move(request.status, lifecycle.WAITING):
        raise RequestRefused("move_not_allowed")  # before the fee is set: a refused move leaves nothing behind
    request.fee_cents = cents
    return change_status(session, ctx, request_id, to=lifecycle.WAITING, note=reasons.strip())


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
    erased_data: list[AffectedData] = field(default_factory=list)  # what goes, per relation and category


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
    erased, kept, erased_data = 0, [], []
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
                erased_data.append(AffectedData(relation.kind, category, count))
            else:
                kept.append(KeptGroup(relation.kind, category, count, decision.kept, decision.until))
    return ErasurePlan(erased=erased, kept=kept, erased_data=erased_data), decisions


def complete(
    session: Session, ctx: Context, request_id: int, message: str, *, approved_changes: set[int] | None = None,
) -> tuple[RightsRequest, ErasurePlan | None]:
    """Complete a request, carrying out what it asks first: erase, rectify, restrict or stop a purpose.

    The change, the request's completion, its mail and the effect the company's systems hear of are one
    transaction. For an erasure the person is told what was erased and what the law makes us keep.
    """
    request = _open_request(session, request_id)
    if request.status == lifecycle.CARRYING_OUT:
        raise RequestRefused("move_not_allowed")  # decided already: its systems are carrying it out
    note = message.strip()
    plan = None
    if request.right == "erasure":
        plan = _erase(session, ctx, request)
        if ctx.notifier is not None:
            note = "\n\n".join(part for part in (note, ctx.notifier.erasure_summary(session, request, plan)) if part)
        effect = Effect(EffectKind.ERASED, request.email, request.id, data=tuple(plan.erased_data),
                        kept=tuple(AffectedData(k.relation, k.category, k.count, k.until, k.kept.value)
                                   for k in plan.kept))
    elif request.right == "rectification":
        effect = Effect(EffectKind.RECTIFIED, request.email, request.id,
                        changes=_rectify(session, ctx, request, approved_changes or set()))
    elif request.right == "restriction":
        effect = Effect(EffectKind.RESTRICTED, request.email, request.id, data=_restrict(session, ctx, request))
    elif request.right == "objection":
        purpose = (request.scope or "").removeprefix("purpose:")
        effect = Effect(EffectKind.OBJECTION_UPHELD, request.email, request.id,
                        purposes=(purpose,) if purpose in ctx.register.purposes else ())
    else:  # access and portability change nothing
        effect = None
    if effect is not None:
        ctx.took_effect(session, effect)
    session.flush()
    # A change the company's systems must carry out too waits for them; the decision is told now.
    waits = request.right in CARRIED_OUT_IN_SYSTEMS and instructions.open_for_request(session, request_id) > 0
    completed = change_status(session, ctx, request_id, to=lifecycle.CARRYING_OUT if waits else lifecycle.COMPLETED,
                              note=note or None)
    if plan is not None and not session.scalar(select(func.count()).select_from(Relation).join(Subject)
                                               .where(Subject.email == request.email)):
        # Nothing left: the audit trail keeps what happened, no longer to whom (after the entries this
        # completion wrote, so that they lose the address too).
        audit.forget(session, request.email)
        session.commit()
    return completed, plan


def _erase(session: Session, ctx: Context, request: RightsRequest) -> ErasurePlan:
    plan, decisions = erasure_plan(session, request, ctx.register, ctx.today)
    empty: list[int] = []
    for relation in _scoped_relations(session, request):
        erase = [category for (rid, category), decision in decisions.items() if rid == relation.id and decision.erased]
        if erase:
            session.execute(delete(DataItem).where(DataItem.relation_id == relation.id, DataItem.category.in_(erase)))
        if not any(rid == relation.id and not decision.erased for (rid, _c), decision in decisions.items()):
            empty.append(relation.id)  # nothing left under it: the relation itself is personal data too
    removed = remove_relations(session, ctx.register, empty)
    session.flush()
    remaining = session.scalar(select(func.count()).select_from(Relation).join(Subject)
                               .where(Subject.email == request.email)) or 0
    if remaining == 0:
        session.execute(update(Subject).where(Subject.email == request.email).values(name=None))
    ctx.audit(session, "data_erased", target=f"request:{request.id}",
              details={"items_erased": plan.erased, "relations_removed": removed,
                       "kept": [{"relation": k.relation, "category": k.category, "items": k.count,
                                 "reason": k.kept.value} for k in plan.kept]},
              subject_email=request.email)
    return ErasurePlan(plan.erased, plan.kept, removed, plan.erased_data)


def _rectify(session: Session, ctx: Context, request: RightsRequest, approved: set[int]) -> tuple[ValueChange, ...]:
    changes = list(session.scalars(select(RequestedChange).where(RequestedChange.request_id == request.id)))
    applied: list[ValueChange] = []
    for change in changes:
        change.decision = "approved" if change.id in approved else "rejected"
        if change.decision != "approved" or change.data_item_id is None:
            continue
        item = session.get(DataItem, change.data_item_id)
        if item is None:
            continue
        applied.append(ValueChange(item.relation.kind, item.category, item.field, item.value, change.new_value))
        item.value = change.new_value
        item.fingerprint = item_fingerprint(item.category, item.field, item.value, item.source, item.recorded)
    ctx.audit(session, "data_rectified", target=f"request:{request.id}",
              details={"values_changed": len(applied), "proposals": len(changes)}, subject_email=request.email)
    return tuple(applied)


def _restrict(session: Session, ctx: Context, request: RightsRequest) -> tuple[AffectedData, ...]:
    relations = _scoped_relations(session, request)
    for relation in relations:
        relation.restricted_since = relation.restricted_since or ctx.today
    ctx.audit(session, "data_restricted", target=f"request:{request.id}", details={"relations": len(relations)},
              subject_email=request.email)
    return tuple(AffectedData(relation.kind, category) for relation in relations
                 for category in ctx.register.relations[relation.kind].category_ids)


def request_with_history(session: Session, request_id: int) -> RightsRequest | None:
    return session.scalar(
        select(RightsRequest).where(RightsRequest.id == request_id)
        .options(selectinload(RightsRequest.events), selectinload(RightsRequest.changes))
    )


# --- sessions and mail ---------------------------------------------------------------------------------

def end_person_sessions(session: Session, ctx: Context, email: str) -> int:
    """End every session of a person, e.g. on a suspected account takeover; recorded in the audit trail."""
    count = end_all_sessions(session, email, now=ctx.now, reason="staff", commit=False)
    ctx.audit(session, "sessions_ended", details={"sessions": count}, subject_email=email)
    session.commit()
    return count


def end_staff_sessions(session: Session, email: str, *, now: dt.datetime) -> int:
    return end_all_sessions(session, email, now=now, reason="signed_out", audience=STAFF)


def failed_mails(session: Session, *, limit: int = 200) -> list[OutboxMail]:
    return list(session.scalars(
        select(OutboxMail).where(OutboxMail.status == "failed").order_by(OutboxMail.created_at.desc()).limit(limit)
    ))


def retry_mail(session: Session, ctx: Context, mail_id: int) -> bool:
    """Put a failed mail back in the queue (after the mail server was fixed); whether there was one."""
    result = session.execute(
        update(OutboxMail).where(OutboxMail.id == mail_id, OutboxMail.status == "failed")
        .values(status="pending", attempts=0, next_attempt_at=ctx.now, claimed_until=None)
    )
    done = bool(result.rowcount)  # type: ignore[attr-defined]
    if done:
        ctx.audit(session, "mail_retried", target=f"mail:{mail_id}")
    session.commit()
    return done

