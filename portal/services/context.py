"""The one seam every use case goes through: who acts, when, under which register, and how people are told.

A `Context` is made once per action (a request of a person, a decision of the data protection manager,
a run of a command) and handed to the service, instead of the same keyword arguments threaded through
every function. It also carries what must follow a change that takes effect for a person: every
service that withdraws or gives a consent, records or lifts an objection, erases, rectifies or restricts
data, or changes a sign-in address reports an `Effect` through `took_effect`, in the transaction of the
change, to every listener the portal is built with (the company's systems hear of it through one).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from sqlalchemy.orm import Session

from portal.models import OutboxMail, RequestEvent, RightsRequest
from portal.policy.register import Register
from portal.services import audit
from portal.services.mail import MailContent, Notifier
from portal.services.outbox import queue_mail


class EffectKind(StrEnum):
    """The changes that take effect for a person, as the statement's rights (2.4) and retention (3.x) make them."""

    CONSENT_WITHDRAWN = "consent_withdrawn"
    CONSENT_GIVEN = "consent_given"
    CONSENT_RENEWED = "consent_renewed"
    MARKETING_OBJECTION = "marketing_objection"
    MARKETING_OBJECTION_LIFTED = "marketing_objection_lifted"
    OBJECTION_UPHELD = "objection_upheld"
    ERASED = "erased"
    RECTIFIED = "rectified"
    RESTRICTED = "restricted"
    RETENTION_ERASED = "retention_erased"
    ADDRESS_CHANGED = "address_changed"
    ADDRESS_CHANGE_UNDONE = "address_change_undone"


@dataclass(frozen=True)
class AffectedData:
    """Data of one category under one kind of relation that a change concerns; `items` where they were counted.

    For data an erasure keeps: `until` when it goes at the latest and `reason` why the law keeps it.
    """

    relation: str
    category: str
    items: int | None = None
    until: dt.date | None = None
    reason: str | None = None


@dataclass(frozen=True)
class ValueChange:
    """One value corrected (rectification): what it was and what it is now."""

    relation: str
    category: str
    field: str
    old: str | None
    new: str


@dataclass(frozen=True)
class Effect:
    """A change that took effect for the person of `email`: what every system holding their data must do too."""

    kind: EffectKind
    email: str
    request_id: int | None = None
    purposes: tuple[str, ...] = ()  # consents and objections: the purposes concerned
    data: tuple[AffectedData, ...] = ()  # erasure, restriction: the data concerned
    kept: tuple[AffectedData, ...] = ()  # erasure: what the law makes us keep
    changes: tuple[ValueChange, ...] = ()  # rectification
    new_email: str | None = None  # a changed sign-in address


# A listener hears effects in batches: one for an action, many for a batch of the retention sweep.
EffectListener = Callable[[Session, "Context", Sequence[Effect]], None]


@dataclass(frozen=True)
class Context:
    """Who acts (`actor`: audit.PERSON, a staff actor or audit.SYSTEM), at which moment, and how people hear it."""

    actor: str
    register: Register
    now: dt.datetime  # UTC, naive: what is stored
    today: dt.date  # the company's day: what deadlines count from
    notifier: Notifier | None = None  # None: nobody is mailed (a rule's test, a benchmark)
    sender_domain: str = "localhost"  # the domain of the Message-IDs
    listeners: tuple[EffectListener, ...] = field(default=())
    secret: bytes = field(default=b"portal", repr=False)  # keys the hashes that recognise an erased person

    def subject_key(self, email: str) -> str:
        """A keyed hash of an address: recognises a person again without keeping their address."""
        return hmac.new(self.secret, email.strip().lower().encode(), hashlib.sha256).hexdigest()

    def mail(self, session: Session, recipient: str, content: MailContent, *,
             sign_in_token_id: int | None = None) -> OutboxMail:
        """Queue a mail in the caller's transaction: it goes out once the change it tells of is committed."""
        return queue_mail(session, recipient=recipient, subject=content.subject, body_text=content.text,
                          body_html=content.html, sender_domain=self.sender_domain, now=self.now,
                          sign_in_token_id=sign_in_token_id)

    def tell_request(self, session: Session, request: RightsRequest, event: RequestEvent) -> None:
        """Mail the person the step their request just took."""
        if self.notifier is not None:
            self.mail(session, request.email, self.notifier.request_mail(session, request, event))

    def audit(self, session: Session, action: str, *, target: str | None = None,
              details: Mapping[str, Any] | None = None, subject_email: str | None = None,
              personal: Mapping[str, Any] | None = None) -> int:
        """An entry in the audit trail by this context's actor, in the caller's transaction."""
        return audit.record(session, actor=self.actor, action=action, now=self.now, target=target,
                            details=dict(details) if details is not None else None, subject_email=subject_email,
                            personal=dict(personal) if personal is not None else None)

    def took_effect(self, session: Session, effect: Effect) -> None:
        """Report a change that took effect, in its transaction: a listener that fails undoes the change."""
        self.took_effects(session, (effect,))

    def took_effects(self, session: Session, effects: Sequence[Effect]) -> None:
        """Report several changes at once (a batch of the retention sweep), in their transaction."""
        if effects:
            for listener in self.listeners:
                listener(session, self, effects)
