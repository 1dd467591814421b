"""Forms of the sign-in flow: what a person types, with limits and clear messages."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import HiddenField, StringField
from wtforms.validators import DataRequired, Length, Regexp


class EmailForm(FlaskForm):
    email = StringField(
        _l("E-mail address"),
        validators=[DataRequired(message=_l("Enter your e-mail address.")),
                    Length(max=254, message=_l("An e-mail address has at most 254 characters."))],
        render_kw={"autocomplete": "email", "inputmode": "email", "spellcheck": "false"},
    )
    next = HiddenField()


class NewAddressForm(FlaskForm):
    email = StringField(
        _l("Your new e-mail address"),
        validators=[DataRequired(message=_l("Enter your new e-mail address.")),
                    Length(max=254, message=_l("An e-mail address has at most 254 characters."))],
        render_kw={"autocomplete": "email", "inputmode": "email", "spellcheck": "false"},
    )


class CodeForm(FlaskForm):
    code = StringField(
        _l("Code from the mail"),
        validators=[DataRequired(message=_l("Enter the code from the mail.")),
                    Regexp(r"^\s*[0-9](\s*[0-9]){5}\s*\Z", message=_l("The code has 6 digits."))],
        render_kw={"autocomplete": "one-time-code", "inputmode": "numeric", "spellcheck": "false"},
    )


class ButtonForm(FlaskForm):
    """A form with nothing but its CSRF token: sign in, sign out, confirm."""

    next = HiddenField()
