"""Forms of the back office: one form per decision, with the reasons the law requires."""

from __future__ import annotations

from decimal import Decimal

from flask_babel import lazy_gettext as _l
from wtforms import DecimalField, EmailField, RadioField, SelectChoice, TextAreaField
from wtforms.validators import DataRequired, Length, NumberRange, Optional, StopValidation

from portal.forms import PortalForm
from portal.services.decisions import FEE_MAX_CENTS
from portal.services.requests import DETAILS_MAX

_TOO_LONG = _l("Please keep it under %(max)d characters.")


class NoteForm(PortalForm):
    """Start (no text), complete (an optional message): anything with an optional note."""

    note = TextAreaField(_l("Message to the person (optional)"),
                         validators=[Optional(), Length(max=DETAILS_MAX, message=_TOO_LONG)], render_kw={"rows": 4})


class ReasonsForm(PortalForm):
    """Ask, extend: the person must be told why."""

    note = TextAreaField(_l("Reasons, as the person will read them"),
                         validators=[DataRequired(message=_l("Write the reasons: the person is told them.")),
                                     Length(max=DETAILS_MAX, message=_TOO_LONG)], render_kw={"rows": 4})


class RefuseForm(ReasonsForm):
    ground = RadioField(_l("Ground"), choices=[
        SelectChoice("manifestly_unfounded", _l("Manifestly unfounded")),
        SelectChoice("excessive", _l("Excessive, in particular repetitive")),
    ], validators=[DataRequired(message=_l("Choose the ground of the refusal."))])


def _finite(_form: PortalForm, field: DecimalField) -> None:
    """NaN and infinity are numbers to Python, not amounts: refused before any comparison (sNaN raises)."""
    if field.data is not None and not Decimal(field.data).is_finite():
        raise StopValidation(str(_l("Enter the fee in euro, for example 25.00.")))


class FeeForm(ReasonsForm):
    amount = DecimalField(_l("Fee in euro"), places=2, validators=[
        DataRequired(message=_l("Enter the fee in euro, for example 25.00.")),
        _finite,
        NumberRange(min=Decimal("0.01"), max=Decimal(FEE_MAX_CENTS) / 100,
                    message=_l("A reasonable fee is between %(min)s and %(max)s euro.")),
    ])


class PersonForm(PortalForm):
    email = EmailField(_l("E-mail address"), validators=[DataRequired(), Length(max=254)])
