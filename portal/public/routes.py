"""Public pages: home, the statement, the language switch. Thin: the register is handed to templates."""

from __future__ import annotations

from pathlib import Path

from flask import Blueprint, abort, current_app, redirect, render_template, request, send_from_directory, url_for
from werkzeug.wrappers import Response

from portal import i18n, state
from portal.policy.register import Register, archived_register
from portal.public.statement import readings, statement_view
from portal.redirects import safe_next

blueprint = Blueprint("public", __name__)
SCHEMAS = Path(__file__).resolve().parent.parent / "schemas"


@blueprint.get("/")
def home() -> str:
    return render_template("public/home.html", register=state.register())


def _statement_page(register: Register, *, archived: bool) -> str:
    current = state.register().statement
    language = i18n.current_language()
    return render_template(
        "public/statement.html", register=register, view=statement_view(register, language),
        readings=readings(register, language), versions=current.history, current_version=current.version,
        archived=archived,
    )


@blueprint.get("/statement")
def statement() -> str:
    return _statement_page(state.register(), archived=False)


@blueprint.get("/statement/versions/<version>")
def statement_version(version: str) -> str | Response:
    """An earlier version of the statement as the portal applied it then; the one in force has one address.

    The redirect for the version in force is temporary (302): once a newer version is published, this
    address shows the archived version instead, so browsers and proxies must not remember it.
    """
    if version == state.register().statement.version:
        return redirect(url_for("public.statement"), code=302)
    register = archived_register(version)
    if register is None:
        abort(404)
    return _statement_page(register, archived=True)


@blueprint.get("/language/<code>")
def choose_language(code: str) -> Response:
    """Keep the chosen language in a cookie and go back to the page the person was on."""
    if code not in i18n.SUPPORTED:
        abort(404)
    response = redirect(safe_next(request.args.get("next")), code=303)
    response.set_cookie(
        i18n.COOKIE, code, max_age=i18n.COOKIE_MAX_AGE, httponly=True, samesite="Lax",
        secure=current_app.config["SESSION_COOKIE_SECURE"],
    )
    return response


@blueprint.get("/schemas/<any('portal-export-1.schema.json', 'portal-subjects-1.schema.json'):name>")
def schema(name: str) -> Response:
    """The JSON Schemas of the export and import formats, at addresses that stay the same."""
    return send_from_directory(SCHEMAS, name, mimetype="application/schema+json", max_age=3600)
