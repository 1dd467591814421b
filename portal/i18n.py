"""Which language a page is shown in, and the pieces templates need for it.

Precedence, first match wins:
1. the person's explicit choice through the language switch (`/language/<code>`), kept in a cookie;
2. the browser's `Accept-Language` header, best match among the supported languages;
3. Dutch, the language of the statement itself.

The locale is computed per request (Flask-Babel caches it on the request context); there is no
module-level locale state. At start-up the portal checks that every supported language other than
the source language (English) has a compiled catalogue, because a missing `.mo` file silently turns
Dutch pages English.
"""

from __future__ import annotations

from pathlib import Path

from babel.lists import format_list as babel_format_list
from babel.support import NullTranslations, Translations
from flask import Flask, g, request
from flask_babel import (
    Babel,
    format_currency,
    format_date,
    format_datetime,
    format_decimal,
    get_locale,
    get_translations,
)

from portal.clock import COMPANY_TIMEZONE
from portal.policy.text import LANGUAGES, Text

SUPPORTED = LANGUAGES  # ("nl", "en")
DEFAULT = "nl"
SOURCE_LANGUAGE = "en"  # msgids are written in English
COOKIE = "portal_lang"
COOKIE_MAX_AGE = 365 * 24 * 3600
LANGUAGE_NAMES = {"nl": "Nederlands", "en": "English"}
# Dates, numbers and lists follow Belgian Dutch and British English ("20 June 2023", "I, II and III");
# gettext finds the "nl" catalogue for nl_BE by itself.
BABEL_LOCALES = {"nl": "nl_BE", "en": "en_GB"}
TRANSLATIONS = Path(__file__).resolve().parent.parent / "translations"


class MissingCatalogue(RuntimeError):
    """A supported language has no compiled catalogue (`pybabel compile -d translations` was not run)."""


def select_locale() -> str:
    """The language of this request, following the precedence in the module docstring."""
    chosen = request.cookies.get(COOKIE)
    if chosen not in SUPPORTED:
        chosen = request.accept_languages.best_match(SUPPORTED, default=DEFAULT) or DEFAULT
    return BABEL_LOCALES[chosen]


def current_language() -> str:
    locale = get_locale()
    return locale.language if locale is not None and locale.language in SUPPORTED else DEFAULT


def localise(text: Text) -> str:
    """A register text in the language of the current page."""
    return text.in_language(current_language())


def format_list(items: list[str] | tuple[str, ...]) -> str:
    """"I, II and III" / "I, II en III" in the language of the current page."""
    return babel_format_list(list(items), locale=BABEL_LOCALES[current_language()])


def check_catalogues(directory: Path = TRANSLATIONS) -> None:
    """Fail at start-up when a supported language would fall back to English unnoticed."""
    for language in SUPPORTED:
        if language == SOURCE_LANGUAGE:
            continue
        compiled = directory / language / "LC_MESSAGES" / "messages.mo"
        if not compiled.exists():
            raise MissingCatalogue(
                f"No compiled catalogue for '{language}' at {compiled}. Run `make translations` "
                "(pybabel compile -d translations) before starting the portal."
            )


def page_translations() -> Translations | NullTranslations:
    """The catalogue of the current locale, looked up once per request (and again inside `force_locale`).

    Flask-Babel's own lookup, made for every `_()` in a template, walks the request context five times
    and formats the locale's name (about 15 µs); a page translates a hundred strings.
    """
    locale = get_locale()
    found: tuple[object, Translations | NullTranslations] | None = g.get("portal_translations")
    if found is None or found[0] is not locale:  # a mail composed in another language forces another locale
        found = (locale, get_translations())
        g.portal_translations = found
    return found[1]


def init_app(app: Flask) -> None:
    check_catalogues()
    app.config.setdefault("BABEL_DEFAULT_LOCALE", DEFAULT)
    # Times are stored in UTC and shown as the people of a Belgian company read them.
    app.config.setdefault("BABEL_DEFAULT_TIMEZONE", COMPANY_TIMEZONE)
    app.config["BABEL_TRANSLATION_DIRECTORIES"] = str(TRANSLATIONS)
    Babel(app, locale_selector=select_locale)
    app.jinja_env.install_gettext_callables(  # type: ignore[attr-defined]
        gettext=lambda s: page_translations().ugettext(s),
        ngettext=lambda s, p, n: page_translations().ungettext(s, p, n),
        pgettext=lambda c, s: page_translations().upgettext(c, s),
        npgettext=lambda c, s, p, n: page_translations().unpgettext(c, s, p, n),
        newstyle=True,
    )
    app.jinja_env.filters["lang"] = localise
    app.jinja_env.globals.update(format_date=format_date, format_datetime=format_datetime, format_list=format_list,
                                  format_currency=format_currency, format_decimal=format_decimal)

    @app.context_processor
    def language_context() -> dict[str, object]:
        language = current_language()
        return {
            "html_lang": language,
            "html_dir": "ltr",
            "languages": [(code, LANGUAGE_NAMES[code]) for code in SUPPORTED],
            "current_language": language,
        }
