"""The signed-in person's own pages: their overview, one category in full, their sessions.

Every query is scoped to the signed-in address inside the services; an id in a URL that is not the
person's answers 404, exactly like an id that does not exist.
"""

from __future__ import annotations

from flask import Blueprint, abort, render_template, request
from flask_login import current_user, login_required

from portal import state
from portal.account import wording
from portal.account.timeline import Span, build_timeline
from portal.auth.forms import ButtonForm
from portal.auth.session import fresh_confirmation_required
from portal.clock import utcnow
from portal.database import request_session
from portal.i18n import localise
from portal.services import signin
from portal.services.address import addresses_query
from portal.services.audit import entries_about
from portal.services.overview import NotFound, build_overview, category_page, open_overview

blueprint = Blueprint("account", __name__, url_prefix="/me")
blueprint.add_app_template_filter(wording.short_date, "short_date")


@blueprint.get("")
@login_required
def overview() -> str:
    db, ctx, email = request_session(), state.context(), current_user.email
    view = build_overview(db, email, register=ctx.register)  # read first: one transaction, which the writes end
    changes = open_overview(db, ctx, email=email, session_id=current_user.session_id,
                            last_noted=current_user.overview_noted_at)
    timeline = build_timeline(
        [Span(localise(r.definition.name), r.started, r.ended, r.kept_until) for r in view.relations], ctx.today)
    return render_template(
        "account/overview.html", overview=view, register=ctx.register, timeline=timeline, today=ctx.today,
        wording=wording,
        statement_changes=changes,
        company_entries=entries_about(db, addresses_query(email), by_company_only=True, limit=20),
    )


@blueprint.get("/relations/<int:relation_id>/<category>")
@login_required
def category(relation_id: int, category: str) -> str:
    try:
        page = category_page(request_session(), current_user.email, relation_id, category,
                             request.args.get("page", 1, type=int) or 1,
                             register=state.register())
    except NotFound:
        abort(404)
    return render_template("account/category.html", page=page, register=state.register(), wording=wording)


@blueprint.get("/sessions")
@fresh_confirmation_required
def sessions() -> str:
    """Where and since when this address is signed in: shown only after a fresh proof of control."""
    live = signin.live_sessions(request_session(), current_user.email, now=utcnow())
    return render_template("account/sessions.html", sessions=live, form=ButtonForm())
