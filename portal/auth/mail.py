"""The sign-in and confirmation mails, in the person's language, as plain text and HTML."""

from __future__ import annotations

from flask import current_app, render_template
from flask_babel import force_locale
from flask_babel import gettext as _

from portal.i18n import BABEL_LOCALES
from portal.models import AddressChange
from portal.services.signin import LINK_LIFETIME, IssuedLink, MailContent
from portal.services.tokens import CODE_MARK, LINK_MARK


def compose_link_mail(issued: IssuedLink) -> MailContent:
    settings = current_app.extensions["portal.settings"]
    # Placeholders: the sender fills in the link and the code, so the outbox never stores them.
    prefix = "/staff/sign-in" if issued.purpose == "staff_sign_in" else "/sign-in"
    link = f"{settings.base_url}{prefix}/{LINK_MARK}"
    context = {
        "link": link, "code": CODE_MARK, "purpose": issued.purpose,
        "minutes": int(LINK_LIFETIME.total_seconds() // 60), "register": current_app.extensions["portal.register"],
        "html_lang": issued.language,
    }
    with force_locale(BABEL_LOCALES[issued.language]):
        subject = {
            "sign_in": _("Your sign-in link for the privacy portal"),
            "staff_sign_in": _("Your sign-in link for the privacy portal's back office"),
            "change_email": _("Confirm your new address for the privacy portal"),
        }.get(issued.purpose, _("Confirm it is you: your link for the privacy portal"))
        return MailContent(
            subject=subject,
            text=render_template("mail/link.txt", **context),
            html=render_template("mail/link.html", **context),
        )


def compose_address_changed_mail(change: AddressChange, *, undo_link: str, language: str) -> MailContent:
    """To the OLD address: the change was made, and how to undo it if it was not them."""
    context = {"change": change, "undo_link": undo_link, "register": current_app.extensions["portal.register"],
               "html_lang": language}
    with force_locale(BABEL_LOCALES[language]):
        return MailContent(
            subject=_("The address of your privacy portal account was changed"),
            text=render_template("mail/address_changed.txt", **context),
            html=render_template("mail/address_changed.html", **context),
        )
