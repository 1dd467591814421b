"""The mail a person gets at every step of their request, in their language."""

from __future__ import annotations

from flask import current_app, render_template
from flask_babel import force_locale
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import select

from portal.database import request_session
from portal.i18n import BABEL_LOCALES, localise
from portal.models import Relation, RequestEvent, RightsRequest, Subject
from portal.services.signin import MailContent


def right_label(right: str) -> str:
    """The name of a right or of an action taken at once, in the current language."""
    register = current_app.extensions["portal.register"]
    if right in register.rights:
        return localise(register.rights[right].name)
    return {
        "consent_given": _("Consent given"),
        "consent_renewed": _("Consent renewed"),
        "direct_marketing_objection_lifted": _("Objection to direct marketing lifted"),
    }.get(right, right)


def scope_label(scope: str | None) -> str:
    """What a request is about, in words: a purpose, a relation, all data, or the marketing purposes."""
    register = current_app.extensions["portal.register"]
    if not scope:
        return ""
    kind, _sep, value = scope.partition(":")
    if kind == "purpose" and value in register.purposes:
        purpose = register.purposes[value]
        return (f"{localise(register.relations[purpose.relation].name)} {purpose.numeral}: "
                f"{localise(purpose.description)}")
    if kind == "purposes":
        return _("every direct-marketing purpose")
    if kind == "relation":
        relation = request_session().get(Relation, int(value)) if value.isdigit() else None
        return (_("Only my data as: %(relation)s", relation=localise(register.relations[relation.kind].name))
                if relation is not None else "")
    if kind == "all":
        return _("All data you hold about me")
    return ""


STATUS_LABELS = {
    "received": _l("received"), "in_progress": _l("in progress"), "extended": _l("extended"),
    "waiting": _l("waiting for you"), "completed": _l("completed"), "refused": _l("refused"),
}


def status_label(status: str) -> str:
    label = STATUS_LABELS.get(status)
    return str(label) if label is not None else status  # translates only the one label asked for


def compose_request_mail(request: RightsRequest, event: RequestEvent) -> MailContent:
    language = request_session().scalar(select(Subject.language).where(Subject.email == request.email)) or "nl"
    register = current_app.extensions["portal.register"]
    settings = current_app.extensions["portal.settings"]
    with force_locale(BABEL_LOCALES[language]):
        context = {"request": request, "event": event, "register": register, "html_lang": language,
                   "status_url": f"{settings.base_url}/me/requests", "right": right_label(request.right),
                   "about": scope_label(request.scope)}
        return MailContent(
            subject=_("Your request: %(right)s", right=context["right"]),
            text=render_template("mail/request.txt", **context),
            html=render_template("mail/request.html", **context),
        )
