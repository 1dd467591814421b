"""The portal's words to a person: every mail, and every note written into a person's history, in their language.

`TemplateNotifier` is the `Notifier` the services are given (portal/services/mail.py): it composes from
the templates under templates/mail/ under the person's language (`force_locale`), never sends and never
commits. The services decide when a person hears something; this module only says it.
"""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from flask import render_template
from flask_babel import force_locale, ngettext
from flask_babel import gettext as _
from sqlalchemy.orm import Session

from portal import labels, state
from portal.i18n import BABEL_LOCALES
from portal.models import AddressChange, RequestEvent, RightsRequest
from portal.policy.register import Register
from portal.services.decisions import ErasurePlan
from portal.services.mail import MailContent, language_of
from portal.services.signin import LINK_LIFETIME, IssuedLink
from portal.services.sweep import RenewalDue
from portal.services.tasks import TaskGroup
from portal.services.tokens import CODE_MARK, LINK_MARK
from portal.staff.wording import task_text

LINK_SUBJECTS = {
    "sign_in": lambda: _("Your sign-in link for the privacy portal"),
    "staff_sign_in": lambda: _("Your sign-in link for the privacy portal's back office"),
    "change_email": lambda: _("Confirm your new address for the privacy portal"),
}


@contextmanager
def _in(language: str) -> Iterator[None]:
    with force_locale(BABEL_LOCALES[language]):
        yield


def _mail(subject: str, template: str, **context: Any) -> MailContent:
    context.setdefault("register", state.register())
    return MailContent(subject=subject, text=render_template(f"mail/{template}.txt", **context),
                       html=render_template(f"mail/{template}.html", **context))


@functools.lru_cache(maxsize=32)
def _link_mail(purpose: str, language: str, base_url: str, register: Register) -> MailContent:
    """The sign-in mail of a purpose in a language, written once per worker: it holds no personal data, only
    placeholders that the sender fills in with the link and the code (so the outbox never stores them)."""
    prefix = "/staff/sign-in" if purpose == "staff_sign_in" else "/sign-in"
    with _in(language):
        subject = LINK_SUBJECTS.get(purpose, lambda: _("Confirm it is you: your link for the privacy portal"))()
        return _mail(subject, "link", html_lang=language, purpose=purpose, code=CODE_MARK, register=register,
                     link=f"{base_url}{prefix}/{LINK_MARK}", minutes=int(LINK_LIFETIME.total_seconds() // 60))


class TemplateNotifier:
    """Mails and notes from templates/mail/, each in the language of the person it is for."""

    def request_mail(self, session: Session, request: RightsRequest, event: RequestEvent) -> MailContent:
        language = language_of(session, request.email)
        with _in(language):
            right = labels.right_label(request.right)
            return _mail(_("Your request: %(right)s", right=right), "request", html_lang=language, request=request,
                         event=event, status_url=f"{state.settings().base_url}/me/requests", right=right,
                         about=labels.scope_label(request.scope, session))

    def link_mail(self, issued: IssuedLink) -> MailContent:
        return _link_mail(issued.purpose, issued.language, state.settings().base_url, state.register())

    def address_changed_mail(self, session: Session, change: AddressChange, undo_link: str) -> MailContent:
        language = language_of(session, change.new_email)
        with _in(language):
            return _mail(_("The address of your privacy portal account was changed"), "address_changed",
                         html_lang=language, change=change, undo_link=undo_link)

    def renewal_mail(self, renewal: RenewalDue) -> MailContent:
        register = state.register()
        extension = next(rule.consent_extension for rule in register.retention.values()
                         if rule.consent_extension and rule.consent_extension.purpose == renewal.purpose)
        with _in(renewal.language):
            return _mail(_("Do you want to stay in our talent pool?"), "renewal", html_lang=renewal.language,
                         answer_by=renewal.answer_by, overview_url=f"{state.settings().base_url}/me",
                         purpose=register.purposes[renewal.purpose].description.in_language(renewal.language),
                         period=extension.period.describe(renewal.language))

    def erasure_summary(self, session: Session, request: RightsRequest, plan: ErasurePlan) -> str:
        with _in(language_of(session, request.email)):
            lines = [ngettext("We erased %(num)d data item.", "We erased %(num)d data items.", plan.erased)]
            if plan.kept:
                lines.append(_("We keep, because we must:"))
                lines += [f"- {labels.relation_name(k.relation)}, {labels.category_name(k.category)} ({k.count}): "
                          f"{labels.kept_reason(k)}" for k in plan.kept]
            else:
                lines.append(_("We keep nothing else about you under the relations concerned."))
        return "\n".join(lines)

    def download_note(self, session: Session, email: str, *, kind: str, fmt: str, at: dt.datetime,
                      digest: str | None) -> str:
        with _in(language_of(session, email)):  # the history is read in the person's language, like the mail
            return _("Answered by your download of %(what)s (%(format)s) on %(moment)s UTC. Manifest digest "
                     "(SHA-256): %(digest)s.", what=_("the copy of your data") if kind == "copy"
                     else _("your portable export"), format=fmt.upper(), moment=f"{at:%Y-%m-%d %H:%M}",
                     digest=digest)


def owner_tasks_mail(owner: str, groups: list[TaskGroup], language: str = "nl") -> MailContent:
    """To the owner of a manual system or recipient: their open tasks, once a day (services/tasks.remind_owners)."""
    with _in(language):
        count = sum(len(group.tasks) for group in groups)
        return _mail(ngettext("%(num)d task waits for you in the privacy portal",
                              "%(num)d tasks wait for you in the privacy portal", count),
                     "owner_tasks", html_lang=language, owner=owner, groups=groups, count=count,
                     tasks_url=f"{state.settings().base_url}/staff/tasks",
                     lines=[(group, [task_text(task) for task in group.tasks]) for group in groups])
