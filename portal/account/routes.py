"""The signed-in person's own pages: their overview, one category in full, their sessions.

Every query is scoped to the signed-in address inside the services; an id in a URL that is not the
person's answers 404, exactly like an id that does not exist.
"""

from __future__ import annotations

from flask import Blueprint, abort, current_app, render_template, request
from flask_login import current_user, login_required

from portal.account import wording
from portal.account.timeline import Span, build_timeline
from portal.auth.forms import ButtonForm
from portal.auth.session import fresh_confirmation_required
from portal.database import request_session
from portal.i18n import local_today, localise
from portal.services import signin
from portal.services.address import addresses_of
from portal.services.audit import entries_about
from portal.services.outbox import utcnow
from portal.services.overview import NotFound, build_overview, category_page, note_overview_viewed
from portal.services.versions import unseen_changes

blueprint = Blueprint("account", __name__, url_prefix="/me")
blueprint.add_app_template_filter(wording.short_date, "short_date")


@blueprint.app_template_filter("category_name")
def category_name(category_id: str) -> str:
    """A register category id as its name in the page's language."""
    return localise(current_app.extensions["portal.register"].categories[category_id].name)


@blueprint.get("")
@login_required
def overview() -> str:
    register = current_app.extensions["portal.register"]
    db = request_session()
    now = utcnow()
    email = current_user.email
    changes = unseen_changes(db, email, register.statement, now=now)
    note_overview_viewed(db, session_id=current_user.session_id, email=email, last_noted=current_user.overview_noted_at,
                         now=now)
    today = local_today()
    view = build_overview(db, email, register=register)
    timeline = build_timeline(
        [Span(localise(r.definition.name), r.started, r.ended, r.kept_until) for r in view.relations], today)
    return render_template(
        "account/overview.html", overview=view, register=register, timeline=timeline, today=today, wording=wording,
        statement_changes=changes,
        company_entries=entries_about(db, addresses_of(db, email), by_company_only=True, limit=20),
    )


@blueprint.get("/relations/<int:relation_id>/<category>")
@login_required
def category(relation_id: int, category: str) -> str:
    try:
        page = category_page(request_session(), current_user.email, relation_id, category,
                             request.args.get("page", 1, type=int) or 1,
                             register=current_app.extensions["portal.register"])
    except NotFound:
        abort(404)
    return render_template("account/category.html", page=page, register=current_app.extensions["portal.register"])


@blueprint.get("/sessions")
@fresh_confirmation_required
def sessions() -> str:
    """Where and since when this address is signed in: shown only after a fresh proof of control."""
    live = signin.live_sessions(request_session(), current_user.email, now=utcnow())
    return render_template("account/sessions.html", sessions=live, form=ButtonForm())
