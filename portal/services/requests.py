"""Exercising rights: requests with their legal deadlines, and the actions that take effect at once.

Every change is a `RequestEvent` in the request's history, and every change the person must hear about
is a mail queued in the same transaction (through `notify`, which the web layer supplies to write it in
the person's language). A resubmitted form carries the same idempotency key and returns the request
already made instead of a second one.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, selectinload

from portal.models import Consent, MarketingObjection, RequestedChange, RequestEvent, RightsRequest, Subject
from portal.policy import requests as lifecycle
from portal.policy.deadlines import answer_due, may_extend
from portal.policy.register import Purpose, Register, Right
from portal.services import audit
from portal.services.outbox import queue_mail
from portal.services.overview import Overview, PurposeView, RelationView
from portal.services.signin import MailContent

Notify = Callable[[RightsRequest, RequestEvent], MailContent]
DETAILS_MAX = 4000
PERSON = "person"


class RequestRefused(Exception):
    """The request or move cannot be made; `reason` is a stable id the interface turns into a sentence."""

    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(reason)


def _record(
    session: Session, request: RightsRequest, status: str, *, actor: str, note: str | None, now: dt.datetime,
    notify: Notify | None, sender_domain: str,
) -> RequestEvent:
    request.status = status
    if status in lifecycle.CLOSED_STATES:
        request.closed_at = now
    event = RequestEvent(request=request, at=now, actor=actor, status=status, note=note)
    session.add(event)
    session.flush()  # the request's number, for the audit trail
    audit.record(session, actor=actor, action=f"request_{status}", now=now, target=f"request:{request.id}",
                 details={"right": request.right, "status": status}, subject_email=request.email)
    if notify is not None:
        content = notify(request, event)
        queue_mail(session, recipient=request.email, subject=content.subject, body_text=content.text,
                   body_html=content.html, sender_domain=sender_domain, now=now)
    return event


def _existing(session: Session, email: str, idempotency_key: str) -> RightsRequest | None:
    return session.scalar(
        select(RightsRequest).where(RightsRequest.email == email, RightsRequest.idempotency_key == idempotency_key)
    )


def _new_request(
    email: str, right: str, *, scope: str | None, details: str | None, idempotency_key: str, register: Register,
    today: dt.date, now: dt.datetime,
) -> RightsRequest:
    return RightsRequest(
        email=email, right=right, scope=scope, details=details, status=lifecycle.RECEIVED, received_on=today,
        due_on=answer_due(today, response_time=register.handling.response_time),
        statement_version=register.statement.version, idempotency_key=idempotency_key, created_at=now,
    )


def _claim(session: Session, request: RightsRequest) -> RightsRequest | None:
    """Write the new request's key now; if a double submission won the race, return its request instead.

    Flushing here, before the history and the mail are built, keeps the duplicate-key error at this one
    place: composing the mail reads the database, which would otherwise flush (and fail) mid-way.
    """
    session.add(request)
    try:
        session.flush()
    except IntegrityError:
        session.rollback()
        return _existing(session, request.email, request.idempotency_key)
    return None


def submit_request(
    session: Session, *, email: str, right: str, idempotency_key: str, register: Register, today: dt.date,
    now: dt.datetime, notify: Notify | None, sender_domain: str, scope: str | None = None,
    details: str | None = None, changes: list[tuple[int | None, str, str | None, str]] | None = None,
) -> RightsRequest:
    """File a request that the data protection manager answers; its due date follows Art. 12(3).

    `changes` (rectification) are (data item id or None, field, value held, value proposed).
    """
    if right not in lifecycle.ANSWERED_BY_STAFF:
        raise RequestRefused("unknown_right")
    if details is not None and len(details) > DETAILS_MAX:
        raise RequestRefused("details_too_long")
    if right == "rectification" and not changes:
        raise RequestRefused("no_changes")
    already = _existing(session, email, idempotency_key)
    if already is not None:
        return already
    request = _new_request(email, right, scope=scope, details=details or None, idempotency_key=idempotency_key,
                           register=register, today=today, now=now)
    for item_id, field, old, new in changes or []:
        request.changes.append(RequestedChange(data_item_id=item_id, field=field, old_value=old, new_value=new))
    winner = _claim(session, request)
    if winner is not None:
        return winner
    _record(session, request, lifecycle.RECEIVED, actor=PERSON, note=None, now=now, notify=notify,
            sender_domain=sender_domain)
    session.commit()
    return request


def change_status(
    session: Session, request_id: int, *, to: str, actor: str, note: str | None, register: Register,
    today: dt.date, now: dt.datetime, notify: Notify | None, sender_domain: str,
) -> RightsRequest:
    """Move a request along its life, with the reasons where the person must hear them."""
    request = session.get(RightsRequest, request_id)
    if request is None:
        raise RequestRefused("not_found")
    if not lifecycle.can_move(request.status, to):
        raise RequestRefused("move_not_allowed")
    if to in lifecycle.NEEDS_REASONS and not (note or "").strip():
        raise RequestRefused("reasons_required")
    if to == lifecycle.EXTENDED:
        if request.extended_due_on is not None:
            raise RequestRefused("already_extended")
        if not may_extend(request.received_on, today, notice_within=register.handling.extension_notice_within):
            raise RequestRefused("extension_too_late")
        request.extended_due_on = answer_due(
            request.received_on, response_time=register.handling.response_time,
            extension=register.handling.extension,
        )
    _record(session, request, to, actor=actor, note=note, now=now, notify=notify, sender_domain=sender_domain)
    session.commit()
    return request


def _subject(session: Session, email: str) -> Subject:
    subject = session.scalar(select(Subject).where(Subject.email == email))
    if subject is None:
        raise RequestRefused("nothing_held")
    return subject


def _done_at_once(
    session: Session, *, email: str, right: str, scope: str, idempotency_key: str, register: Register,
    today: dt.date, now: dt.datetime, notify: Notify | None, sender_domain: str, note: str | None = None,
) -> RightsRequest:
    request = _new_request(email, right, scope=scope, details=None, idempotency_key=idempotency_key,
                           register=register, today=today, now=now)
    winner = _claim(session, request)
    if winner is not None:
        return winner
    _record(session, request, lifecycle.COMPLETED, actor=PERSON, note=note, now=now, notify=notify,
            sender_domain=sender_domain)
    session.commit()
    return request


def _consent_purpose(register: Register, purpose_id: str) -> Purpose:
    purpose = register.purposes.get(purpose_id)
    if purpose is None or purpose.basis != "consent":
        raise RequestRefused("not_a_consent")
    return purpose


def withdraw_consent(
    session: Session, *, email: str, purpose_id: str, idempotency_key: str, register: Register, today: dt.date,
    now: dt.datetime, notify: Notify | None, sender_domain: str,
) -> RightsRequest:
    """Withdraw a standing consent at once (Art. 7(3): as easy as giving it); the purpose stops today."""
    already = _existing(session, email, idempotency_key)
    if already is not None:
        return already
    _consent_purpose(register, purpose_id)
    subject = _subject(session, email)
    standing = session.scalars(
        select(Consent).where(Consent.subject_id == subject.id, Consent.purpose == purpose_id,
                              Consent.withdrawn.is_(None))
    ).all()
    if not standing:
        raise RequestRefused("no_standing_consent")
    for consent in standing:
        consent.withdrawn = today
    return _done_at_once(session, email=email, right="withdrawal", scope=f"purpose:{purpose_id}",
                         idempotency_key=idempotency_key, register=register, today=today, now=now, notify=notify,
                         sender_domain=sender_domain)


def give_consent(
    session: Session, *, email: str, purpose_id: str, idempotency_key: str, register: Register, today: dt.date,
    now: dt.datetime, notify: Notify | None, sender_domain: str,
) -> RightsRequest:
    """Give a consent again (the person's own choice), for a purpose of a relation they have."""
    already = _existing(session, email, idempotency_key)
    if already is not None:
        return already
    purpose = _consent_purpose(register, purpose_id)
    subject = _subject(session, email)
    if purpose.relation not in {relation.kind for relation in subject.relations}:
        raise RequestRefused("no_such_relation")
    if any(c.purpose == purpose_id and c.withdrawn is None for c in subject.consents):
        raise RequestRefused("consent_stands")
    same_day = next((c for c in subject.consents if c.purpose == purpose_id and c.given == today), None)
    if same_day is not None:
        same_day.withdrawn = None  # given, withdrawn and given again today: one consent, given today
    else:
        session.add(Consent(subject_id=subject.id, purpose=purpose_id, given=today))
    return _done_at_once(session, email=email, right="consent_given", scope=f"purpose:{purpose_id}",
                         idempotency_key=idempotency_key, register=register, today=today, now=now, notify=notify,
                         sender_domain=sender_domain)


def renew_consent(
    session: Session, *, email: str, purpose_id: str, idempotency_key: str, register: Register, today: dt.date,
    now: dt.datetime, notify: Notify | None, sender_domain: str,
) -> RightsRequest:
    """Confirm a standing consent again when we ask (the talent pool): its longer period starts again today."""
    already = _existing(session, email, idempotency_key)
    if already is not None:
        return already
    _consent_purpose(register, purpose_id)
    if not any(rule.consent_extension and rule.consent_extension.purpose == purpose_id
               for rule in register.retention.values()):
        raise RequestRefused("not_renewable")
    subject = _subject(session, email)
    standing = [c for c in subject.consents if c.purpose == purpose_id and c.withdrawn is None]
    if not standing:
        raise RequestRefused("no_standing_consent")
    for consent in standing:
        consent.renewed_on = today
    return _done_at_once(session, email=email, right="consent_renewed", scope=f"purpose:{purpose_id}",
                         idempotency_key=idempotency_key, register=register, today=today, now=now, notify=notify,
                         sender_domain=sender_domain)


def marketing_objection_of(session: Session, email: str) -> MarketingObjection | None:
    """The objection to direct marketing that stands for this address, if any."""
    return session.scalar(
        select(MarketingObjection).where(MarketingObjection.email == email, MarketingObjection.lifted_at.is_(None))
    )


def object_to_direct_marketing(
    session: Session, *, email: str, idempotency_key: str, register: Register, today: dt.date, now: dt.datetime,
    notify: Notify | None, sender_domain: str,
) -> RightsRequest:
    """Stop every direct-marketing purpose at once (Art. 21(2)-(3)): absolute, no reasons asked."""
    already = _existing(session, email, idempotency_key)
    if already is not None:
        return already
    if marketing_objection_of(session, email) is None:
        session.add(MarketingObjection(email=email, objected_at=now))
    purposes = ",".join(p.id for p in register.purposes.values() if p.direct_marketing)
    return _done_at_once(session, email=email, right="direct_marketing_objection", scope=f"purposes:{purposes}",
                         idempotency_key=idempotency_key, register=register, today=today, now=now, notify=notify,
                         sender_domain=sender_domain)


def lift_direct_marketing_objection(
    session: Session, *, email: str, idempotency_key: str, register: Register, today: dt.date, now: dt.datetime,
    notify: Notify | None, sender_domain: str,
) -> RightsRequest:
    """The person takes their objection back; consent-based marketing still needs its own consent."""
    already = _existing(session, email, idempotency_key)
    if already is not None:
        return already
    objection = marketing_objection_of(session, email)
    if objection is None:
        raise RequestRefused("no_objection")
    objection.lifted_at = now
    return _done_at_once(session, email=email, right="direct_marketing_objection_lifted", scope="purposes",
                         idempotency_key=idempotency_key, register=register, today=today, now=now, notify=notify,
                         sender_domain=sender_domain)


def requests_of(session: Session, email: str) -> list[RightsRequest]:
    """Every request of an address with its history and proposed changes, newest first."""
    return list(session.scalars(
        select(RightsRequest).where(RightsRequest.email == email)
        .options(selectinload(RightsRequest.events), selectinload(RightsRequest.changes))
        .order_by(RightsRequest.created_at.desc(), RightsRequest.id.desc())
    ))


@dataclass(frozen=True)
class Offer:
    """One right for one person: whether it applies to anything we process about them, and to what."""

    right: Right
    applies: bool
    purposes: list[PurposeView]  # the purposes in use it applies to
    relations: list[RelationView]  # the relations those purposes belong to


def offered_rights(overview: Overview, register: Register) -> list[Offer]:
    """Every right of statement 2.4 for this person, from the register's rules and their purposes.

    A right is offered when it applies to at least one purpose in use for them; access and
    rectification always apply, also to a person we hold nothing about (they may ask and hear so).
    """
    offers = []
    for right in register.rights.values():
        matches = [
            (relation, purpose)
            for relation in overview.relations for purpose in relation.purposes
            if purpose.in_use and any(d.right.id == right.id and d.applies for d in purpose.rights)
        ]
        if right.id == "withdrawal":  # only consents that still stand can be withdrawn
            matches = [(r, p) for r, p in matches if p.consent is not None and p.consent.standing]
        applies = bool(matches) or right.applies == "always"
        relations = list({id(r): r for r, _ in matches}.values())
        offers.append(Offer(right=right, applies=applies, purposes=[p for _, p in matches], relations=relations))
    return offers


def answer_question(
    session: Session, *, email: str, request_id: int, answer: str, register: Register, today: dt.date,
    now: dt.datetime, notify: Notify | None, sender_domain: str,
) -> RightsRequest:
    """The person answers the question a request waits on; the request goes back to being handled.

    Only the person's own request, and only while it waits: anything else is `not_found`, so that an id
    in a URL reveals nothing about other people's requests.
    """
    request = session.get(RightsRequest, request_id)
    if request is None or request.email != email or request.status != lifecycle.WAITING:
        raise RequestRefused("not_found")
    text = answer.strip()
    if not text:
        raise RequestRefused("answer_required")
    if len(text) > DETAILS_MAX:
        raise RequestRefused("details_too_long")
    return change_status(session, request.id, to=lifecycle.IN_PROGRESS, actor=PERSON, note=text, register=register,
                         today=today, now=now, notify=notify, sender_domain=sender_domain)
