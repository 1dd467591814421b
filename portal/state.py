"""The app's state, typed: what `create_app` builds once and every view, command and mail reads.

Views ask `register()`, `settings()`, `database()` ... instead of looking strings up in
`current_app.extensions`; `context(actor)` makes the use-case context of one action from them and the
clock. Only this module knows the keys.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, cast

from flask import Flask, current_app

from portal import clock
from portal.config import Settings
from portal.policy.register import Register
from portal.services import audit
from portal.services.context import Context, EffectListener
from portal.services.limits import AbuseLimits
from portal.services.mail import Notifier
from portal.services.outbox import Dispatcher, Transport
from portal.services.webhooks import Webhooks

if TYPE_CHECKING:  # portal.database asks this module for the app's database
    from portal.database import Database

SETTINGS, REGISTER, DATABASE, LIMITS = "portal.settings", "portal.register", "portal.db", "portal.limits"
TRANSPORT, MAIL, NOTIFIER, LISTENERS = "portal.mail.transport", "portal.mail", "portal.notifier", "portal.listeners"
WEBHOOKS = "portal.webhooks"


def install(app: Flask, *, settings: Settings, register: Register, database: Database, limits: AbuseLimits,
            transport: Transport, mail: Dispatcher, notifier: Notifier,
            listeners: tuple[EffectListener, ...] = (), webhooks: Webhooks | None = None) -> None:
    app.extensions.update({SETTINGS: settings, REGISTER: register, DATABASE: database, LIMITS: limits,
                           TRANSPORT: transport, MAIL: mail, NOTIFIER: notifier, LISTENERS: listeners,
                           WEBHOOKS: webhooks or Webhooks({})})


def settings() -> Settings:
    return cast(Settings, current_app.extensions[SETTINGS])


def register() -> Register:
    return cast(Register, current_app.extensions[REGISTER])


def database() -> Database:
    return cast("Database", current_app.extensions[DATABASE])


def limits() -> AbuseLimits:
    return cast(AbuseLimits, current_app.extensions[LIMITS])


def transport() -> Transport:
    return cast(Transport, current_app.extensions[TRANSPORT])


def mail() -> Dispatcher:
    """The sender of the outbox: `mail().wake()` after a commit that queued mail (it wakes the webhooks' too)."""
    return cast(Dispatcher, current_app.extensions[MAIL])


def webhooks() -> Webhooks:
    """The endpoints of the systems and recipients that hear by webhook, and how an event reaches them."""
    return cast(Webhooks, current_app.extensions[WEBHOOKS])


def notifier() -> Notifier:
    return cast(Notifier, current_app.extensions[NOTIFIER])


def context(actor: str = audit.PERSON) -> Context:
    """The context of one action by `actor`, now: the register, the clock, the notifier and the listeners."""
    return Context(actor=actor, register=register(), now=clock.utcnow(), today=clock.local_today(),
                   notifier=notifier(), sender_domain=settings().mail_domain,
                   listeners=current_app.extensions[LISTENERS], secret=settings().secret_key.encode())
