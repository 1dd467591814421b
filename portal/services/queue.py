"""The back office's queue of requests, its CSV, the report over all requests, and the search for people."""

from __future__ import annotations

import datetime as dt
import statistics
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field

from sqlalchemy import ColumnElement, func, select
from sqlalchemy.orm import Session

from portal.models import Relation, RightsRequest, Subject
from portal.policy import requests as lifecycle
from portal.services import tasks

PAGE_SIZE = 50
DUE_SOON = dt.timedelta(days=7)


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
    at_risk: bool = False  # decided, but its systems lag behind while the answer date is near or past


@dataclass(frozen=True)
class QueuePage:
    rows: list[QueueRow]
    total: int
    page: int
    pages: int


def _due() -> ColumnElement[dt.date]:
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


def _lagging(session: Session, request_ids: list[int]) -> dict[int, int]:
    """Per request, how many of its systems have not confirmed yet (none asked when no request waits for them)."""
    return tasks.lagging(session, request_ids) if request_ids else {}


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
    total = session.scalar(base.with_only_columns(func.count())) or 0
    pages = max(1, -(-total // page_size))
    page = min(max(filters.page, 1), pages)
    # Sort and skip over ids only (open requests: from their index by answer date on PostgreSQL, without
    # reading the table), then join the page's rows and the relation kinds of their addresses to them: one
    # round trip, and a deep page never carries whole rows along.
    ids = (base.with_only_columns(RightsRequest.id).order_by(_due(), RightsRequest.id)
           .offset((page - 1) * page_size).limit(page_size).subquery())
    kinds: dict[RightsRequest, list[str]] = {}
    for request, kind in session.execute(
        select(RightsRequest, Relation.kind).join(ids, ids.c.id == RightsRequest.id)
        .outerjoin(Subject, Subject.email == RightsRequest.email).outerjoin(Relation)
        .order_by(_due(), RightsRequest.id, Relation.started)
    ):
        kinds.setdefault(request, [])
        if kind is not None:
            kinds[request].append(kind)
    # One grouped count of the unconfirmed instructions of the page's requests that wait for their systems.
    lagging = _lagging(session, [r.id for r in kinds if r.status == lifecycle.CARRYING_OUT])
    rows = [QueueRow(r, r.extended_due_on or r.due_on, urgency(r, today), relations,
                     at_risk=lagging.get(r.id, 0) > 0 and urgency(r, today) is not None)
            for r, relations in kinds.items()]
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


def search_people(session: Session, term: str, *, limit: int = 20) -> list[str]:
    """Addresses containing `term`, among people we hold data on or who made a request."""
    needle = term.strip().lower()
    if not needle:
        return []
    subjects = select(Subject.email).where(Subject.email.contains(needle, autoescape=True))
    requesters = select(RightsRequest.email).where(RightsRequest.email.contains(needle, autoescape=True))
    return sorted(set(session.scalars(subjects.limit(limit))) | set(session.scalars(requesters.limit(limit))))[:limit]
