"""What the services write to people: the content of a mail, the language it is in, and who writes it.

The services decide when a person must hear something; the words come from a `Notifier`, which the web
layer implements with the templates under templates/mail/ (portal/notify.py). A service never renders a
template itself, and a test of a rule can run without one (`notifier=None`: nobody is mailed).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from sqlalchemy import select
from sqlalchemy.orm import Session

from portal.models import AddressChange, RequestEvent, RightsRequest, Subject

if TYPE_CHECKING:  # only named in signatures: importing them here would make a cycle of the services
    from portal.services.decisions import ErasurePlan
    from portal.services.signin import IssuedLink
    from portal.services.sweep import RenewalDue

DEFAULT_LANGUAGE = "nl"  # the statement's own language, for an address we hold no subject under


@dataclass(frozen=True)
class MailContent:
    subject: str
    text: str
    html: str


def stored_language(session: Session, email: str) -> str | None:
    """The language we hold for the person of this address, if we hold the person."""
    return session.scalar(select(Subject.language).where(Subject.email == email))


def language_of(session: Session, email: str) -> str:
    """The language we write to the person of this address in: theirs as we hold it, else Dutch."""
    return stored_language(session, email) or DEFAULT_LANGUAGE


class Notifier(Protocol):
    """Writes what a person is told, in their language. Each method composes; none sends or commits."""

    def request_mail(self, session: Session, request: RightsRequest, event: RequestEvent) -> MailContent:
        """A step in the life of a request: received, in progress, waiting, extended, completed, refused."""
        ...

    def link_mail(self, issued: IssuedLink) -> MailContent:
        """A sign-in or confirmation link with its code, as placeholders the sender fills in."""
        ...

    def address_changed_mail(self, session: Session, change: AddressChange, undo_link: str) -> MailContent:
        """To the old address: the sign-in address was changed, and how to undo it."""
        ...

    def renewal_mail(self, renewal: RenewalDue) -> MailContent:
        """To an applicant whose talent-pool consent reaches its end: renew, or be erased."""
        ...

    def erasure_summary(self, session: Session, request: RightsRequest, plan: ErasurePlan) -> str:
        """What a completed erasure erased and what it keeps, and why: added to the manager's message."""
        ...

    def download_note(self, session: Session, email: str, *, kind: str, fmt: str, at: dt.datetime,
                      digest: str | None) -> str:
        """The note that closes an access or portability request answered by the person's own download."""
        ...
