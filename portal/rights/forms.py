"""Forms for exercising rights: limits on what a person types, and a key that makes resubmission harmless."""

from __future__ import annotations

import secrets

from flask_babel import lazy_gettext as _l
from wtforms import HiddenField, SelectField, TextAreaField
from wtforms.validators import DataRequired, Length, Optional, Regexp

from portal.forms import PortalForm
from portal.services.requests import DETAILS_MAX


def new_key() -> str:
    return secrets.token_hex(16)


class ActionForm(PortalForm):
    """A confirmation button that carries its idempotency key: a double click makes one action."""

    key = HiddenField(validators=[Regexp(r"^[0-9a-f]{32}\Z")])


class RequestForm(ActionForm):
    scope = SelectField(_l("What it is about"), validators=[Optional()], validate_choice=True)
    details = TextAreaField(
        _l("Anything you want to add (optional)"),
        validators=[Optional(), Length(max=DETAILS_MAX, message=_l("Please keep it under %(max)d characters."))],
        render_kw={"rows": 5},
    )


class AnswerForm(PortalForm):
    answer = TextAreaField(
        _l("Your answer"),
        validators=[DataRequired(message=_l("Type your answer.")),
                    Length(max=DETAILS_MAX, message=_l("Please keep it under %(max)d characters."))],
        render_kw={"rows": 4},
    )
