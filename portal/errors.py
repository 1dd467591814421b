"""Localised error pages: every failure a person can meet gets a page in their language, never a trace."""

from __future__ import annotations

import datetime as dt
import math

from flask import Flask, render_template
from flask_babel import format_timedelta
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import HTTPException, InternalServerError

# Titles and explanations per status; anything else falls back to the generic 500 wording.
MESSAGES = {
    400: (_l("This request could not be understood"),
          _l("Something in the request was missing or malformed. Go back, reload the page and try again.")),
    403: (_l("You may not open this page"),
          _l("This page is not available to you. If you think it should be, sign in again or contact us.")),
    404: (_l("Page not found"),
          _l("There is no page at this address. Check the address, or start again from the home page.")),
    405: (_l("This action is not possible here"),
          _l("The page cannot handle this kind of request. Start again from the home page.")),
    413: (_l("Too much data"),
          _l("What you sent is larger than we accept. Shorten it and try again.")),
    429: (_l("Too many attempts"),
          _l("You have tried this too often in a short time. Wait a while and try again.")),
    503: (_l("The portal is briefly unavailable"),
          _l("We cannot reach our database right now. Nothing you sent was saved half-way; please try again in "
             "a few minutes.")),
    500: (_l("Something went wrong on our side"),
          _l("We could not complete your request. Nothing you entered was lost on our side; "
             "please try again in a moment. If it keeps happening, write to us.")),
}
CSRF_MESSAGE = (_l("This form has expired"),
                _l("For your security, forms are only valid for a while and only in the browser that opened "
                   "them. Go back, reload the page and submit the form again."))


def render_error(status: int, title: object = None, message: object = None) -> tuple[str, int]:
    default_title, default_message = MESSAGES.get(status, MESSAGES[500])
    return render_template(
        "errors/error.html", status=status, title=title or default_title, message=message or default_message
    ), status


def too_many_attempts(retry_at: dt.datetime) -> tuple[str, int, dict[str, str]]:
    """The 429 page for a limit that frees up at `retry_at` (naive UTC): says when to try again."""
    now = dt.datetime.now(dt.UTC).replace(tzinfo=None)
    wait = max(retry_at - now, dt.timedelta(seconds=1))
    page, status = render_error(
        429, message=_("You have tried this too often in a short time. For your security, no mail was sent. "
                       "You can try again %(when)s.", when=format_timedelta(wait, add_direction=True)),
    )
    return page, status, {"Retry-After": str(math.ceil(wait.total_seconds()))}


def init_app(app: Flask) -> None:
    @app.errorhandler(CSRFError)
    def csrf_error(_error: CSRFError) -> tuple[str, int]:
        return render_error(400, *CSRF_MESSAGE)

    @app.errorhandler(HTTPException)
    def http_error(error: HTTPException) -> tuple[str, int]:
        status = error.code or 500
        return render_error(status if status in MESSAGES else 500)

    @app.errorhandler(Exception)
    def unexpected_error(error: Exception) -> tuple[str, int]:
        # Logged with its trace for us; the person only sees the localised page.
        app.logger.exception("Unhandled error", exc_info=error)
        return render_error(InternalServerError.code)
