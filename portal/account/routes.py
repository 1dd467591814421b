"""The signed-in person's own pages: their overview, one category in full, their sessions.

Every query is scoped to the signed-in address inside the services; an id in a URL that is not the
person's answers 404, exactly like an id that does not exist.
"""

from __future__ import annotations

import datetime as dt

from flask import Blueprint, abort, current_app, render_template, request
from flask_login import current_user, login_required
from flask_wtf.csrf import generate_csrf
from markupsafe import Markup
from sqlalchemy import update

from portal import trail
from portal.account import wording
from portal.account.page_cache import CSRF_FIELD, KEY_FIELD, PageCache, fill_forms
from portal.account.timeline import Span, build_timeline
from portal.auth.forms import ButtonForm
from portal.auth.session import fresh_confirmation_required
from portal.database import request_session
from portal.i18n import current_language, local_today, localise
from portal.models import AuthSession
from portal.rights.forms import new_key
from portal.services import revisions, signin
from portal.services.address import addresses_of
from portal.services.audit import entries_about
from portal.services.outbox import utcnow
from portal.services.overview import NotFound, build_overview, category_page
from portal.services.versions import unseen_changes

blueprint = Blueprint("account", __name__, url_prefix="/me")


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
    state = revisions.overview_state(db, current_user.session_id)
    changes = [] if state.seen_version == register.statement.version else \
        unseen_changes(db, current_user.email, register.statement, now=now)
    _note_view(state, now)
    today = local_today()

    def render_body() -> Markup:
        view = build_overview(db, current_user.email, register=register)
        timeline = build_timeline(
            [Span(localise(r.definition.name), r.started, r.ended, r.kept_until) for r in view.relations], today
        )
        return Markup(render_template(  # noqa: S704  # nosec B704  # an autoescaped template renders it
            "account/_overview_body.html", overview=view, register=register, timeline=timeline, today=today,
            wording=wording, csrf_field=CSRF_FIELD, key_field=KEY_FIELD, statement_changes=changes,
            company_entries=entries_about(db, addresses_of(db, current_user.email), by_company_only=True, limit=20),
        ))

    if changes or state.subject_id is None or state.generation is None:
        body = render_body()  # told once, or a page with nothing to keep: not worth a place in the cache
    else:
        key = (current_user.email, state.subject_id, state.revision, state.generation, current_language(), today,
               register.statement.version, id(register), request.script_root)
        body = _cache().get_or_render(key, render_body)
    token = generate_csrf()
    fields = {CSRF_FIELD: lambda: Markup('<input type="hidden" name="csrf_token" value="%s">') % token,
              KEY_FIELD: lambda: Markup('<input type="hidden" name="key" value="%s">') % new_key()}
    return render_template("account/overview.html", body=fill_forms(body, fields))


VIEW_NOTED_EVERY = dt.timedelta(minutes=15)


def _note_view(state: revisions.OverviewState, now: dt.datetime) -> None:
    """Write the view to the audit trail, at most once per session every `VIEW_NOTED_EVERY`.

    Every entry appends to one hash chain (a row lock): a reload must not queue behind everybody else's.
    That this session looked at its overview is what an auditor needs, not every reload.
    """
    if state.view_noted_at is not None and now - state.view_noted_at < VIEW_NOTED_EVERY:
        return
    request_session().execute(update(AuthSession).where(AuthSession.id == current_user.session_id)
                              .values(overview_noted_at=now))
    trail.note("overview_viewed", subject_email=current_user.email)


def _cache() -> PageCache:
    cache: PageCache = current_app.extensions.setdefault("portal.overview_cache", PageCache())
    return cache


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
