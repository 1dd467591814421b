"""Running the portal in production: health check, request log, HSTS, and a clear page when the database is down.

The request log is one JSON line per request with the route's pattern (`/sign-in/<token>`, never the
path itself, which may hold a token), the status and the duration: nothing personal, no query string,
no body. It is on in production and wherever `PORTAL_REQUEST_LOG=1`.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import re
import sys
import time

from flask import Blueprint, Flask, g, request
from flask_babel import gettext as _
from sqlalchemy import text
from sqlalchemy.exc import DataError, DBAPIError, OperationalError
from werkzeug.wrappers import Response

from portal import state
from portal.errors import render_error
from portal.extensions import login_manager

blueprint = Blueprint("operations", __name__)
HSTS = "max-age=31536000; includeSubDomains"
request_log = logging.getLogger("portal.requests")


@blueprint.get("/healthz")
def healthz() -> tuple[dict[str, str], int]:
    """200 only when the database answers: for load balancers and orchestrators."""
    try:
        with state.database().engine.connect() as connection:
            connection.execute(text("SELECT 1"))
    except DBAPIError:
        return {"status": "unavailable", "database": "down"}, 503
    return {"status": "ok", "database": "up"}, 200


class _JsonLines(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        return record.getMessage()


def _log_request(response: Response) -> Response:
    started = g.get("request_started")
    rule = request.url_rule.rule if request.url_rule is not None else None
    request_log.info(json.dumps({
        "time": dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
        "method": request.method, "route": rule or "(no route)", "endpoint": request.endpoint,
        "status": response.status_code,
        "duration_ms": round((time.perf_counter() - started) * 1000, 2) if started else None,
    }, separators=(",", ":")))
    return response


# C0 control characters other than tab, line feed and carriage return: no form has a use for them, and
# PostgreSQL refuses NUL outright. Refused at the door, with the same clear page on every database.
_CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def _refuse_control_characters() -> tuple[str, int] | None:
    for values in (request.args, request.form):
        for key, value in values.items(multi=True):
            # A return path is checked on its own (safe_next drops what is not one of our pages).
            if key != "next" and _CONTROL.search(value):
                return render_error(400, _("This text cannot be stored"),
                                    _("What you sent contains invisible control characters. Remove them (retype the "
                                      "text rather than pasting it) and try again."))
    return None


def init_app(app: Flask, *, log_requests: bool, hsts: bool) -> None:
    app.register_blueprint(blueprint)
    app.before_request(_refuse_control_characters)

    @app.errorhandler(DataError)
    def unstorable_value(error: DataError) -> tuple[str, int]:
        # A value the database refuses (not an outage): the person's input, answered as such.
        app.logger.warning("Value refused by the database: %s", type(error.orig).__name__ if error.orig else error)
        return render_error(400)

    @app.errorhandler(OperationalError)
    @app.errorhandler(DBAPIError)
    def database_unavailable(error: DBAPIError) -> tuple[str, int, dict[str, str]]:
        # Whatever the request was writing is rolled back with its session: nothing half-written stays.
        app.logger.error("Database unavailable: %s", type(error.orig).__name__ if error.orig else error)
        # The page must render without the database: no signed-in person or staff member to look up.
        g._login_user = login_manager.anonymous_user()
        g.staff_member = None
        page, status = render_error(503)
        return page, status, {"Retry-After": "60"}

    if hsts:
        @app.after_request
        def strict_transport(response: Response) -> Response:
            response.headers.setdefault("Strict-Transport-Security", HSTS)
            return response

    if log_requests:
        if not request_log.handlers:
            handler = logging.StreamHandler(sys.stderr)
            handler.setFormatter(_JsonLines())
            request_log.addHandler(handler)
            request_log.setLevel(logging.INFO)
            request_log.propagate = False

        def start_clock() -> None:
            g.request_started = time.perf_counter()

        # First of all, so that a request refused early (by the CSRF check) is timed too.
        app.before_request_funcs.setdefault(None, []).insert(0, start_clock)

        app.after_request(_log_request)
