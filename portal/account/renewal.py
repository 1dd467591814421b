"""The question an applicant gets when their talent-pool consent reaches its end: renew, or be erased."""

from __future__ import annotations

import datetime as dt

from flask import current_app, render_template
from flask_babel import force_locale
from flask_babel import gettext as _
from sqlalchemy.orm import Session

from portal.i18n import BABEL_LOCALES
from portal.services.outbox import queue_mail
from portal.services.signin import MailContent
from portal.services.sweep import RenewalDue


def compose_renewal_mail(renewal: RenewalDue) -> MailContent:
    register = current_app.extensions["portal.register"]
    settings = current_app.extensions["portal.settings"]
    purpose = register.purposes[renewal.purpose]
    with force_locale(BABEL_LOCALES[renewal.language]):
        context = {
            "register": register, "html_lang": renewal.language, "answer_by": renewal.answer_by,
            "purpose": purpose.description.in_language(renewal.language), "overview_url": f"{settings.base_url}/me",
            "period": next(rule.consent_extension.period.describe(renewal.language)
                           for rule in register.retention.values()
                           if rule.consent_extension and rule.consent_extension.purpose == renewal.purpose),
        }
        return MailContent(
            subject=_("Do you want to stay in our talent pool?"),
            text=render_template("mail/renewal.txt", **context),
            html=render_template("mail/renewal.html", **context),
        )


def ask_renewal(session: Session, renewal: RenewalDue, *, now: dt.datetime) -> None:
    """Queue the question in the sweep's transaction: it goes out once the batch is committed."""
    content = compose_renewal_mail(renewal)
    queue_mail(session, recipient=renewal.email, subject=content.subject, body_text=content.text,
               body_html=content.html, sender_domain=current_app.extensions["portal.settings"].mail_domain, now=now)
