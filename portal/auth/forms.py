"""Forms of the sign-in flow: what a person types, with limits and clear messages."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from wtforms import HiddenField, StringField
from wtforms.validators import DataRequired, Length, Regexp

from portal.forms import PortalForm


class EmailForm(PortalForm):
    email = StringField(
        _l("E-mail address"),
        validators=[DataRequired(message=_l("Enter your e-mail address.")),
                    Length(max=254, message=_l("An e-mail address has at most 254 characters."))],
        render_kw={"autocomplete": "email", "inputmode": "email", "spellcheck": "false"},
    )
    next = HiddenField()


class NewAddressForm(PortalForm):
    email = StringField(
        _l("Your new e-mail address"),
        validators=[DataRequired(message=_l("Enter your new e-mail address.")),
                    Length(max=254, message=_l("An e-mail address has at most 254 characters."))],
        render_kw={"autocomplete": "email", "inputmode": "email", "spellcheck": "false"},
    )


class CodeForm(PortalForm):
    code = StringField(
        _l("Code from the mail"),
        validators=[DataRequired(message=_l("Enter the code from the mail.")),
                    Regexp(r"^\s*[0-9](\s*[0-9]){5}\s*\Z", message=_l("The code has 6 digits."))],
        render_kw={"autocomplete": "one-time-code", "inputmode": "numeric", "spellcheck": "false"},
    )


class ButtonForm(PortalForm):
    """A form with nothing but its CSRF token: sign in, sign out, confirm."""

    next = HiddenField()
