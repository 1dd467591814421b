"""Exercising rights: requests with their legal deadlines, and the actions that take effect at once.

Every change is a `RequestEvent` in the request's history, and every change the person must hear about
is a mail queued in the same transaction (through the context's notifier, which writes it in the
person's language). A resubmitted form carries the same idempotency key and returns the request
already made instead of a second one. Every action that takes effect at once reports its `Effect`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, selectinload

from portal.models import Consent, MarketingObjection, RequestedChange, RequestEvent, RightsRequest, Subject
from portal.policy import requests as lifecycle
from portal.policy.deadlines import answer_due, may_extend
from portal.policy.register import Purpose, Register, Right
from portal.services.context import Context, Effect, EffectKind
from portal.services.overview import Overview, PurposeView, RelationView

DETAILS_MAX = 4000
NEW_VALUE_MAX = 1000  # a proposed value in a rectification


class RequestRefused(Exception):
    """The request or move cannot be made; `reason` is a stable id the interface turns into a sentence."""

    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(reason)


def _record(session: Session, ctx: Context, request: RightsRequest, status: str, *, note: str | None) -> RequestEvent:
    request.status = status
    if status in lifecycle.CLOSED_STATES:
        request.closed_at = ctx.now
    event = RequestEvent(request=request, at=ctx.now, actor=ctx.actor, status=status, note=note)
    session.add(event)
    session.flush()  # the request's number, for the audit trail
    ctx.audit(session, f"request_{status}", target=f"request:{request.id}",
              details={"right": request.right, "status": status}, subject_email=request.email)
    ctx.tell_request(session, request, event)
    return event


def _existing(session: Session, email: str, idempotency_key: str) -> RightsRequest | None:
    return session.scalar(
        select(RightsRequest).where(RightsRequest.email == email, RightsRequest.idempotency_key == idempotency_key)
    )


def _new_request(ctx: Context, email: str, right: str, *, scope: str | None, details: str | None,
                 idempotency_key: str) -> RightsRequest:
    return RightsRequest(
        email=email, right=right, scope=scope, details=details, status=lifecycle.RECEIVED, received_on=ctx.today,
        due_on=answer_due(ctx.today, response_time=ctx.register.handling.response_time),
        statement_version=ctx.register.statement.version, idempotency_key=idempotency_key, created_at=ctx.now,
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


Proposal = tuple[int | None, str, str | None, str]  # (data item id or None, field, value held, value proposed)


def submit_request(
    session: Session, ctx: Context, *, email: str, right: str, idempotency_key: str, scope: str | None = None,
    details: str | None = None, changes: list[Proposal] | None = None,
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
    request = _new_request(ctx, email, right, scope=scope, details=details or None, idempotency_key=idempotency_key)
    for item_id, field, old, new in changes or []:
        request.changes.append(RequestedChange(data_item_id=item_id, field=field, old_value=old, new_value=new))
    winner = _claim(session, request)
    if winner is not None:
        return winner
    _record(session, ctx, request, lifecycle.RECEIVED, note=None)
    session.commit()
    return request


@dataclass(frozen=True)
class HeldValue:
    """A value as the person sees it on their overview, which they may propose to correct."""

    item_id: int
    field: str
    value: str


def propose_rectification(
    session: Session, ctx: Context, *, email: str, idempotency_key: str, held: list[HeldValue],
    proposals: dict[int, str], details: str | None, other_field: str,
) -> RightsRequest:
    """Propose new values for values the person was shown, field by field, or describe what is wrong.

    Only values in `held` can be corrected (what the person's overview shows); a proposal equal to the
    value held, or empty, proposes nothing. With no value proposed the description alone makes the
    request, about the data as a whole (`other_field` names that, in the person's language).
    """
    proposed = {item_id: new.strip() for item_id, new in proposals.items()}
    if any(len(new) > NEW_VALUE_MAX for new in proposed.values()):
        raise RequestRefused("value_too_long")
    changes: list[Proposal] = [(value.item_id, value.field, value.value, proposed[value.item_id])
                               for value in held if proposed.get(value.item_id) not in (None, "", value.value)]
    description = (details or "").strip()
    if not changes and not description:
        raise RequestRefused("nothing_proposed")
    if not changes:
        changes = [(None, other_field, None, description)]
    return submit_request(session, ctx, email=email, right="rectification", idempotency_key=idempotency_key,
                          details=details, changes=changes)


def change_status(session: Session, ctx: Context, request_id: int, *, to: str, note: str | None) -> RightsRequest:
    """Move a request along its life, with the reasons where the person must hear them."""
    request = session.get(RightsRequest, request_id)
    if request is None:
        raise RequestRefused("not_found")
    if not lifecycle.can_move(request.status, to):
        raise RequestRefused("move_not_allowed")
    if to in lifecycle.NEEDS_REASONS and not (note or "").strip():
        raise RequestRefused("reasons_required")
    handling = ctx.register.handling
    if to == lifecycle.EXTENDED:
        if request.extended_due_on is not None:
            raise RequestRefused("already_extended")
        if not may_extend(request.received_on, ctx.today, notice_within=handling.extension_notice_within):
            raise RequestRefused("extension_too_late")
        request.extended_due_on = answer_due(request.received_on, response_time=handling.response_time,
                                             extension=handling.extension)
    _record(session, ctx, request, to, note=note)
    session.commit()
    return request


def _subject(session: Session, email: str) -> Subject:
    subject = session.scalar(select(Subject).where(Subject.email == email))
    if subject is None:
        raise RequestRefused("nothing_held")
    return subject


def _at_once(
    session: Session, ctx: Context, *, email: str, idempotency_key: str, right: str, scope: str,
    act: Callable[[], Effect],
) -> RightsRequest:
    """An action that takes effect at once: `act` checks and changes the data, and says what took effect.

    Recorded as a request completed on arrival, so that it appears in the person's history; a resubmitted
    form (the same key) returns the first one and changes nothing again.
    """
    already = _existing(session, email, idempotency_key)
    if already is not None:
        return already
    effect = act()
    request = _new_request(ctx, email, right, scope=scope, details=None, idempotency_key=idempotency_key)
    winner = _claim(session, request)  # a double submission that won the race: its change stands, not ours
    if winner is not None:
        return winner
    _record(session, ctx, request, lifecycle.COMPLETED, note=None)
    ctx.took_effect(session, replace(effect, request_id=request.id))
    session.commit()
    return request


def _consent_purpose(ctx: Context, purpose_id: str) -> Purpose:
    purpose = ctx.register.purposes.get(purpose_id)
    if purpose is None or purpose.basis != "consent":
        raise RequestRefused("not_a_consent")
    return purpose


def _standing_consents(subject: Subject, purpose_id: str) -> list[Consent]:
    standing = [c for c in subject.consents if c.purpose == purpose_id and c.withdrawn is None]
    if not standing:
        raise RequestRefused("no_standing_consent")
    return standing


def withdraw_consent(session: Session, ctx: Context, *, email: str, purpose_id: str,
                     idempotency_key: str) -> RightsRequest:
    """Withdraw a standing consent at once (Art. 7(3): as easy as giving it); the purpose stops today."""

    def withdraw() -> Effect:
        _consent_purpose(ctx, purpose_id)
        for consent in _standing_consents(_subject(session, email), purpose_id):
            consent.withdrawn = ctx.today
        return Effect(EffectKind.CONSENT_WITHDRAWN, email, purposes=(purpose_id,))

    return _at_once(session, ctx, email=email, idempotency_key=idempotency_key, right="withdrawal",
                    scope=f"purpose:{purpose_id}", act=withdraw)


def give_consent(session: Session, ctx: Context, *, email: str, purpose_id: str, idempotency_key: str) -> RightsRequest:
    """Give a consent again (the person's own choice), for a purpose of a relation they have."""

    def give() -> Effect:
        purpose = _consent_purpose(ctx, purpose_id)
        subject = _subject(session, email)
        if purpose.relation not in {relation.kind for relation in subject.relations}:
            raise RequestRefused("no_such_relation")
        if any(c.purpose == purpose_id and c.withdrawn is None for c in subject.consents):
            raise RequestRefused("consent_stands")
        same_day = next((c for c in subject.consents if c.purpose == purpose_id and c.given == ctx.today), None)
        if same_day is not None:
            same_day.withdrawn = None  # given, withdrawn and given again today: one consent, given today
        else:
            session.add(Consent(subject_id=subject.id, purpose=purpose_id, given=ctx.today))
        return Effect(EffectKind.CONSENT_GIVEN, email, purposes=(purpose_id,))

    return _at_once(session, ctx, email=email, idempotency_key=idempotency_key, right="consent_given",
                    scope=f"purpose:{purpose_id}", act=give)


def renew_consent(session: Session, ctx: Context, *, email: str, purpose_id: str,
                  idempotency_key: str) -> RightsRequest:
    """Confirm a standing consent again when we ask (the talent pool): its longer period starts again today."""

    def renew() -> Effect:
        _consent_purpose(ctx, purpose_id)
        if not any(rule.consent_extension and rule.consent_extension.purpose == purpose_id
                   for rule in ctx.register.retention.values()):
            raise RequestRefused("not_renewable")
        for consent in _standing_consents(_subject(session, email), purpose_id):
            consent.renewed_on = ctx.today
        return Effect(EffectKind.CONSENT_RENEWED, email, purposes=(purpose_id,))

    return _at_once(session, ctx, email=email, idempotency_key=idempotency_key, right="consent_renewed",
                    scope=f"purpose:{purpose_id}", act=renew)


def marketing_objection_of(session: Session, email: str) -> MarketingObjection | None:
    """The objection to direct marketing that stands for this address, if any."""
    return session.scalar(
        select(MarketingObjection).where(MarketingObjection.email == email, MarketingObjection.lifted_at.is_(None))
    )


def _direct_marketing(ctx: Context) -> tuple[str, ...]:
    return tuple(p.id for p in ctx.register.purposes.values() if p.direct_marketing)


def object_to_direct_marketing(session: Session, ctx: Context, *, email: str, idempotency_key: str) -> RightsRequest:
    """Stop every direct-marketing purpose at once (Art. 21(2)-(3)): absolute, no reasons asked."""

    def object_() -> Effect:
        if marketing_objection_of(session, email) is None:
            session.add(MarketingObjection(email=email, objected_at=ctx.now))
        return Effect(EffectKind.MARKETING_OBJECTION, email, purposes=_direct_marketing(ctx))

    return _at_once(session, ctx, email=email, idempotency_key=idempotency_key, right="direct_marketing_objection",
                    scope=f"purposes:{','.join(_direct_marketing(ctx))}", act=object_)


def lift_direct_marketing_objection(session: Session, ctx: Context, *, email: str,
                                    idempotency_key: str) -> RightsRequest:
    """The person takes their objection back; consent-based marketing still needs its own consent."""

    def lift() -> Effect:
        objection = marketing_objection_of(session, email)
        if objection is None:
            raise RequestRefused("no_objection")
        objection.lifted_at = ctx.now
        return Effect(EffectKind.MARKETING_OBJECTION_LIFTED, email, purposes=_direct_marketing(ctx))

    return _at_once(session, ctx, email=email, idempotency_key=idempotency_key,
                    right="direct_marketing_objection_lifted", scope="purposes", act=lift)


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


def answer_question(session: Session, ctx: Context, *, email: str, request_id: int, answer: str) -> RightsRequest:
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
    return change_status(session, ctx, request.id, to=lifecycle.IN_PROGRESS, note=text)
