"""Contexts for calling the services directly, with a notifier that needs no templates and listeners that record."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.orm import Session

from portal.models import AddressChange, RequestEvent, RightsRequest
from portal.policy.register import Register
from portal.services import audit
from portal.services.context import Context, Effect
from portal.services.mail import MailContent

TODAY = dt.date(2026, 1, 31)
NOW = dt.datetime(2026, 1, 31, 10, 0)
DOMAIN = "we-are.be"


class PlainNotifier:
    """Mails in plain words that a test can assert on: the subject names the right and the step."""

    def request_mail(self, session: Session, request: RightsRequest, event: RequestEvent) -> MailContent:
        return MailContent(subject=f"{request.right}: {event.status}", text=event.note or event.status,
                           html="<p>x</p>")

    def link_mail(self, issued: object) -> MailContent:
        return MailContent(subject="link", text="%%SIGN_IN_LINK_TOKEN%% %%SIGN_IN_CODE%%", html="<p>x</p>")

    def address_changed_mail(self, session: Session, change: AddressChange, undo_link: str) -> MailContent:
        return MailContent(subject="address changed", text=undo_link, html="<p>x</p>")

    def renewal_mail(self, renewal: object) -> MailContent:
        return MailContent(subject="renew?", text="renew", html="<p>x</p>")

    def erasure_summary(self, session: Session, request: RightsRequest, plan: object) -> str:
        return "erasure summary"

    def download_note(self, session: Session, email: str, *, kind: str, fmt: str, at: dt.datetime,
                      digest: str | None) -> str:
        return f"downloaded {kind} {fmt}"


class LinkNotifier(PlainNotifier):
    """A PlainNotifier whose sign-in mails a test writes itself (`compose(issued)`)."""

    def __init__(self, compose: Callable[[Any], MailContent]) -> None:
        self.compose = compose

    def link_mail(self, issued: object) -> MailContent:
        return self.compose(issued)


@dataclass
class EffectLog:
    """A listener that keeps every effect reported to it, with whether the change was in its session then."""

    effects: list[Effect] = field(default_factory=list)

    def __call__(self, session: Session, ctx: Context, effects: Sequence[Effect]) -> None:
        self.effects.extend(effects)

    @property
    def kinds(self) -> list[str]:
        return [str(effect.kind) for effect in self.effects]


def context(register: Register, *, actor: str = audit.PERSON, today: dt.date = TODAY, now: dt.datetime = NOW,
            notifier: object | None = PlainNotifier(), listeners: tuple[object, ...] = ()) -> Context:
    """The context of one action, as the web layer makes it, for a service called directly."""
    return Context(actor=actor, register=register, now=now, today=today, notifier=notifier,  # type: ignore[arg-type]
                   sender_domain=DOMAIN, listeners=listeners)  # type: ignore[arg-type]

