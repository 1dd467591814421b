"""The data protection manager's side: staff accounts, the queue, decisions with their effects, reports.

Decisions move a request through `requests.change_status` (so the person's history and mail follow)
and, for erasure, rectification and restriction, change the data first, in the same transaction: a
request is never completed without its effect, nor an effect applied without its record. Every step
is in the audit trail.
"""

from __future__ import annotations

import datetime as dt
import statistics
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field

from sqlalchemy import delete, func, select, update
from sqlalchemy.orm import Session, selectinload

from portal.models import DataItem, OutboxMail, Relation, RequestedChange, RightsRequest, Staff, Subject
from portal.policy import requests as lifecycle
from portal.policy.erasure import ErasureDecision, Kept, erasure_of
from portal.policy.register import Register
from portal.services import audit
from portal.services.email_address import normalise_email
from portal.services.erasing import remove_relations
from portal.services.overview import build_overview
from portal.services.requests import Notify, RequestRefused, change_status
from portal.services.signin import STAFF, end_all_sessions
from portal.services.subjects import item_fingerprint

ROLES = ("dpo", "viewer")
PAGE_SIZE = 50
DUE_SOON = dt.timedelta(days=7)
REFUSAL_GROUNDS = ("manifestly_unfounded", "excessive")
FEE_MAX_CENTS = 100_000  # a "reasonable" fee: anything above 1,000 euro is a typing error, not a decision


# --- staff ---------------------------------------------------------------------------------------------

def create_staff(session: Session, raw_email: str, role: str, *, now: dt.datetime) -> tuple[Staff, bool]:
    """Add a staff member, or change the role of one (enabling them again); whether they are new."""
    if role not in ROLES:
        raise ValueError(f"role must be one of {', '.join(ROLES)}")
    email = normalise_email(raw_email)
    staff = session.scalar(select(Staff).where(Staff.email == email))
    created = staff is None
    if staff is None:
        staff = Staff(email=email, role=role, created_at=now)
        session.add(staff)
    else:
        staff.role, staff.disabled_at = role, None
    audit.record(session, actor=audit.SYSTEM, action="staff_created" if created else "staff_changed", now=now,
                 details={"role": role}, personal={"staff": email})
    session.commit()
    return staff, created


def active_staff(session: Session, email: str) -> Staff | None:
    return session.scalar(select(Staff).where(Staff.email == email, Staff.disabled_at.is_(None)))


# --- the queue -----------------------------------------------------------------------------------------

@dataclass(frozen=True)
class QueueFilter:
    state: str = "open"  # "open", "closed", "all" or one state
    right: str | None = None
    relation: str | None = None
    search: str | None = None
    page: int = 1


@dataclass(frozen=True)
class QueueRow:
    request: RightsRequest
    due: dt.date
    urgency: str | None  # "overdue", "soon" or None
    relations: list[str]


@dataclass(frozen=True)
class QueuePage:
    rows: list[QueueRow]
    total: int
    page: int
    pages: int


def _due() -> object:
    return func.coalesce(RightsRequest.extended_due_on, RightsRequest.due_on)


def urgency(request: RightsRequest, today: dt.date) -> str | None:
    if request.status not in lifecycle.OPEN_STATES:
        return None
    due = request.extended_due_on or request.due_on
    if due < today:
        return "overdue"
    if due - today <= DUE_SOON:
        return "soon"
    return None


def _filtered(query, filters: QueueFilter):  # type: ignore[no-untyped-def]
    if filters.state == "open":
        query = query.where(RightsRequest.status.in_(lifecycle.OPEN_STATES))
    elif filters.state == "closed":
        query = query.where(RightsRequest.status.in_(lifecycle.CLOSED_STATES))
    elif filters.state in lifecycle.STATES:
        query = query.where(RightsRequest.status == filters.state)
    if filters.right:
        query = query.where(RightsRequest.right == filters.right)
    if filters.relation:
        query = query.where(RightsRequest.email.in_(
            select(Subject.email).join(Relation).where(Relation.kind == filters.relation)))
    if filters.search and filters.search.strip():
        query = query.where(RightsRequest.email.contains(filters.search.strip().lower(), autoescape=True))
    return query


