"""The base of every form of the portal."""

from __future__ import annotations

from typing import Any

from flask_wtf import FlaskForm
from wtforms.meta import DefaultMeta

from portal.i18n import current_language


class PortalForm(FlaskForm):  # type: ignore[misc]
    """A Flask-WTF form whose built-in WTForms messages come in the page's language, loaded once per worker.

    Flask-WTF reads WTForms' catalogue from disk for every request that builds a form (0.3 ms); WTForms'
    own meta keeps one catalogue per language.
    """

    class Meta:
        @property
        def locales(self) -> list[str]:
            return [current_language()]

        def get_translations(self, form: Any) -> Any:
            return DefaultMeta.get_translations(self, form)
