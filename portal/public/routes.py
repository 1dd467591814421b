"""Public pages: home, the statement, the language switch. Thin: the register is handed to templates."""

from __future__ import annotations

from pathlib import Path

from flask import Blueprint, abort, current_app, redirect, render_template, request, send_from_directory
from werkzeug.wrappers import Response

from portal import i18n
from portal.public.statement import readings, statement_view
from portal.redirects import safe_next

blueprint = Blueprint("public", __name__)
SCHEMAS = Path(__file__).resolve().parent.parent / "schemas"


@blueprint.get("/")
def home() -> str:
    return render_template("public/home.html", register=current_app.extensions["portal.register"])


@blueprint.get("/statement")
def statement() -> str:
    register = current_app.extensions["portal.register"]
    language = i18n.current_language()
    return render_template(
        "public/statement.html", register=register, view=statement_view(register, language),
        readings=readings(register, language),
    )


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