def queue(session: Session, filters: QueueFilter, *, today: dt.date, page_size: int = PAGE_SIZE) -> QueuePage:
    """One page of requests, the earliest answer date first; staff-handled rights only."""
    base = _filtered(select(RightsRequest).where(RightsRequest.right.in_(lifecycle.ANSWERED_BY_STAFF)), filters)
    total = session.scalar(select(func.count()).select_from(base.subquery())) or 0
    pages = max(1, -(-total // page_size))
    page = min(max(filters.page, 1), pages)
    # Sort and skip over ids only, then load the page's rows: a deep page never carries whole rows along.
    ids = list(session.scalars(
        base.with_only_columns(RightsRequest.id).order_by(_due(), RightsRequest.id)
        .offset((page - 1) * page_size).limit(page_size)
    ))
    loaded = {r.id: r for r in session.scalars(select(RightsRequest).where(RightsRequest.id.in_(ids)))} if ids else {}
    requests = [loaded[i] for i in ids]
    kinds: dict[str, list[str]] = {}
    emails = {r.email for r in requests}
    if emails:
        for email, kind in session.execute(
            select(Subject.email, Relation.kind).join(Relation).where(Subject.email.in_(emails))
            .order_by(Relation.started)
        ):
            kinds.setdefault(email, []).append(kind)
    rows = [QueueRow(r, r.extended_due_on or r.due_on, urgency(r, today), kinds.get(r.email, [])) for r in requests]
    return QueuePage(rows=rows, total=total, page=page, pages=pages)


def queue_rows(session: Session, filters: QueueFilter) -> Iterator[dict[str, object]]:
    """Every request the filters select, for the records of processing (CSV), streamed."""
    query = _filtered(select(RightsRequest).where(RightsRequest.right.in_(lifecycle.ANSWERED_BY_STAFF)), filters)
    for r in session.scalars(query.order_by(_due(), RightsRequest.id).execution_options(yield_per=1000)):
        yield {
            "request_id": r.id, "email": r.email, "right": r.right, "scope": r.scope, "status": r.status,
            "received_on": r.received_on.isoformat(), "due_on": r.due_on.isoformat(),
            "extended_due_on": r.extended_due_on.isoformat() if r.extended_due_on else "",
            "closed_at": r.closed_at.isoformat(timespec="seconds") if r.closed_at else "",
            "statement_version": r.statement_version,
        }


QUEUE_COLUMNS = ("request_id", "email", "right", "scope", "status", "received_on", "due_on", "extended_due_on",
                 "closed_at", "statement_version")


# --- reports -------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Report:
    per_month: dict[str, Counter[str]]  # "2026-11" -> right -> count
    answered: int
    median_days: float | None
    p95_days: float | None
    open: int
    overdue: int
    rights: list[str] = field(default_factory=list)


def percentile(values: list[int], fraction: float) -> float | None:
    """The nearest-rank percentile: the smallest value with at least `fraction` of the values at or below it."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, -(-int(round(fraction * 1000)) * len(ordered) // 1000))
    return float(ordered[rank - 1])


def report(session: Session, *, today: dt.date) -> Report:
    per_month: dict[str, Counter[str]] = {}
    days: list[int] = []
    open_count = overdue = 0
    rights: set[str] = set()
    for right, status, received, due, extended, closed in session.execute(
        select(RightsRequest.right, RightsRequest.status, RightsRequest.received_on, RightsRequest.due_on,
               RightsRequest.extended_due_on, RightsRequest.closed_at)
        .where(RightsRequest.right.in_(lifecycle.ANSWERED_BY_STAFF)).execution_options(yield_per=5000)
    ):
        per_month.setdefault(f"{received:%Y-%m}", Counter())[right] += 1
        rights.add(right)
        if status in lifecycle.OPEN_STATES:
            open_count += 1
            overdue += (extended or due) < today
        elif closed is not None:
            days.append((closed.date() - received).days)
    return Report(
        per_month=dict(sorted(per_month.items(), reverse=True)), answered=len(days),
        median_days=float(statistics.median(days)) if days else None, p95_days=percentile(days, 0.95),
        open=open_count, overdue=overdue, rights=[r for r in lifecycle.ANSWERED_BY_STAFF if r in rights],
    )


# --- decisions -----------------------------------------------------------------------------------------

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


def search_people(session: Session, term: str, *, limit: int = 20) -> list[str]:
    """Addresses containing `term`, among people we hold data on or who made a request."""
    needle = term.strip().lower()
    if not needle:
        return []
    subjects = select(Subject.email).where(Subject.email.contains(needle, autoescape=True))
    requesters = select(RightsRequest.email).where(RightsRequest.email.contains(needle, autoescape=True))
    return sorted(set(session.scalars(subjects.limit(limit))) | set(session.scalars(requesters.limit(limit))))[:limit]

