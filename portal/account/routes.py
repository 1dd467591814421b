"""The signed-in person's pages. The full overview of their data is built on this page's place."""

from __future__ import annotations

from flask import Blueprint, current_app, render_template
from flask_login import current_user, login_required

from portal.auth.forms import ButtonForm
from portal.auth.session import fresh_confirmation_required
from portal.database import request_session
from portal.services import signin
from portal.services.outbox import utcnow
from portal.services.subjects import relations_of

blueprint = Blueprint("account", __name__, url_prefix="/me")


@blueprint.get("")
@login_required
def overview() -> str:
    relations = relations_of(request_session(), current_user.email)
    return render_template(
        "account/overview.html", relations=relations, register=current_app.extensions["portal.register"],
        form=ButtonForm(),
    )


@blueprint.get("/sessions")
@fresh_confirmation_required
def sessions() -> str:
    """Where and since when this address is signed in: shown only after a fresh proof of control."""
    live = signin.live_sessions(request_session(), current_user.email, now=utcnow())
    return render_template("account/sessions.html", sessions=live, form=ButtonForm())
